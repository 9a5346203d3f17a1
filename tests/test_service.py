"""`faceprint serve` over real HTTP: a uvicorn server started on an ephemeral 127.0.0.1 port, every route and
every error code of a server of one gallery (keys, several galleries and rate limits: test_service_keys.py)."""

from __future__ import annotations

import base64
import http.client
import io
import json
import threading
import urllib.parse
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from faceprint.detect import DEFAULT_DETECTOR  # noqa: E402
from faceprint.models import DEFAULT_MODEL  # noqa: E402
import faceprint  # noqa: E402
from faceprint.client import ApiError, Client  # noqa: E402
from faceprint.service.errors import ERROR_CODES  # noqa: E402
from serve_helpers import Server, faceless_jpeg  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def photos(lfw_subset: Path) -> dict[str, list[Path]]:
    return {d.name: sorted(d.glob("*.jpg")) for d in sorted(lfw_subset.iterdir()) if d.is_dir()}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("serve")
    s = Server("--gallery", str(tmp / "people.sqlite"), "--max-body-mb", "1", "--max-pixels", "1000000",
               "--max-files", "3", "--workers", "1", "--queue", "0", "--lock-wait", "0.5", home=tmp / "home")
    s.gallery_path = tmp / "people.sqlite"  # type: ignore[attr-defined]
    yield s
    s.stop()


@pytest.fixture(scope="module")
def client(server: Server) -> Client:
    return server.client()


