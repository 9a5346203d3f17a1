"""`faceprint gallery copy SRC DST`: SQLite -> PostgreSQL -> SQLite, every id kept, verified equal (vectors bit for
bit, crops, settings, keys), resumable after an interruption, refusing a destination that holds other data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from faceprint.cli.app import app
from faceprint.gallery.store import face_image_key, open_store
from faceprint.gallery.store.copy import copy_gallery, gallery_digests
from faceprint.service.keys import KeyStore, keys_path
from faceprint.types import Face

pytest.importorskip("psycopg")


def _fill(target: Path | str) -> None:
    rng = np.random.default_rng(7)
    face = Face((10.5, 20.25, 110.0, 140.125), 0.998, ((1.0, 2.0), (3.0, 4.0), (5.0, 6.0), (7.0, 8.0), (9.0, 10.0)))
    with open_store(target) as g:
        with g.transaction():
            for i in range(30):
                fid = g.add_face(f"p{i % 7}", f"photos/{i}.jpg", f"sha-{i:03d}", face if i % 2 else None,
                                 rng.normal(size=128).astype(np.float32), "m1")
                if i % 3 == 0:
                    g.put_vector(fid, "m2", rng.normal(size=64).astype(np.float32), None)
                g.put_face_image(fid, bytes(rng.integers(0, 256, 200, dtype=np.uint8)), {"content_type": "image/jpeg"})
        g.remove_face(g.faces("p3")[0].id)  # a gap in the ids
        g.set_setting("threshold:m1", "0.42")
        g.put_blob("classifier:m1:linear", {"state": g.state("m1")}, b"\x00fitted\xff")
    keys = KeyStore(keys_path(target, None))
    keys.create("admin", label="ops")
    _, rec = keys.create("read")
    keys.revoke(rec.id)
    keys.close()


def test_sqlite_to_postgres_and_back(tmp_path: Path, pg_url: str) -> None:
    src = tmp_path / "g.sqlite"
    _fill(src)
    r = CliRunner().invoke(app, ["gallery", "copy", str(src), pg_url, "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["verified"] and out["copied"]["faces"] == 29 and out["rows"]["embeddings"] == 29 + 10 - 1 and out["keys"] == 2
    back = tmp_path / "back.sqlite"
    r = CliRunner().invoke(app, ["gallery", "copy", pg_url, str(back), "--json"])
    assert r.exit_code == 0, r.output
    with open_store(src) as a, open_store(pg_url) as b, open_store(back) as c:
        assert gallery_digests(a) == gallery_digests(b) == gallery_digests(c)
        assert a.faces() == b.faces() == c.faces()  # ids, names, sources, boxes and landmarks at full precision
        for model in ("m1", "m2"):
            ea, eb = a.embeddings(model), b.embeddings(model)
            assert ea.vectors.tobytes() == eb.vectors.tobytes() and (ea.face_ids == eb.face_ids).all()
            assert a.state(model) == b.state(model)  # a fitted classifier stays fresh
        fid = a.faces("p1")[0].id
        assert b.get_blob(face_image_key(fid)) == a.get_blob(face_image_key(fid))
        assert b.get_setting("gallery_uid") != a.get_setting("gallery_uid")  # each keeps its own
        assert b.vectors_version("m1") == b.models()["m1"] and c.vectors_version("m2") == c.models()["m2"]  # its own count
        new = b.add_face("p9", "new.jpg", "sha-new", None, np.ones(128, np.float32), "m1")  # ids go on after the copy
        assert new > max(f.id for f in a.faces())
    assert sorted(KeyStore(pg_url).export_rows()) == sorted(KeyStore(keys_path(src, None)).export_rows())


def test_an_interrupted_copy_is_resumed(tmp_path: Path, pg_url: str) -> None:
    src = tmp_path / "g.sqlite"
    _fill(src)
    with open_store(src) as a, open_store(pg_url) as b:
        def stop(table: str, n: int) -> None:
            if table == "embeddings":
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            copy_gallery(a, b, batch=4, on_batch=stop)
        assert 0 < b.models()["m1"] < 29
        report = copy_gallery(a, b, batch=4)
        assert report.copied["faces"] == 0 and report.copied["embeddings"] > 0
        assert gallery_digests(a) == gallery_digests(b)


def test_a_destination_with_other_data_is_refused(tmp_path: Path, pg_url: str) -> None:
    src = tmp_path / "g.sqlite"
    _fill(src)
    with open_store(pg_url) as b:
        b.add_face("someone else", "x.jpg", "sha-x", None, np.zeros(128, np.float32), "m1")
    r = CliRunner().invoke(app, ["gallery", "copy", str(src), pg_url])
    assert r.exit_code == 6 and "holds other data" in r.output
    r = CliRunner().invoke(app, ["gallery", "copy", str(tmp_path / "missing.sqlite"), pg_url])
    assert r.exit_code == 6 and "no gallery here" in r.output
