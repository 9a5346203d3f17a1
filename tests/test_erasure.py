"""Erasure that cannot be fooled: enrol real photos, build every index and cache faceprint writes, remove one
person, then read every file under the gallery's folder and the cache directory looking for the exact bytes of
each of that person's vectors (gallery, embedding cache, cluster face cache, stored clusters), crops and video
thumbnails. Before the removal the same scan must find every one of them (so a scan that reads nothing fails);
after it, none. Also with the removing process killed (SIGKILL) right after its gallery transaction: the next open
of the gallery finishes the erasure.
"""

from __future__ import annotations

import io
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import faceprint
from faceprint.models import DEFAULT_MODEL
from faceprint.gallery.audit import records
from faceprint.gallery.store import face_image_key

PEOPLE = ["George_W_Bush", "Tony_Blair", "Colin_Powell"]
GONE = "Tony_Blair"
PHOTOS = (2, 3, 4)  # Tony_Blair_0001 also shows a cut-off face that YuNet, the default detector, finds
ROOT = Path(__file__).resolve().parents[1]


def _files(*roots: Path) -> list[Path]:
    out = []
    for root in roots:
        for dirpath, _, names in os.walk(root):
            for n in names:
                p = Path(dirpath, n)
                if not p.is_symlink() and p.is_file():
                    out.append(p)
    return out


def scan(needles: dict[str, bytes], *roots: Path) -> dict[str, list[str]]:
    """Which files under `roots` hold each needle (exact bytes)."""
    found: dict[str, list[str]] = {k: [] for k in needles}
    for p in _files(*roots):
        data = p.read_bytes()
        for k, b in needles.items():
            if b in data:
                found[k].append(str(p))
    return {k: v for k, v in found.items() if v}


def pieces(label: str, data: bytes, size: int = 64, step: int = 1024) -> dict[str, bytes]:
    """64-byte pieces of a JPEG's entropy-coded data, one per kilobyte: none occurs by chance elsewhere (the header
    before the start-of-scan marker is left out: its tables are the same in every JPEG of a quality)."""
    start = data.index(b"\xff\xda") + 64
    return {f"{label} @{i}": data[i : i + size] for i in range(start, len(data) - size, step)}


def _crop_jpeg(path: Path) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.open(path).convert("RGB").crop((60, 60, 190, 190)).save(out, format="JPEG", quality=88)
    return out.getvalue()