def _raw(server: Server, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None,
         chunks: list[bytes] | None = None) -> tuple[int, dict[str, str], dict]:
    """One request with http.client (to send what the client would not: bad JSON, odd types, chunked bodies)."""
    u = urllib.parse.urlparse(server.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    if chunks is not None:
        conn.request(method, path, body=iter(chunks), headers=headers or {}, encode_chunked=True)
    else:
        conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, dict(resp.getheaders()), json.loads(data) if data else {}


def _err(exc: pytest.ExceptionInfo[ApiError]) -> tuple[int, str]:
    assert ERROR_CODES[exc.value.code][0] == exc.value.status
    return exc.value.status, exc.value.code


def _json_post(server: Server, path: str, obj: object) -> tuple[int, dict[str, str], dict]:
    return _raw(server, "POST", path, json.dumps(obj).encode(), {"Content-Type": "application/json"})


def test_health_ready_models_and_docs(server: Server, client: Client) -> None:
    assert client.health()["status"] == "ok"
    ready = client.ready()
    assert ready["status"] == "ready" and ready["model"] == DEFAULT_MODEL and ready["detector"] == DEFAULT_DETECTOR
    m = client.models()
    assert m["model"] == DEFAULT_MODEL and m["dim"] == 128 and DEFAULT_MODEL in m["available"]
    assert m["threshold"] == faceprint.analyzers.get().embedder.spec.threshold
    u = urllib.parse.urlparse(server.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.request("GET", "/docs")
    docs = conn.getresponse()
    assert docs.status == 200 and "openapi.json" in docs.read().decode()
    conn.close()
    paths = client.request("GET", "/openapi.json")["paths"]
    for route in ("/v1/detect", "/v1/embed", "/v1/verify", "/v1/identify", "/v1/people/{name}/faces", "/v1/faces/{face_id}/image"):
        assert route in paths


def test_detect_multipart_and_json_agree(server: Server, client: Client, photos: dict[str, list[Path]]) -> None:
    photo = photos["Tony_Blair"][0]
    multipart = client.detect(photo)["faces"]
    st, _, body = _json_post(server, "/v1/detect", {"image": base64.b64encode(photo.read_bytes()).decode()})
    assert st == 200 and body["faces"] == multipart
    local = faceprint.detect(photo)
    assert len(multipart) == len(local) >= 1
    assert np.allclose(multipart[0]["box"], local[0].box, atol=0.01)
    assert set(multipart[0]["landmarks"]) == {"left_eye", "right_eye", "nose", "mouth_left", "mouth_right"}
    data_url = "data:image/jpeg;base64," + base64.b64encode(photo.read_bytes()).decode()
    st, _, body = _json_post(server, "/v1/detect", {"image": data_url, "largest": True})
    assert st == 200 and body["faces"] == multipart[:1]


def test_embed_matches_the_library(client: Client, photos: dict[str, list[Path]]) -> None:
    photo = photos["Colin_Powell"][1]
    got = client.embed(photo)
    local = faceprint.embed(photo)
    assert got["model"] == DEFAULT_MODEL and len(got["faces"]) == len(local)
    assert np.allclose(got["faces"][0]["embedding"], local[0].vector, atol=1e-5)
    assert got["faces"][0]["model"] == DEFAULT_MODEL


def test_verify(tmp_path: Path, client: Client, photos: dict[str, list[Path]]) -> None:
    a, b = photos["Tony_Blair"][:2]
    same = client.verify(a, b)
    local = faceprint.verify(a, b)
    assert same["same"] is local.same and abs(same["distance"] - local.distance) < 1e-5
    assert same["threshold"] == local.threshold and same["model"] == DEFAULT_MODEL
    other = client.verify(a, photos["Colin_Powell"][1])
    assert other["same"] is False and other["distance"] > other["threshold"]
    strict = client.verify(a, b, threshold=0.0)
    assert strict["same"] is False and strict["threshold"] == 0.0
    with pytest.raises(ApiError) as exc:
        client.verify(a, faceless_jpeg(tmp_path / "wall.jpg"))
    assert _err(exc) == (400, "no_face") and "wall.jpg" in exc.value.message


def test_gallery_lifecycle(server: Server, client: Client, photos: dict[str, list[Path]]) -> None:
    # Tony_Blair_0001 also shows a cut-off face at its left edge, which YuNet (the default detector) finds, so
    # enrolment skips that photo as "several faces": these steps use photos of one face
    blair, powell = photos["Tony_Blair"][1:], photos["Colin_Powell"]
    # nobody enrolled: faces are found and all UNKNOWN
    empty = client.identify(blair[3])["faces"]
    assert empty and all(f["unknown"] and f["person"] is None and f["closest"] is None for f in empty)

    rep = client.enroll("Tony Blair", blair[:2] + [blair[0]])
    rep = {"enrolled": rep["enrolled"] + client.enroll("Tony Blair", blair[2:3])["enrolled"], "skipped": rep["skipped"]}
    assert len(rep["enrolled"]) + len(rep["skipped"]) == 4
    assert {"source": "upload:" + blair[0].name + "#2", "reason": "already enrolled", "detail": "as Tony Blair"} in rep["skipped"]
    assert len(rep["enrolled"]) >= 2
    rep2 = client.enroll("Colin Powell", powell[:3], largest=True)
    assert len(rep2["enrolled"]) == 3

    names = {p["name"]: p["faces"] for p in client.people()}
    assert names == {"Tony Blair": len(rep["enrolled"]), "Colin Powell": 3}
    detail = client.person("Tony Blair")
    assert [f["id"] for f in detail["faces"]] == [e["id"] for e in rep["enrolled"]]
    crop = client.face_image(detail["faces"][0]["id"])
    from PIL import Image

    im = Image.open(io.BytesIO(crop))
    assert im.format == "JPEG" and max(im.size) <= 256

    # the same open-set verdicts, distances and confidences as the library on the same gallery file
    for probe in (blair[5], powell[6], photos["Hugo_Chavez"][0]):
        got = client.identify(probe, top_k=2)["faces"]
        with faceprint.Gallery(server.gallery_path) as g:  # type: ignore[attr-defined]
            want = g.identify(probe, top_k=2)
        assert len(got) == len(want)
        for gf, wf in zip(got, want):
            assert gf["person"] == wf.person and gf["unknown"] is wf.unknown and gf["closest"] == wf.closest
            assert abs(gf["distance"] - wf.distance) < 1e-3 and abs(gf["confidence"] - wf.confidence) < 1e-3
            assert [c["person"] for c in gf["candidates"]] == [c.person for c in wf.candidates]
    assert client.identify(blair[5])["faces"][0]["person"] == "Tony Blair"
    chavez = client.identify(photos["Hugo_Chavez"][0], threshold=0.3)["faces"][0]
    assert chavez["person"] is None and chavez["unknown"] is True and chavez["closest"] in ("Tony Blair", "Colin Powell")
    assert client.identify(blair[5], threshold=0.0)["faces"][0]["unknown"] is True
    # the share of strangers the caller accepts sets the threshold, and the answer says what it means
    strict, loose = client.identify(blair[5]), client.identify(blair[5], far=0.3)
    with faceprint.Gallery(server.gallery_path) as g:  # type: ignore[attr-defined]
        want = g.operating_point(far=0.3)
    assert strict["expected_stranger_rate"] == pytest.approx(0.01, rel=1e-3) and strict["threshold_applies_to"] == "distance"
    assert loose["threshold"] == pytest.approx(want.threshold) and loose["threshold"] > strict["threshold"]
    assert loose["expected_stranger_rate"] == pytest.approx(0.3, rel=1e-3)
    for bad in (0, 1, 1.5):
        with pytest.raises(ApiError) as exc:
            client.identify(blair[5], far=bad)
        assert _err(exc) == (422, "invalid_parameter")

    assert client.rename("Tony Blair", "Blair") == {"name": "Blair", "previous": "Tony Blair"}
    with pytest.raises(ApiError) as exc:
        client.rename("Blair", "Colin Powell")
    assert _err(exc) == (409, "conflict")
    assert client.identify(blair[5])["faces"][0]["person"] == "Blair"

    first = detail["faces"][0]["id"]
    assert client.remove_face(first) == {"removed": first, "faces": 1}
    for call in (lambda: client.remove_face(first), lambda: client.face_image(first)):
        with pytest.raises(ApiError) as exc:
            call()
        assert _err(exc) == (404, "unknown_face")
    assert client.remove("Blair")["faces"] == len(rep["enrolled"]) - 1
    for call in (lambda: client.person("Blair"), lambda: client.remove("Blair"), lambda: client.rename("Blair", "X"),
                 lambda: client.person("nobody")):
        with pytest.raises(ApiError) as exc:
            call()
        assert _err(exc) == (404, "unknown_person")
    assert [p["name"] for p in client.people()] == ["Colin Powell"]


def test_enrol_reports_every_skip_reason(tmp_path: Path, client: Client, photos: dict[str, list[Path]]) -> None:
    junk = tmp_path / "notes.jpg"
    junk.write_bytes(b"this is not an image")
    rep = client.enroll("Ariel", [photos["Ariel_Sharon"][0], faceless_jpeg(tmp_path / "wall.jpg"), junk])
    reasons = {s["source"]: s["reason"] for s in rep["skipped"]}
    assert len(rep["enrolled"]) == 1
    assert reasons == {"upload:wall.jpg": "no face", "upload:notes.jpg": "unreadable"}
    assert rep["enrolled"][0]["source"] == "upload:" + photos["Ariel_Sharon"][0].name
    group = photos["Vladimir_Putin"][0]  # two faces
    assert len(faceprint.detect(group)) == 2
    rep = client.enroll("Group", group)
    assert rep["enrolled"] == [] and rep["skipped"][0]["reason"] == "several faces"
    rep = client.enroll("Group", group, largest=True)
    assert len(rep["enrolled"]) == 1
    assert client.remove("Group")["faces"] == 1


def test_error_codes(tmp_path: Path, server: Server, client: Client, photos: dict[str, list[Path]]) -> None:
    photo = photos["Tony_Blair"][0]
    cases: list[tuple[tuple[int, str, dict], int, str]] = [
        (_raw(server, "POST", "/v1/detect", b"{not json", {"Content-Type": "application/json"}), 400, "bad_request"),
        (_json_post(server, "/v1/detect", {"image": "@@@not base64@@@"}), 400, "bad_request"),
        (_json_post(server, "/v1/detect", ["a list"]), 400, "bad_request"),
        (_json_post(server, "/v1/detect", {"image": base64.b64encode(b"GIF89a broken").decode()}), 400, "invalid_image"),
        (_raw(server, "GET", "/v1/nothing-here"), 404, "not_found"),
        (_raw(server, "GET", "/v1/detect"), 405, "method_not_allowed"),
        (_raw(server, "GET", "/v1/faces/abc/image"), 422, "invalid_parameter"),
        (_raw(server, "DELETE", "/v1/faces/99999999999999999999"), 422, "invalid_parameter"),
        (_raw(server, "GET", "/v1/faces/0/image"), 422, "invalid_parameter"),
        (_raw(server, "POST", "/v1/detect", b"hello", {"Content-Type": "text/plain"}), 415, "unsupported_media_type"),
        (_json_post(server, "/v1/detect", {}), 422, "missing_field"),
        (_json_post(server, "/v1/verify", {"image1": base64.b64encode(photo.read_bytes()).decode()}), 422, "missing_field"),
        (_json_post(server, "/v1/people/X/faces", {}), 422, "missing_field"),
        (_raw(server, "PATCH", "/v1/people/X", b"{}", {"Content-Type": "application/json"}), 422, "missing_field"),
    ]
    for (status, _headers, body), want_status, want_code in cases:
        assert (status, body["error"]["code"]) == (want_status, want_code), body
        assert set(body) == {"error"} and "Traceback" not in body["error"]["message"]
    with pytest.raises(ApiError) as exc:
        client.detect(b"\x89PNG\r\n\x1a\n truncated")
    assert _err(exc) == (400, "invalid_image")


def test_strict_parameters(server: Server, client: Client, photos: dict[str, list[Path]]) -> None:
    photo = photos["Tony_Blair"][0]
    b64 = base64.b64encode(photo.read_bytes()).decode()
    for value in ("yes", "False ", "no", "2", "t", "", "1", "0", "FALSE"):
        with pytest.raises(ApiError) as exc:
            client.request("POST", "/v1/detect", files=[("file", photo)], fields={"largest": value})
        assert _err(exc) == (422, "invalid_parameter") and "true or false" in exc.value.message
    for value in ("false", 1, 0, None, [True]):
        if value is None:
            continue
        st, _, body = _json_post(server, "/v1/detect", {"image": b64, "largest": value})
        assert (st, body["error"]["code"]) == (422, "invalid_parameter")
    for v in ("false", "true"):
        assert client.request("POST", "/v1/detect", files=[("file", photo)], fields={"largest": v})["faces"]
    for fields in ({"threshold": "abc"}, {"threshold": "-1"}, {"threshold": "nan"}, {"top_k": "0"}, {"top_k": "1.5"},
                   {"top_k": "100000"}):
        with pytest.raises(ApiError) as exc:
            client.request("POST", "/v1/identify", files=[("file", photo)], fields=fields)
        assert _err(exc) == (422, "invalid_parameter")
    st, _, body = _json_post(server, "/v1/verify", {"image1": b64, "image2": b64, "threshold": "0.5"})
    assert (st, body["error"]["code"]) == (422, "invalid_parameter")
    st, _, body = _json_post(server, "/v1/verify", {"image1": b64, "image2": b64, "threshold": 0.5})
    assert st == 200 and body["same"] is True and body["threshold"] == 0.5


def test_limits(tmp_path: Path, server: Server, client: Client, photos: dict[str, list[Path]]) -> None:
    # body above --max-body-mb 1: declared length, and chunked (no length)
    big = np.random.default_rng(0).integers(0, 256, 1_200_000, dtype=np.uint8).tobytes()
    with pytest.raises(ApiError) as exc:
        client.detect(big)
    assert _err(exc) == (413, "body_too_large")
    st, _, body = _raw(server, "POST", "/v1/detect", headers={"Content-Type": "application/json"},
                       chunks=[b'{"image": "'] + [b"A" * 65536] * 20 + [b'"}'])
    assert (st, body["error"]["code"]) == (413, "body_too_large")
    # pixels above --max-pixels 1000000, read from the header (a small file of many pixels)
    from PIL import Image

    wide = tmp_path / "wide.png"
    Image.new("RGB", (1200, 1000), (90, 90, 90)).save(wide)
    assert wide.stat().st_size < 100_000
    with pytest.raises(ApiError) as exc:
        client.detect(wide)
    assert _err(exc) == (413, "image_too_large")
    # files per request above --max-files 3, multipart and JSON
    four = photos["Arnold_Schwarzenegger"][:4]
    with pytest.raises(ApiError) as exc:
        client.request("POST", "/v1/people/Many/faces", files=[("files", p) for p in four])
    assert _err(exc) == (413, "too_many_files")
    st, _, body = _json_post(server, "/v1/people/Many/faces", {"images": [base64.b64encode(b"x").decode()] * 4})
    assert (st, body["error"]["code"]) == (413, "too_many_files")
    with pytest.raises(ApiError):
        client.person("Many")
    # the client sends any number of photos, or a folder, in requests within the server's limits
    assert client.limits()["max_files"] == 3
    folder = tmp_path / "many"
    folder.mkdir()
    for p in photos["Arnold_Schwarzenegger"][:7]:
        (folder / p.name).write_bytes(p.read_bytes())
    rep = client.enroll("Many", folder)
    assert len(rep["enrolled"]) + len(rep["skipped"]) == 7 and len(rep["enrolled"]) >= 4
    for s in rep["skipped"]:  # the hint names the HTTP parameter, not the CLI's --largest
        assert s["reason"] == "several faces" and "largest=true" in s["detail"] and "--largest" not in s["detail"]
    assert client.person("Many")["total"] == len(rep["enrolled"])
    client.remove("Many")


def test_full_queue_answers_503_busy(server: Server, photos: dict[str, list[Path]]) -> None:
    """--workers 1 --queue 0: while one request runs, the others are refused at once with Retry-After."""
    from PIL import Image

    buf = io.BytesIO()  # a large photo (within --max-pixels), so each request keeps the one thread busy a while
    Image.open(photos["Jacques_Chirac"][0]).resize((990, 990)).save(buf, format="JPEG")
    photo = buf.getvalue()
    results: list[object] = []

    def call() -> None:
        try:
            results.append(server.client().embed(photo)["model"])
        except ApiError as exc:
            results.append(exc)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    busy = [r for r in results if isinstance(r, ApiError)]
    assert busy and all(r.status == 503 and r.code == "busy" and r.headers.get("retry-after") == "1" for r in busy)
    assert DEFAULT_MODEL in results


def test_timeout_and_not_ready(tmp_path: Path) -> None:
    """A per-request time limit (503 timeout) and a server whose models failed to load (503 not_ready, /ready says why)."""
    from PIL import Image

    big = tmp_path / "big.jpg"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (1400, 1400, 3), dtype=np.uint8)).save(big, quality=80)
    slow = Server("--gallery", str(tmp_path / "t.sqlite"), "--timeout", "0.001")
    try:
        with pytest.raises(ApiError) as exc:
            slow.client().detect(big)
        assert _err(exc) == (503, "timeout")
        assert slow.client().health()["status"] == "ok"
    finally:
        slow.stop()
    # FaceNet's weights are not in this test's private model cache: loading fails, the server stays up and says so
    broken = Server("--gallery", str(tmp_path / "b.sqlite"), "--model", "facenet-inception-resnet-v1", ready=False)
    try:
        c = broken.client()
        assert c.health()["status"] == "ok"
        for call in (c.ready, c.models, lambda: c.detect(big)):
            for _ in range(100):
                with pytest.raises(ApiError) as exc:
                    call()
                if "failed" in exc.value.message:
                    break
                import time

                time.sleep(0.1)
            assert _err(exc) == (503, "not_ready") and exc.value.headers.get("retry-after")
            assert "failed" in exc.value.message
    finally:
        broken.stop()


