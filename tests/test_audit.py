"""The audit log: every enrolment, identification, rename, removal and key change leaves a record (who, what, which
people, result, never an image) in the gallery; the log is append-only, `faceprint audit` lists, filters and exports
it as JSON lines, and --keep-days expires old records. Over the CLI, the library and a real HTTP server."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import faceprint
from faceprint.cli.app import app
from faceprint.gallery.audit import acting_as, expire, records

runner = CliRunner()


def cli(*args: object) -> str:
    r = runner.invoke(app, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    return r.stdout


def _synthetic(path: Path) -> None:
    rng = np.random.default_rng(0)
    with faceprint.gallery.Gallery(path) as g, g.transaction():
        for i, name in enumerate(["ada", "ada", "bob"]):
            g.add_face(name, f"/nowhere/{i}.jpg", f"{i:064x}", None, rng.standard_normal(128).astype(np.float32), "m")


def test_writes_are_recorded_in_their_transaction_and_the_log_is_append_only(tmp_path: Path) -> None:
    path = tmp_path / "g.sqlite"
    _synthetic(path)
    with faceprint.gallery.Gallery(path) as g:
        g.rename_person("ada", "ada l.")
        with acting_as("key:0123abcd"):
            g.remove_face(3)
        g.remove_person("ada l.")
        got = [(r.actor.split(":")[0], r.action, r.people, r.detail.get("faces"), r.result) for r in records(g)]
        assert got == [("user", "rename", ("ada", "ada l."), None, "ok"),
                       ("key", "remove-face", ("bob",), 1, "ok"),
                       ("user", "remove", ("ada l.",), 2, "ok")]
        assert records(g, actor="key:0123abcd")[0].action == "remove-face"
        assert [r.action for r in records(g, person="ada l.")] == ["rename", "remove"]
    db = sqlite3.connect(path)
    for sql in ("DELETE FROM audit", "UPDATE audit SET actor = 'nobody'", "DELETE FROM audit WHERE id = 1"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute(sql)
    db.close()
    # a failed rename leaves no record (the same transaction), and the gallery as it was
    with faceprint.gallery.Gallery(path) as g:
        with pytest.raises(faceprint.FaceprintError):
            g.rename_person("nobody", "x")
        assert len(records(g)) == 3


def test_keep_days_expires_old_records_only(tmp_path: Path) -> None:
    path = tmp_path / "g.sqlite"
    _synthetic(path)
    now = time.time()
    with faceprint.gallery.Gallery(path) as g:
        for days in (40, 31, 29, 1):
            g.append_audit("user:test", "identify", ["ada"], {"faces": 1}, "ok", at=now - days * 86400)
        assert expire(g, 30, now=now) == {"audit_records": 2, "unknown_face_files": 0, "unknown_cluster_faces": 0}
        left = records(g)
        assert [round((now - r.at) / 86400) for r in left[:2]] == [29, 1] and left[-1].action == "expire"
    out = cli("audit", "-g", path, "--keep-days", "10", "--json")
    doc = json.loads(out)
    assert doc["expired"]["audit_records"] == 1 and [r["action"] for r in doc["records"]] == ["identify", "expire", "expire"]


def test_cli_lists_filters_and_exports_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "g.sqlite"
    _synthetic(path)
    cli("people", "rename", "bob", "robert", "-g", path)
    cli("people", "remove", "ada", "-g", path)
    listing = cli("audit", "-g", path)
    assert "rename" in listing and "remove" in listing and "robert" in listing
    out = tmp_path / "audit.jsonl"
    cli("audit", "-g", path, "--jsonl", out)
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["action"] for x in lines] == ["rename", "remove"]
    assert set(lines[0]) == {"id", "at", "time", "actor", "action", "people", "detail", "result"}
    only = [json.loads(x) for x in cli("audit", "-g", path, "--jsonl", "-", "--action", "remove").splitlines()]
    assert [x["people"] for x in only] == [["ada"]]
    assert cli("audit", "-g", path, "--jsonl", "-", "--since", "2999-01-01") == ""
    assert json.loads(cli("audit", "-g", path, "--json", "--person", "robert"))[0]["action"] == "rename"
    r = runner.invoke(app, ["audit", "-g", str(path), "--action", "nonsense"])
    assert r.exit_code != 0 and "unknown action" in r.output


@pytest.mark.slow
def test_service_records_every_gallery_request_with_its_key(tmp_path: Path, lfw_subset: Path) -> None:
    pytest.importorskip("fastapi")
    from serve_helpers import Server

    gallery = tmp_path / "g.sqlite"
    photos = sorted((lfw_subset / "Tony_Blair").glob("*.jpg"))[1:]  # _0001: a second, cut-off face for YuNet
    faceprint.gallery.Gallery(gallery).close()  # (a key made before its gallery exists is recorded nowhere)
    admin = json.loads(cli("keys", "create", "--gallery", gallery, "--scope", "admin", "--json"))
    s = Server("--gallery", str(gallery), home=tmp_path / "home")
    try:
        c = s.client(admin["key"])
        assert len(c.enroll("Tony", photos[:2])["enrolled"]) == 2
        assert c.identify(photos[3])["faces"][0]["person"] == "Tony"
        writer = c.create_key("write")
        c2 = s.client(writer["key"])
        c2.rename("Tony", "Tony B.")
        c2.remove_face(c2.person("Tony B.")["faces"][0]["id"])
        c2.remove("Tony B.")
        c.revoke_key(writer["id"])
    finally:
        s.stop()
    with faceprint.gallery.Gallery(gallery) as g:
        got = [(r.actor, r.action, r.people) for r in records(g)]
    a, w = f"key:{admin['id']}", f"key:{writer['id']}"
    assert got[0][1] == "key-create" and got[0][0].startswith("user:")  # the admin key, made with the CLI
    assert got[1:] == [
        (a, "enroll", ("Tony",)), (a, "identify", ("Tony",)), (a, "key-create", ()), (w, "rename", ("Tony", "Tony B.")),
        (w, "read", ("Tony B.",)), (w, "remove-face", ("Tony B.",)), (w, "remove", ("Tony B.",)), (a, "key-revoke", ()),
    ], got


def test_retention_deletes_old_thumbnails_of_unknown_faces_only(tmp_path: Path) -> None:
    path = tmp_path / "g.sqlite"
    _synthetic(path)
    unknown, named = tmp_path / "track_0001.jpg", tmp_path / "track_0002.jpg"
    for f in (unknown, named):
        f.write_bytes(b"\xff\xd8 a face")
    with faceprint.gallery.Gallery(path) as g:
        g.record_file(unknown, "thumbnail", None)
        g.record_file(named, "thumbnail", "bob")
        assert expire(g, 1)["unknown_face_files"] == 0  # recorded just now: kept
        assert expire(g, 1, now=time.time() + 2 * 86400)["unknown_face_files"] == 1
        assert not unknown.exists() and named.exists()
        g.remove_person("bob")  # a named thumbnail goes with its person
        assert not named.exists() and g.written_files([], time.time() + 1) == []
