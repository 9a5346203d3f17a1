"""Single routes of the service in-process, through FastAPI's TestClient: status, one inference route, the people
routes and the key checks, each without starting a server.

The real-server tests (test_service*.py) run `faceprint serve` over HTTP; these build the app with
`faceprint.service.app.create_app` and reach it by URL only, so they hold whichever module defines a route. The
TestClient runs the app's lifespan, which loads the real models in the background as a server does.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx2", reason="Starlette's TestClient needs httpx2 (pip install faceprint[dev])")

from fastapi.testclient import TestClient  # noqa: E402

import faceprint  # noqa: E402
from faceprint.service.app import create_app  # noqa: E402
from faceprint.service.config import ServiceConfig  # noqa: E402
from faceprint.service.errors import ERROR_CODES  # noqa: E402
from faceprint.detect import DEFAULT_DETECTOR  # noqa: E402
from faceprint.models import DEFAULT_MODEL  # noqa: E402
from faceprint.service.keys import KeyStore  # noqa: E402
from serve_helpers import link_fetched_weights  # noqa: E402


def _until_loaded(client: TestClient, timeout: float = 120.0) -> dict:
    """GET /ready until the lifespan has finished loading the models (or failed to): its last answer's body."""
    end = time.monotonic() + timeout
    while True:
        r = client.get("/ready")
        body = r.json()
        if r.status_code == 200 or "failed" in body.get("error", {}).get("message", "") or time.monotonic() > end:
            return body
        time.sleep(0.1)


def _error(r, code: str) -> str:  # type: ignore[no-untyped-def]
    """The message of an error answer, after checking its status and code against the service's table."""
    assert (r.status_code, r.json()["error"]["code"]) == (ERROR_CODES[code][0], code), r.text
    return r.json()["error"]["message"]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A private FACEPRINT_HOME for the module's apps (they start before the per-test private cache)."""
    path = tmp_path_factory.mktemp("inprocess-home")
    link_fetched_weights(path / "weights")  # the default detector's (YuNet), as `make weights` fetched it
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FACEPRINT_HOME", str(path))
        yield path


def _started(config: ServiceConfig) -> Iterator[TestClient]:
    with TestClient(create_app(config)) as client:
        _until_loaded(client)
        yield client