def test_page_and_static_files(server: Server) -> None:
    for path, kind in (("/", "text/html"), ("/static/app.js", "javascript"), ("/static/style.css", "text/css")):
        u = urllib.parse.urlparse(server.url)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        conn.request("GET", path)
        resp = conn.getresponse()
        text = resp.read().decode()
        conn.close()
        assert resp.status == 200 and kind in resp.getheader("content-type", "")
        # nothing is fetched from other hosts: the page works offline
        assert "http://" not in text and "https://" not in text and "//cdn" not in text


def test_every_error_code_is_in_the_docs() -> None:
    readme = (Path(__file__).resolve().parents[1] / "docs" / "service.md").read_text()
    for code, (status, _) in ERROR_CODES.items():
        assert f"`{code}`" in readme and f"| {status} |" in readme, code


def test_face_images_of_cli_enrolments_and_upload_names(tmp_path: Path, server: Server, client: Client, photos: dict[str, list[Path]]) -> None:
    """Faces enrolled outside the service are cut from their source file; an upload's name is never a path."""
    photo = photos["Donald_Rumsfeld"][0]
    with faceprint.Gallery(server.gallery_path) as g:  # type: ignore[attr-defined]
        assert g.enroll("Rumsfeld", [photo]).added
    face = client.person("Rumsfeld")["faces"][0]
    assert face["source"] == str(photo)
    assert client.face_image(face["id"])[:2] == b"\xff\xd8"
    import shutil

    gone = shutil.copy(photos["Donald_Rumsfeld"][3], tmp_path / "gone.jpg")
    with faceprint.Gallery(server.gallery_path) as g:  # type: ignore[attr-defined]
        assert g.enroll("Rumsfeld", [gone]).added
    Path(gone).unlink()
    gone_id = next(f["id"] for f in client.person("Rumsfeld")["faces"] if f["source"] == str(gone))
    with pytest.raises(ApiError) as exc:
        client.face_image(gone_id)
    assert _err(exc) == (404, "no_image")
    rep = client.request("POST", "/v1/people/Rumsfeld/faces", files=[("files", photos["Donald_Rumsfeld"][1])],
                         headers={})
    assert rep["enrolled"][0]["source"] == "upload:" + photos["Donald_Rumsfeld"][1].name
    from faceprint.client import _multipart

    body, ctype = _multipart([("files", photos["Donald_Rumsfeld"][2].read_bytes())], {})
    body = body.replace(b'filename="files0"', b'filename="../../../etc/passwd.jpg"')
    st, _, out = _raw(server, "POST", "/v1/people/Rumsfeld/faces", body, {"Content-Type": ctype})
    assert st == 200 and out["enrolled"][0]["source"] == "upload:passwd.jpg"