def build_everything(tmp: Path, lfw: Path, home: Path) -> tuple[Path, dict[str, bytes]]:
    """A gallery with every derived store, and the needles: every byte string that shows GONE."""
    from typer.testing import CliRunner

    from faceprint.analyzer import FaceAnalyzer
    from faceprint.cache import CACHE_FILE, EmbeddingCache
    from faceprint.cli.app import app
    from faceprint.evaluate.labelled import embed_identity_folders
    from faceprint.gallery.faiss_index import load_or_build_index
    from faceprint.gallery.milvus_index import load_or_build_milvus
    from faceprint.video.scenes import Actor, Scene, face_photo, write_scene

    folder = tmp / "gallery"
    gpath = folder / "g.sqlite"
    photos = {n: [lfw / n / f"{n}_{i:04d}.jpg" for i in PHOTOS] for n in PEOPLE}
    ids = tmp / "ids"  # identity folders for `eval`'s embedding cache (links: the cache keys the resolved path)
    for n, ps in photos.items():
        (ids / n).mkdir(parents=True)
        for p in ps:
            (ids / n / p.name).symlink_to(p)
    runner = CliRunner()
    # 1. clusters first, on the empty gallery: every face is clustered and stored (cluster face cache too)
    r = runner.invoke(app, ["cluster", *[str(p) for ps in photos.values() for p in ps], "--gallery", str(gpath), "--json"])
    assert r.exit_code == 0, r.output
    # 2. enrolment, with crops stored as the service stores them
    with faceprint.Gallery(gpath) as g:
        for n, ps in photos.items():
            assert len(g.enroll(n, ps).added) == len(ps)
        for f in g.faces():
            g.store.put_face_image(f.id, _crop_jpeg(Path(f.source)), {"person": f.person, "content_type": "image/jpeg"})
        model = g.model
        # 3. FAISS and milvus-lite indexes beside the gallery
        load_or_build_index(g.store, model)
        with load_or_build_milvus(g.store, model) as m:
            assert len(m) == 9
    # 4. the embedding cache, as `eval` fills it
    with EmbeddingCache() as cache:
        embed_identity_folders(ids, FaceAnalyzer(model=model), cache)
    # 5. video thumbnails of a clip showing GONE
    clip = tmp / "clip.mp4"
    write_scene(Scene(320, 240, 25, 3.0, [Actor(GONE, face_photo(lfw / GONE / f"{GONE}_0009.jpg"),
                                                 [(0, 160, 120, 110), (3.0, 170, 120, 110)])]), clip)
    r = runner.invoke(app, ["video", str(clip), "-g", str(gpath), "--faces", str(folder / "thumbs"), "--json"])
    assert r.exit_code == 0, r.output

    # The needles: every copy of GONE's data, read from each store before the removal
    needles: dict[str, bytes] = {}
    with faceprint.gallery.Gallery(gpath) as g:
        faces = g.faces(GONE)
        for fid, m, v in g.face_vectors([f.id for f in faces]):
            needles[f"gallery vector {fid} {m}"] = v
        for f in faces:  # a crop spans several pages of the file: 64-byte pieces, each within one page or another
            needles.update(pieces(f"crop {f.id}", g.get_blob(face_image_key(f.id))[1]))  # type: ignore[index]
        thumbs = g.written_files([g.person_id(GONE)])
    assert thumbs, "the video run named no track of the removed person"
    for t in thumbs:
        needles.update(pieces(f"thumbnail {Path(t).name}", Path(t).read_bytes()))
    gone_paths = {str(p.resolve()) for p in photos[GONE]}
    with sqlite3.connect(home / CACHE_FILE) as db:  # one file: eval's view ("one") and cluster's ("all-v...")
        for key, path, v in db.execute("SELECT key, path, vectors FROM photos"):
            if path in gone_paths:
                kind = "embedding cache" if key.startswith(EmbeddingCache.VIEW + "|") else "face cache"
                needles[f"{kind} {Path(path).name}"] = bytes(v)[:512]
    assert sum(k.startswith("embedding cache") for k in needles) == 3
    assert sum(k.startswith("face cache") for k in needles) == 3
    return gpath, needles


@pytest.fixture
def built(tmp_path: Path, shared_dir: Path, with_weights: Path):  # type: ignore[no-untyped-def]
    pytest.importorskip("faiss")
    pytest.importorskip("pymilvus")
    pytest.importorskip("av")
    gpath, needles = build_everything(tmp_path, shared_dir / "data" / "lfw-subset", with_weights)
    before = scan(needles, gpath.parent, with_weights)
    missing = sorted({k.split(" @")[0] for k in needles} - {k.split(" @")[0] for k in before})
    assert not missing, f"the scan does not find these before the removal: {missing}"
    where = {Path(p).name.split(".")[-1] for ps in before.values() for p in ps}
    # every kind of store held some of it: gallery file or WAL, FAISS, milvus-lite, caches, thumbnails
    assert {"faiss", "jpg"} <= where and any(".milvus.db" in p for ps in before.values() for p in ps), where
    return gpath, needles, with_weights


def _survivors_intact(gpath: Path) -> None:
    from faceprint.gallery.milvus_index import load_or_build_milvus

    with faceprint.gallery.Gallery(gpath) as g:
        assert [p.name for p in g.people()] == sorted(set(PEOPLE) - {GONE})
        assert g.pending_erasures() == []
        with load_or_build_milvus(g, DEFAULT_MODEL) as m:
            assert len(m) == 6