@pytest.fixture(scope="module")
def client(home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """An app over one empty gallery, no keys, the default pipeline."""
    yield from _started(ServiceConfig(gallery=tmp_path_factory.mktemp("inprocess") / "people.sqlite"))


@pytest.fixture(scope="module")
def photos(lfw_subset: Path) -> dict[str, list[Path]]:
    return {d.name: sorted(d.glob("*.jpg")) for d in sorted(lfw_subset.iterdir()) if d.is_dir()}


def _files(*paths: Path, field: str = "files") -> list[tuple[str, tuple[str, bytes, str]]]:
    return [(field, (p.name, p.read_bytes(), "image/jpeg")) for p in paths]


def test_health_and_ready(client: TestClient) -> None:
    r = client.get("/health")
    assert r.status_code == 200 and r.json() == {"status": "ok", "version": faceprint.__version__}
    r = client.get("/ready")
    assert r.status_code == 200
    assert r.json() == {"status": "ready", "model": DEFAULT_MODEL, "detector": DEFAULT_DETECTOR, "multi": False}
    _error(client.get("/v1/no-such-route"), "not_found")
    _error(client.delete("/health"), "method_not_allowed")


def test_not_ready_when_the_models_fail_to_load(home: Path, tmp_path: Path) -> None:
    """/health still answers; /ready and every model route say why, with Retry-After, and nothing is a 500."""
    for c in _started(ServiceConfig(gallery=tmp_path / "people.sqlite", model="no-such-model")):
        assert c.get("/health").status_code == 200
        r = c.get("/ready")
        msg = _error(r, "not_ready")
        assert msg.startswith("loading the models failed: ") and "no-such-model" in msg and r.headers["retry-after"] == "2"
        assert "no-such-model" in _error(c.get("/v1/models"), "not_ready")
        assert "no-such-model" in _error(c.get("/v1/people"), "not_ready")


def test_embed_route_gives_the_library_embeddings(client: TestClient, photos: dict[str, list[Path]],
                                                  face_analyzer: faceprint.FaceAnalyzer) -> None:
    photo = photos["Tony_Blair"][0]
    r = client.post("/v1/embed", files=_files(photo, field="file"))
    assert r.status_code == 200, r.text
    body = r.json()
    own = face_analyzer.get(photo)
    assert body["model"] == DEFAULT_MODEL and len(body["faces"]) == len(own) >= 1
    for got, want in zip(body["faces"], own):
        assert got["model"] == DEFAULT_MODEL and len(got["embedding"]) == 128
        np.testing.assert_allclose(got["embedding"], want.vector, atol=1e-6)
        np.testing.assert_allclose(got["box"], want.box, atol=0.01)
    largest = client.post("/v1/embed", files=_files(photo, field="file"), data={"largest": "true"}).json()
    assert largest["faces"] == body["faces"][:1]
    assert "x.jpg" in _error(client.post("/v1/embed", files=[("file", ("x.jpg", b"not an image", "image/jpeg"))]), "invalid_image")
    assert "'other'" in _error(client.post("/v1/embed", files=_files(photo, field="other")), "invalid_parameter")
    assert "file" in _error(client.post("/v1/embed", json={"largest": True}), "missing_field")
    assert "multipart" in _error(client.post("/v1/embed", data={"largest": "true"}), "unsupported_media_type")
    _error(client.post("/v1/embed", files=_files(photo, field="file"), data={"largest": "maybe"}), "invalid_parameter")


def test_people_routes(client: TestClient, photos: dict[str, list[Path]]) -> None:
    assert client.get("/v1/people").json()["people"] == []
    r = client.post("/v1/people/Tony/faces", files=_files(*photos["Tony_Blair"][1:3]))  # _0001: a second face for YuNet
    assert r.status_code == 200, r.text
    assert len(r.json()["enrolled"]) == 2
    listed = client.get("/v1/people").json()
    assert listed["people"] == [{"name": "Tony", "faces": 2, "models": [DEFAULT_MODEL]}] and listed["total"] == 1
    tony = client.get("/v1/people/Tony").json()
    assert tony["name"] == "Tony" and len(tony["faces"]) == 2
    assert all(f["image"] == f"/v1/faces/{f['id']}/image" and f["models"] == [DEFAULT_MODEL] for f in tony["faces"])
    assert client.get(tony["faces"][0]["image"]).content[:2] == b"\xff\xd8"  # the stored crop, as JPEG
    assert "Nobody" in _error(client.get("/v1/people/Nobody"), "unknown_person")
    _error(client.post("/v1/people/Tony/faces"), "missing_field")


def test_keys_are_checked_before_the_route(home: Path, tmp_path: Path, photos: dict[str, list[Path]]) -> None:
    """With a key in the server's key file: no key or an unknown one is 401, a read key on a write route 403; the
    key goes as a Bearer token or as X-API-Key; /health needs none."""
    config = ServiceConfig(gallery=tmp_path / "people.sqlite")
    store = KeyStore(config.keys_file)
    read, _ = store.create("read", label="in-process test")
    store.close()
    for c in _started(config):
        assert c.get("/health").status_code == 200
        assert "API key" in _error(c.get("/v1/people"), "unauthorized")
        assert "unknown or revoked" in _error(c.get("/v1/people", headers={"Authorization": "Bearer fp_wrong"}), "unauthorized")
        assert c.get("/v1/people", headers={"Authorization": f"Bearer {read}"}).json()["people"] == []
        assert c.get("/v1/people", headers={"X-API-Key": read}).json()["people"] == []
        msg = _error(c.post("/v1/people/Tony/faces", files=_files(photos["Tony_Blair"][0]), headers={"X-API-Key": read}), "forbidden")
        assert "'read'" in msg and "'write'" in msg
        assert c.get("/v1/people", headers={"X-API-Key": read}).json()["people"] == []  # nothing was enrolled