def test_reads_go_on_during_writes_and_a_locked_gallery_answers_503(server: Server, photos: dict[str, list[Path]]) -> None:
    import sqlite3
    import time

    c = server.client()
    done = threading.Event()
    enrolled: list[dict] = []

    def write() -> None:
        enrolled.append(c.enroll("Schroeder", photos["Gerhard_Schroeder"][:3]))
        done.set()

    t = threading.Thread(target=write)
    t.start()
    answered_during = 0
    while not done.is_set():
        c.people()
        answered_during += not done.is_set()
        time.sleep(0.01)
    t.join()
    assert enrolled[0]["enrolled"] and answered_during >= 1
    # another process holds the gallery's write lock for longer than --lock-wait 0.5
    db = sqlite3.connect(server.gallery_path, isolation_level=None)  # type: ignore[attr-defined]
    try:
        db.execute("BEGIN IMMEDIATE")
        with pytest.raises(ApiError) as exc:
            c.enroll("Schroeder", photos["Gerhard_Schroeder"][3])
        assert _err(exc) == (503, "gallery_locked") and exc.value.headers.get("retry-after") == "1"
        assert c.people()  # reads still answer
    finally:
        db.execute("ROLLBACK")
        db.close()
    assert c.enroll("Schroeder", photos["Gerhard_Schroeder"][3])["person"] == "Schroeder"