@pytest.mark.slow
def test_removed_person_leaves_no_byte_anywhere(built) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from faceprint.cli.app import app

    gpath, needles, home = built
    r = CliRunner().invoke(app, ["people", "remove", GONE, "--gallery", str(gpath)])
    assert r.exit_code == 0, r.output
    assert scan(needles, gpath.parent, home) == {}
    _survivors_intact(gpath)


@pytest.mark.slow
@pytest.mark.parametrize("step", ["rows", "milvus"])
def test_removal_killed_midway_is_finished_by_the_next_open(built, step: str) -> None:  # type: ignore[no-untyped-def]
    gpath, needles, home = built
    env = {**os.environ, "FACEPRINT_HOME": str(home), "FACEPRINT_TEST_KILL_AFTER": step,
           "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-m", "faceprint.cli", "people", "remove", GONE, "--gallery", str(gpath)],
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == -9, (proc.returncode, proc.stderr[-2000:])
    with faceprint.Gallery(gpath) as g:  # the open finishes the erasure
        assert GONE not in [p.name for p in g.people()]
    assert scan(needles, gpath.parent, home) == {}
    _survivors_intact(gpath)


def test_erasure_plan_holds_no_vector(tmp_path: Path) -> None:
    """The pending record names ids, paths and digests only: none of the removed vectors' bytes."""
    from faceprint.gallery.erasure import ErasurePlan, plan_erasure

    rng = np.random.default_rng(1)
    vecs = rng.standard_normal((3, 128)).astype(np.float32)
    with faceprint.gallery.Gallery(tmp_path / "g.sqlite") as g, g.transaction():
        for i, v in enumerate(vecs):
            g.add_face("ada", f"/nowhere/{i}.jpg", f"{i:064x}", None, v, "m")
    with faceprint.gallery.Gallery(tmp_path / "g.sqlite") as g:
        plan, _, removed = plan_erasure(g, person="ada")
        assert removed.face_ids == (1, 2, 3) and removed.person == "ada"
        text = plan.to_json()
        assert ErasurePlan.from_json(text) == plan
        assert len(plan.vector_sha256) == 3 and plan.face_ids == (1, 2, 3)
        for v in vecs:
            assert v.tobytes() not in text.encode() and v.tobytes().hex() not in text


def test_remove_face_erases_vector_bytes_from_gallery_file(tmp_path: Path) -> None:
    """secure_delete and the WAL truncation: the deleted vector is in neither the file nor its WAL."""
    rng = np.random.default_rng(2)
    vecs = rng.standard_normal((4, 128)).astype(np.float32)
    path = tmp_path / "g.sqlite"
    with faceprint.gallery.Gallery(path) as g:
        with g.transaction():
            for i, v in enumerate(vecs):
                g.add_face("ada" if i < 2 else "bob", f"/nowhere/{i}.jpg", f"{i:064x}", None, v, "m")
        assert scan({"v0": vecs[0].tobytes()}, tmp_path)
        g.remove_face(1)
        assert scan({"v0": vecs[0].tobytes()}, tmp_path) == {}
        assert scan({"v1": vecs[1].tobytes()}, tmp_path)  # the other face stays
        g.remove_person("bob")
        assert scan({"v2": vecs[2].tobytes(), "v3": vecs[3].tobytes()}, tmp_path) == {}
        assert [p.name for p in g.people()] == ["ada"]


