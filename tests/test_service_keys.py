"""`faceprint serve --galleries DIR` with `faceprint keys`: several galleries, keys per scope and gallery, hashed
storage, revocation, rate limits and the refusal to listen beyond loopback without keys; all over real HTTP."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

pytest.importorskip("fastapi")

from typer.testing import CliRunner  # noqa: E402

from faceprint.cli.app import app  # noqa: E402
from faceprint.cli.serve import is_loopback  # noqa: E402
from faceprint.client import ApiError, Client  # noqa: E402
from serve_helpers import Server  # noqa: E402

pytestmark = pytest.mark.slow
runner = CliRunner()


def cli(*args: object) -> str:
    res = runner.invoke(app, [str(a) for a in args])
    assert res.exit_code == 0, res.output
    return res.stdout


def new_key(folder: Path, scope: str, *extra: str) -> dict[str, str]:
    return json.loads(cli("keys", "create", "--galleries", folder, "--scope", scope, "--json", *extra))


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("galleries")


@pytest.fixture(scope="module")
def server(folder: Path, tmp_path_factory: pytest.TempPathFactory):
    s = Server("--galleries", str(folder), "--rate-limit", "60", home=tmp_path_factory.mktemp("home"))
    yield s
    s.stop()


@pytest.fixture(scope="module")
def photos(lfw_subset: Path) -> dict[str, list[Path]]:
    return {d.name: sorted(d.glob("*.jpg")) for d in sorted(lfw_subset.iterdir()) if d.is_dir()}


def _code(call) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    with pytest.raises(ApiError) as exc:
        call()
    return exc.value.status, exc.value.code


def test_several_galleries_without_keys(server: Server, folder: Path, photos: dict[str, list[Path]]) -> None:
    """Runs first: the folder has no keys yet, so the server is open (it listens on loopback only)."""
    c = server.client()
    assert c.galleries() == []
    assert _code(lambda: c.gallery("a").people()) == (404, "unknown_gallery")
    assert _code(lambda: c.gallery("bad.name").people()) == (404, "unknown_gallery")
    assert _code(lambda: c.identify(photos["Tony_Blair"][0])) == (404, "not_found")  # no /v1/identify here
    assert len(c.gallery("a").enroll("Tony", photos["Tony_Blair"][:2])["enrolled"]) == 2
    assert len(c.gallery("b").enroll("Colin", photos["Colin_Powell"][:2])["enrolled"]) == 2
    assert c.galleries() == ["a", "b"] and sorted(p.name for p in folder.glob("*.sqlite")) == ["a.sqlite", "b.sqlite"]
    assert [p["name"] for p in c.gallery("a").people()] == ["Tony"]
    assert [p["name"] for p in c.gallery("b").people()] == ["Colin"]
    in_a = c.gallery("a").identify(photos["Tony_Blair"][4])["faces"][0]
    # A fixed threshold: at the default 1% of strangers named, a one-person gallery's threshold (0.586 for two
    # photos) is looser than this Tony-Colin pair (0.584); what is tested here is that the galleries are apart.
    in_b = c.gallery("b").identify(photos["Tony_Blair"][4], threshold=0.5)["faces"][0]
    assert in_a["person"] == "Tony" and in_b["person"] is None and in_b["closest"] == "Colin"
    face = c.gallery("a").person("Tony")["faces"][0]
    assert face["image"] == f"/v1/galleries/a/faces/{face['id']}/image"
    assert c.gallery("a").face_image(face["id"])[:2] == b"\xff\xd8"
    assert _code(lambda: c.gallery("b").face_image(face["id"] + 1000)) == (404, "unknown_face")
    # a gallery whose faces were embedded by another model only
    import numpy as np

    from faceprint.gallery.store import Gallery as Store

    with Store(folder / "other.sqlite") as g, g.transaction():
        g.add_face("Someone", "x.jpg", "0" * 64, None, np.ones(512, np.float32) / np.sqrt(512), "facenet-inception-resnet-v1")
    assert _code(lambda: c.gallery("other").identify(photos["Tony_Blair"][0])) == (409, "model_not_in_gallery")
    (folder / "other.sqlite").unlink()


def test_keys_scopes_and_galleries(server: Server, folder: Path, photos: dict[str, list[Path]]) -> None:
    read, write, admin = (new_key(folder, s, "--label", f"test {s}") for s in ("read", "write", "admin"))
    bound = new_key(folder, "write", "--bind", "a")
    assert read["scope"] == "read" and read["key"].startswith("fpk_") and len(read["key"]) > 40
    photo = photos["Tony_Blair"][5]

    anon = server.client()
    assert anon.health()["status"] == "ok" and anon.ready()["status"] == "ready"
    assert _code(anon.models) == (401, "unauthorized")
    assert _code(lambda: anon.gallery("a").people()) == (401, "unauthorized")
    assert _code(lambda: Client(server.url, "fpk_wrong").models()) == (401, "unauthorized")

    r = server.client(read["key"])
    assert r.models()["model"] == "dlib-resnet-v1" and r.detect(photo)["faces"]
    assert r.gallery("a").identify(photo)["faces"][0]["person"] == "Tony"
    assert _code(lambda: r.gallery("a").enroll("X", photo)) == (403, "forbidden")
    assert _code(lambda: r.gallery("a").remove("Tony")) == (403, "forbidden")
    assert _code(r.keys) == (403, "forbidden")
    # X-API-Key works as well as Authorization: Bearer
    assert r.request("GET", "/v1/galleries", headers={"X-API-Key": read["key"], "Authorization": ""})["galleries"] == ["a", "b"]

    w = server.client(write["key"])
    assert len(w.gallery("b").enroll("Colin", photos["Colin_Powell"][2])["enrolled"]) == 1
    assert w.gallery("b").rename("Colin", "Colin Powell")["name"] == "Colin Powell"
    assert _code(w.keys) == (403, "forbidden")

    b = server.client(bound["key"])
    assert b.galleries() == ["a"]
    assert b.gallery("a").people()[0]["name"] == "Tony"
    assert _code(lambda: b.gallery("b").people()) == (403, "forbidden")
    assert _code(lambda: b.gallery("b").enroll("Y", photo)) == (403, "forbidden")
    assert b.verify(photo, photos["Tony_Blair"][6])["model"] == "dlib-resnet-v1"  # no gallery involved

    a = server.client(admin["key"])
    listed = {k["id"]: k for k in a.keys()}
    assert {read["id"], write["id"], admin["id"], bound["id"]} <= set(listed)
    assert listed[bound["id"]]["gallery"] == "a" and listed[read["id"]]["label"] == "test read"
    assert all("key" not in k for k in listed.values())
    made = a.create_key("read", gallery="b", label="over http")
    assert server.client(made["key"]).gallery("b").people()
    assert _code(lambda: server.client(made["key"]).gallery("a").people()) == (403, "forbidden")
    assert _code(lambda: a.create_key("root")) == (422, "invalid_parameter")
    assert a.revoke_key(made["id"])["revoked"] is not None
    assert _code(lambda: server.client(made["key"]).gallery("b").people()) == (401, "unauthorized")
    assert _code(lambda: a.revoke_key("nope")) == (404, "unknown_key")

    # stored hashed: no key appears in the keys file, and the CLI lists them without it
    raw = b"".join(p.read_bytes() for p in folder.glob(".keys.sqlite*"))
    for k in (read, write, admin, bound, made):
        assert k["key"].encode() not in raw
    with sqlite3.connect(folder / ".keys.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert len(db.execute("SELECT hash FROM keys WHERE id = ?", (read["id"],)).fetchone()[0]) == 64
    listing = json.loads(cli("keys", "list", "--galleries", folder, "--json"))
    assert {k["id"] for k in listing} == set(listed) | {made["id"]}
    assert "revoked key" in cli("keys", "revoke", "--galleries", folder, read["id"])
    assert _code(r.models) == (401, "unauthorized")
    res = runner.invoke(app, ["keys", "revoke", "--galleries", str(folder), "no-such-id"])
    assert res.exit_code == 3 and "no key with id" in res.output
    res = runner.invoke(app, ["keys", "create", "--galleries", str(folder), "--scope", "root"])
    assert res.exit_code == 3 and "read, write, admin" in res.output


def test_rate_limit_answers_429_with_retry_after(server: Server, folder: Path) -> None:
    key = new_key(folder, "read")
    c = server.client(key["key"])
    other = server.client(new_key(folder, "read")["key"])
    answers = []
    listed = None
    for _ in range(70):  # 60 a minute with bursts of 60
        try:
            listed = c.galleries()
            answers.append(200)
        except ApiError as exc:
            answers.append(exc)
            break
    assert len(answers) > 55 and isinstance(answers[-1], ApiError)
    assert answers[-1].status == 429 and answers[-1].code == "rate_limited"
    assert int(answers[-1].headers["retry-after"]) >= 1
    assert listed is not None and other.galleries() == listed  # per key: the other key still gets its answer


def test_non_loopback_needs_keys(tmp_path: Path) -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost") and is_loopback("127.0.0.2")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.10") and not is_loopback("example.org")
    res = runner.invoke(app, ["serve", "--host", "0.0.0.0", "--port", "0", "--gallery", str(tmp_path / "g.sqlite")])
    assert res.exit_code == 3 and "refusing to listen on 0.0.0.0 without API keys" in res.output
    assert "[bold" not in res.output and "[/]" not in res.output  # a plain error line, no literal markup
    key = json.loads(cli("keys", "create", "--gallery", tmp_path / "g.sqlite", "--scope", "read", "--json"))
    assert (tmp_path / "g.keys.sqlite").exists()
    cli("keys", "revoke", "--gallery", tmp_path / "g.sqlite", key["id"])
    res = runner.invoke(app, ["serve", "--host", "0.0.0.0", "--port", "0", "--gallery", str(tmp_path / "g.sqlite")])
    assert res.exit_code == 3, "revoked keys do not count"
    res = runner.invoke(app, ["keys", "create", "--gallery", str(tmp_path / "g.sqlite"), "--bind", "a"])
    assert res.exit_code == 3 and "--bind" in res.output


def test_serve_refuses_a_port_in_use_and_bad_options(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        res = runner.invoke(app, ["serve", "--port", str(port), "--gallery", str(tmp_path / "g.sqlite")])
    assert res.exit_code == 3 and f"cannot listen on 127.0.0.1:{port}" in res.output and "[bold" not in res.output
    res = runner.invoke(app, ["keys", "create", "--gallery", str(tmp_path / "g.sqlite"), "--scope", "bogus"])
    assert res.exit_code == 3 and "unknown scope 'bogus'" in res.output and "[bold" not in res.output
    res = runner.invoke(app, ["serve", "--gallery", str(tmp_path / "g.sqlite"), "--galleries", str(tmp_path)])
    assert res.exit_code != 0 and "not both" in res.output
    res = runner.invoke(app, ["serve", "--gallery", str(tmp_path / "g.sqlite"), "--model", "no-such-model"])
    assert res.exit_code == 3 and "dlib-resnet-v1" in res.output
    res = runner.invoke(app, ["serve", "--gallery", str(tmp_path / "g.sqlite"), "--detector", "nope"])
    assert res.exit_code != 0 and "mtcnn" in res.output


def test_key_format_challenge_self_revocation_and_the_access_log(tmp_path: Path) -> None:
    """401 says the header's format and carries WWW-Authenticate; a key cannot revoke itself nor the last admin key;
    the access log names the key's id, never the key; /openapi.json declares the key schemes once keys exist."""
    gallery = tmp_path / "g.sqlite"
    admin = json.loads(cli("keys", "create", "--gallery", gallery, "--scope", "admin", "--json"))
    s = Server("--gallery", str(gallery), home=tmp_path / "home")
    try:
        raw = Client(s.url)
        for headers, words in (({"Authorization": admin["key"]}, "'Bearer KEY'"), ({"Authorization": "Basic eDp5"}, "'Bearer KEY'"),
                               ({}, "needs an API key"), ({"Authorization": "Bearer fpk_nope"}, "unknown or revoked")):
            with pytest.raises(ApiError) as exc:
                raw.request("GET", "/v1/models", headers=headers)
            assert exc.value.status == 401 and words in exc.value.message, exc.value.message
            assert exc.value.headers["www-authenticate"].startswith("Bearer")
        c = s.client(admin["key"])
        assert _code(lambda: c.revoke_key(admin["id"])) == (409, "conflict")  # itself, and the last admin key
        second = c.create_key("admin", label="second")
        assert _code(lambda: c.revoke_key(admin["id"])) == (409, "conflict")  # still itself
        assert s.client(second["key"]).revoke_key(admin["id"])["revoked"] is not None  # another admin may
        c2 = s.client(second["key"])
        assert _code(lambda: c2.revoke_key(second["id"])) == (409, "conflict")
        spec = c2.request("GET", "/openapi.json")
        assert set(spec["components"]["securitySchemes"]) == {"bearer", "apiKey"}
        assert spec["paths"]["/v1/models"]["get"]["security"] == [{"bearer": []}, {"apiKey": []}]
        assert "security" not in spec["paths"]["/health"]["get"]
        assert "gallery" not in spec["paths"]["/v1/keys"]["post"]["requestBody"]["content"]["application/json"]["schema"]["properties"]
    finally:
        s.stop()
    log = "".join(s.output)
    assert f"key={second['id']}" in log and "GET /v1/models 401" in log and "DELETE /v1/keys/{key_id} 409" in log, log[-3000:]
    assert admin["key"] not in log and second["key"] not in log