def test_json_bodies_for_enrolment_and_verify(server: Server, client: Client, photos: dict[str, list[Path]]) -> None:
    b64 = [base64.b64encode(p.read_bytes()).decode() for p in photos["Vladimir_Putin"][1:4]]
    st, _, rep = _json_post(server, "/v1/people/Putin/faces", {"images": b64[:2]})
    assert st == 200 and [e["source"] for e in rep["enrolled"]] == ["upload:images[0]", "upload:images[1]"]
    st, _, rep = _json_post(server, "/v1/people/Putin/faces", {"image": b64[2]})
    assert st == 200 and len(rep["enrolled"]) == 1
    assert client.person("Putin")["faces"][2]["source"] == "upload:image"
    st, _, v = _json_post(server, "/v1/verify", {"image1": b64[0], "image2": b64[1]})
    local = faceprint.verify(photos["Vladimir_Putin"][1], photos["Vladimir_Putin"][2])
    assert st == 200 and v["same"] is local.same and abs(v["distance"] - local.distance) < 1e-5
    assert client.remove("Putin")["faces"] == 3


def _png_header(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height pixels, with almost no pixel data behind it."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 10)) + chunk(b"IEND", b""))


def test_names_over_http(server: Server, client: Client, photos: dict[str, list[Path]]) -> None:
    """The name rule of faceprint.names: 422 invalid_parameter for every bad name, never 500; names are trimmed."""
    photo = photos["Donald_Rumsfeld"][5]
    for raw in ("a%0Ab", "a%00b", "a%09b", "a%E2%80%8Bb", "%20%20", "x" * 201):
        st, _, body = _raw(server, "POST", f"/v1/people/{raw}/faces", json.dumps({"image": base64.b64encode(photo.read_bytes()).decode()}).encode(),
                           {"Content-Type": "application/json"})
        assert (st, body["error"]["code"]) == (422, "invalid_parameter"), (raw, st, body)
    rep = client.enroll(" Rummy ", [photo])
    assert rep["person"] == "Rummy" and rep["enrolled"]
    assert client.person("  Rummy")["name"] == "Rummy"
    for new in ("AC/DC", "x\ny", "\u200b", "y" * 201, 5):
        with pytest.raises(ApiError) as exc:
            client.request("PATCH", "/v1/people/Rummy", json_body={"name": new})
        assert _err(exc) == (422, "invalid_parameter"), new
    assert client.rename("Rummy", " Rummy D. ")["name"] == "Rummy D."
    assert client.remove("Rummy D.")["faces"] == 1


def test_unknown_and_conflicting_options_are_refused(server: Server, client: Client, photos: dict[str, list[Path]]) -> None:
    photo = photos["Tony_Blair"][0]
    b64 = base64.b64encode(photo.read_bytes()).decode()
    cases = [("/v1/identify", {"topk": "3"}, "'topk' (did you mean 'top_k'?)"),
             ("/v1/identify", {"far": "0.01", "threshold": "0.5"}, "far or threshold, not both"),
             ("/v1/detect", {"threshold": "0.5"}, "'threshold'")]
    for path, fields, words in cases:
        with pytest.raises(ApiError) as exc:
            client.request("POST", path, files=[("file", photo)], fields=fields)
        assert _err(exc) == (422, "invalid_parameter") and words in exc.value.message, exc.value.message
    st, _, body = _json_post(server, "/v1/identify", {"image": b64, "treshold": 0.5})
    assert st == 422 and "'treshold' (did you mean 'threshold'?)" in body["error"]["message"]
    st, _, body = _json_post(server, "/v1/verify", {"image1": b64, "image2": b64, "far": 0.01})
    assert st == 422 and "'far'" in body["error"]["message"]


def test_methods_head_options_and_huge_headers(server: Server, client: Client) -> None:
    st, headers, _ = _raw(server, "OPTIONS", "/v1/people/Nobody")
    assert st == 204 and headers["allow"] == "DELETE, GET, HEAD, OPTIONS, PATCH"
    st, headers, body = _raw(server, "PUT", "/v1/people/Nobody", b"{}", {"Content-Type": "application/json"})
    assert (st, body["error"]["code"]) == (405, "method_not_allowed") and headers["allow"] == "DELETE, GET, HEAD, OPTIONS, PATCH"
    u = urllib.parse.urlparse(server.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.request("HEAD", "/health")
    resp = conn.getresponse()
    assert resp.status == 200 and resp.read() == b"" and int(resp.getheader("content-length")) > 0
    conn.close()
    # a PNG whose header claims 100000 x 100000 pixels: 413 like a real large image, not 400
    with pytest.raises(ApiError) as exc:
        client.detect(_png_header(100_000, 100_000))
    assert _err(exc) == (413, "image_too_large")


def test_a_content_length_lie_is_cut_at_the_timeout(tmp_path: Path) -> None:
    import socket
    import time

    s = Server("--gallery", str(tmp_path / "g.sqlite"), "--timeout", "2", home=tmp_path / "home")
    try:
        u = urllib.parse.urlparse(s.url)
        for length in (999_999_999, 5000):  # above the body limit, and below it
            sock = socket.create_connection((u.hostname, u.port), timeout=20)
            sock.sendall(f"POST /v1/detect HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         f"Content-Length: {length}\r\n\r\n{{}}".encode())
            start = time.monotonic()
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
            took = time.monotonic() - start
            sock.close()
            assert took < 10, took  # cut at the 2 s timeout, not held open
            assert answer.startswith((b"HTTP/1.1 413", b"HTTP/1.1 503")), answer[:100]
    finally:
        s.stop()
    assert any("POST /v1/detect" in line for line in s.output), "no access log line"


def test_offline_docs_and_openapi(server: Server, client: Client) -> None:
    u = urllib.parse.urlparse(server.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    for page in ("/docs", "/redoc"):
        conn.request("GET", page)
        html = conn.getresponse().read().decode()
        assert "https://" not in html and "http://" not in html, html  # nothing from other hosts
        for src in [m for m in __import__("re").findall(r'(?:src|href)="(/[^"]+)"', html)]:
            conn.request("GET", src)
            r = conn.getresponse()
            assert r.status == 200 and len(r.read()) > 100, src
    conn.close()
    spec = client.request("GET", "/openapi.json")
    body = spec["paths"]["/v1/identify"]["post"]["requestBody"]["content"]
    assert body["multipart/form-data"]["schema"]["required"] == ["file"] and body["application/json"]["schema"]["required"] == ["image"]
    assert spec["paths"]["/v1/people/{name}"]["patch"]["requestBody"]["content"]["application/json"]["schema"]["required"] == ["name"]
    assert "securitySchemes" not in spec.get("components", {})  # this server has no keys: it asks for none
    assert spec["paths"]["/v1/detect"]["post"]["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorOut")