def test_crops_off_erases_stored_crops_and_stores_no_more(tmp_path: Path) -> None:
    path = tmp_path / "g.sqlite"
    crop = os.urandom(3000)
    with faceprint.gallery.Gallery(path) as g:
        with g.transaction():
            fid = g.add_face("ada", "/nowhere/1.jpg", "1" * 64, None, np.ones(128, np.float32), "m")
        g.put_blob(face_image_key(fid), {"person": "ada"}, crop)
        assert scan(pieces("crop", b"\xff\xda" + crop), tmp_path)
        assert g.set_crops(False) == 1
        assert scan(pieces("crop", b"\xff\xda" + crop), tmp_path) == {}
        g.put_blob(face_image_key(fid), {"person": "ada"}, crop)
        assert g.get_blob(face_image_key(fid)) is None
        g.set_crops(True)
        g.put_blob(face_image_key(fid), {"person": "ada"}, crop)
        assert g.get_blob(face_image_key(fid)) is not None


@pytest.mark.slow
def test_milvus_lite_erasure_rebuilds_one_partition_only(tmp_path: Path) -> None:
    pytest.importorskip("pymilvus")
    from faceprint.gallery.erasure import erase_person
    from faceprint.gallery.milvus_index import load_or_build_milvus

    rng = np.random.default_rng(3)
    vecs = rng.standard_normal((12, 128)).astype(np.float32)
    path = tmp_path / "g.sqlite"
    with faceprint.gallery.Gallery(path) as g:
        with g.transaction():
            for i, v in enumerate(vecs):
                g.add_face(f"p{i // 3}", f"/nowhere/{i}.jpg", f"{i:064x}", None, v, "m")
        load_or_build_milvus(g, "m").close()
        assert scan({"v0": vecs[0].tobytes()}, tmp_path)["v0"]
        report = erase_person(g, "p0", cache_folder=tmp_path / "cache")
        assert report.milvus and "partitions p1 rebuilt (9 faces" in report.milvus[0], report.milvus
        assert scan({f"v{i}": vecs[i].tobytes() for i in range(3)}, tmp_path) == {}
        with load_or_build_milvus(g, "m") as m:  # in step: the rows of the others, searchable
            d, i = m.search(vecs[5:6], 1)
            assert len(m) == 9 and i[0, 0] == 2 and d[0, 0] == 0.0


@pytest.mark.slow
def test_postgres_removal_and_the_documented_vacuum_full(pg_server, pg_url: str) -> None:  # type: ignore[no-untyped-def]
    """On PostgreSQL, DELETE leaves the row versions in the table files until VACUUM FULL rewrites them; after
    removal and the documented procedure (docs/privacy.md: VACUUM FULL, CHECKPOINT), the database's table files hold
    none of the removed vectors. The WAL (pg_wal) may still hold them until its segments are overwritten: counted
    and printed, not asserted (it depends on how much was written since)."""
    import psycopg

    rng = np.random.default_rng(4)
    vecs = rng.standard_normal((6, 128)).astype(np.float32)
    with faceprint.gallery.Gallery(pg_url) as g:
        with g.transaction():
            for i, v in enumerate(vecs):
                g.add_face("ada" if i < 3 else "bob", f"/nowhere/{i}.jpg", f"{i:064x}", None, v, "m")
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("CHECKPOINT")  # the rows reach the table files
            oid = conn.execute("SELECT oid FROM pg_database WHERE datname = current_database()").fetchone()[0]
        tables = pg_server.folder / "data" / "base" / str(oid)
        ada = {f"v{i}": vecs[i].tobytes() for i in range(3)}
        assert set(scan(ada, tables)) == set(ada)
        assert g.remove_person("ada").n_faces == 3
        assert [r.action for r in records(g)] == ["remove"] and g.pending_erasures() == []
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("VACUUM FULL faces, embeddings, blobs, erasures")
            conn.execute("CHECKPOINT")
        assert scan(ada, tables) == {}
        assert scan({"bob": vecs[4].tobytes()}, tables)  # the others stay
        in_wal = scan(ada, pg_server.folder / "data" / "pg_wal")
        print(f"removed vectors still in pg_wal segments: {len(in_wal)} of 3")
        assert [p.name for p in g.people()] == ["bob"]
