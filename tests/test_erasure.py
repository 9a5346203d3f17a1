"""Erasure that cannot be fooled: enrol real photos, build every index and cache faceprint writes, remove one
person, then read every file under the gallery's folder and the cache directory looking for the exact bytes of
each of that person's vectors (gallery, embedding cache, cluster face cache, stored clusters), crops and video
thumbnails. Before the removal the same scan must find every one of them (so a scan that reads nothing fails);
after it, none. Also with the removing process killed (SIGKILL) right after its gallery transaction: the next open
of the gallery finishes the erasure.
"""

from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
import sys
import time
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
def test_postgres_removal_leaves_no_byte_under_the_data_directory(pg_server, pg_url: str) -> None:  # type: ignore[no-untyped-def]
    """On PostgreSQL a DELETE leaves the row versions in the table files, and the WAL holds the enrolment's insert
    records and page images. The erasure's purge (VACUUM FULL, pg_switch_wal, CHECKPOINT) on a server with the
    documented settings (tests/pg_server.py, docs/privacy.md) leaves none of the removed vectors or crops in any file
    under the data directory (base/, global/, pg_wal/, pg_xact/, ...), while the others' stay."""
    import psycopg

    rng = np.random.default_rng(4)
    vecs = rng.standard_normal((6, 128)).astype(np.float32)
    crops = [os.urandom(5000) for _ in range(6)]  # incompressible: kept out of line, in the TOAST table
    data = pg_server.folder / "data"
    with faceprint.gallery.Gallery(pg_url) as g:
        with g.transaction():
            for i, v in enumerate(vecs):
                fid = g.add_face("ada" if i < 3 else "bob", f"/nowhere/{i}.jpg", f"{i:064x}", None, v, "m")
                g.put_face_image(fid, crops[i], {"person": "ada" if i < 3 else "bob"})
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("ANALYZE")  # the planner's statistics (pg_statistic) may sample the vectors too
            conn.execute("CHECKPOINT")  # the rows reach the table files
        ada = {f"v{i}": vecs[i].tobytes() for i in range(3)}
        for i in range(3):
            ada.update(pieces(f"crop {i}", b"\xff\xda" + crops[i], size=64, step=512))
        before = scan(ada, data)
        assert set(before) == set(ada)
        where = {Path(p).relative_to(data).parts[0] for ps in before.values() for p in ps}
        print(f"before the removal, ada's vectors and crops are in: {sorted(where)}")
        assert {"base", "pg_wal"} <= where
        assert g.remove_person("ada").n_faces == 3
        actions = [r.action for r in records(g)]
        assert actions == ["remove"], actions  # no "purge incomplete": the server is set up as documented
        left = scan(ada, data)
        print(f"after the removal: {sum(k.startswith('v') for k in left)} of 3 vectors and "
              f"{sum(k.startswith('crop') for k in left)} of {len(ada) - 3} crop pieces under {data}: {left}")
        assert left == {}
        assert scan({"bob": vecs[4].tobytes(), "bob crop": crops[4][:64]}, data).keys() == {"bob", "bob crop"}
        assert [p.name for p in g.people()] == ["bob"] and g.face_image(5) == crops[4]


def _cluster_blob(vecs: np.ndarray, created: list[float] | None) -> tuple[str, bytes]:
    """A stored clustering (layout format 1) of these vectors, one face a photo, with or without kept times."""
    faces = [{"box": [0.0, 0.0, 80.0, 80.0], "score": 0.99, "landmarks": [[10.0, 10.0]] * 5, "id": i + 1,
              "image": f"/photos/{i}.jpg", "cluster": None, **({"created": created[i]} if created else {})}
             for i in range(len(vecs))]
    meta = {"format": 1, "model": "m", "metric": "euclidean", "method": "average", "threshold": 0.5, "min_size": 2,
            "next_cluster": 1, "next_face": len(vecs) + 1, "dim": vecs.shape[1], "faces": faces, "named": [],
            "discarded": []}
    return json.dumps(meta), np.ascontiguousarray(vecs, "<f4").tobytes()


@pytest.mark.slow
def test_postgres_gallery_of_schema_2_migrates_and_forgets_its_planner_statistics(pg_server, pg_url: str) -> None:  # type: ignore[no-untyped-def]
    """A gallery made before schema step 3 whose tables were ANALYZEd holds sampled vectors in pg_statistic; the
    step stops sampling them and drops those statistics, the next purge rewrites pg_statistic, and a removal then
    leaves nothing under the data directory. The step also stamps the stored-cluster faces with a time."""
    import psycopg

    from faceprint.gallery.store.postgres import PG_MIGRATIONS, PG_SCHEMA_VERSION
    from faceprint.gallery.stored_clusters import read_clustering

    rng = np.random.default_rng(5)
    vecs = rng.standard_normal((40, 128)).astype(np.float32)
    data = pg_server.folder / "data"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        for step in PG_MIGRATIONS[:2]:
            conn.execute(step)
        conn.execute("UPDATE faceprint_schema SET version = 2")
        ids = [conn.execute("INSERT INTO people (name, created) VALUES (%s, 0) RETURNING id", (n,)).fetchone()[0]
               for n in ("ada", "bob")]
        for i, v in enumerate(vecs):
            fid = conn.execute("INSERT INTO faces (person_id, source, sha256, created) VALUES (%s, %s, %s, 0) RETURNING id",
                               (ids[i % 2], f"/nowhere/{i}.jpg", f"{i:064x}")).fetchone()[0]
            conn.execute("INSERT INTO embeddings (face_id, sha256, model, dim, vector) VALUES (%s, %s, 'm', 128, %s)",
                         (fid, f"{i:064x}", v.tobytes()))
        conn.execute("INSERT INTO blobs (key, meta, data) VALUES ('clusters:m', %s, %s)", _cluster_blob(vecs[38:], None))
        conn.execute("ANALYZE")
        sampled = conn.execute("SELECT count(*) FROM pg_stats WHERE tablename = 'embeddings' AND attname = 'vector' "
                               "AND histogram_bounds IS NOT NULL").fetchone()[0]
        conn.execute("CHECKPOINT")
        stats = [data / p for p in conn.execute(
            "SELECT pg_relation_filepath(oid), pg_relation_filepath(reltoastrelid) FROM pg_class "
            "WHERE oid = 'pg_statistic'::regclass").fetchone()]
    ada = {f"v{i}": vecs[i].tobytes() for i in range(0, 38, 2)}
    in_stats = {k: v for k, v in scan(ada, *[p.parent for p in stats]).items() if any(str(q) in v for q in stats)}
    print(f"before: {len(in_stats)} of {len(ada)} of ada's vectors in pg_statistic's files")
    assert sampled == 1 and in_stats
    t0 = time.time()
    with faceprint.gallery.Gallery(pg_url) as g:  # migrates
        assert g.schema_version == PG_SCHEMA_VERSION and g.get_setting("statistics_purge") == "pending"
        faces = read_clustering(g, "clusters:m")[1]  # type: ignore[index]
        assert [f["created"] >= t0 - 5 for f in faces] == [True, True]
        assert g.remove_person("ada").n_faces == 20
        assert g.get_setting("statistics_purge") is None and [r.action for r in records(g)] == ["remove"]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("ANALYZE")  # no more samples of the vectors
        assert conn.execute("SELECT count(*) FROM pg_stats WHERE attname IN ('vector', 'data', 'meta')").fetchone()[0] == 0
    left = scan(ada, data)
    print(f"after the removal: {len(left)} of {len(ada)} under {data}")
    assert left == {}


@pytest.mark.slow
def test_postgres_purge_without_privileges_is_recorded(pg_server, pg_url: str) -> None:  # type: ignore[no-untyped-def]
    """A role that may not switch the WAL or checkpoint: the removal still happens, the table files are clean, and
    the purge's shortfall is logged and recorded in the audit log for the operator."""
    import psycopg

    role = f"r{os.getpid()}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN")
        conn.execute(f"GRANT CREATE ON SCHEMA public TO {role}")
    url = pg_url.replace("postgres@", f"{role}@")
    vecs = np.random.default_rng(6).standard_normal((2, 128)).astype(np.float32)
    with faceprint.gallery.Gallery(url) as g:
        with g.transaction():
            for i, v in enumerate(vecs):
                g.add_face("ada" if i == 0 else "bob", f"/nowhere/{i}.jpg", f"{i:064x}", None, v, "m")
        g.remove_person("ada")
        purge = [r for r in records(g) if r.action == "purge"]
        assert len(purge) == 1 and purge[0].result == "incomplete" and purge[0].people == ("ada",)
        not_done = " ".join(purge[0].detail["not_done"])
        assert "pg_switch_wal() is not permitted" in not_done and "CHECKPOINT is not permitted" in not_done
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")
        oid = conn.execute("SELECT oid FROM pg_database WHERE datname = current_database()").fetchone()[0]
    assert scan({"v0": vecs[0].tobytes()}, pg_server.folder / "data" / "base" / str(oid)) == {}


def test_postgres_erasure_inside_a_transaction_records_the_purge_it_could_not_run(pg_url: str) -> None:
    """VACUUM cannot run inside the caller's transaction (and would wait for its locks): the removal is done, the
    purge is recorded as incomplete, and a purge after the commit completes it."""
    vecs = np.random.default_rng(9).standard_normal((2, 128)).astype(np.float32)
    with faceprint.gallery.Gallery(pg_url) as g:
        with g.transaction():
            for i, v in enumerate(vecs):
                g.add_face("ada" if i == 0 else "bob", f"/nowhere/{i}.jpg", f"{i:064x}", None, v, "m")
        with g.transaction():
            g.remove_person("ada")
        purge = [r for r in records(g) if r.action == "purge"]
        assert len(purge) == 1 and "inside a transaction" in purge[0].detail["not_done"][0]
        assert [p.name for p in g.people()] == ["bob"] and g.purge() == []


def test_sqlite_gallery_of_schema_5_stamps_its_stored_cluster_faces(tmp_path: Path) -> None:
    """Schema step 6 gives every stored-cluster face a time (the upgrade's), keeping the faces' order."""
    from faceprint.gallery.store.sqlite import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION, _statements
    from faceprint.gallery.stored_clusters import read_clustering

    path = tmp_path / "g.sqlite"
    vecs = np.random.default_rng(7).standard_normal((3, 128)).astype(np.float32)
    db = sqlite3.connect(path)
    for step in MIGRATIONS[:5]:
        for statement in _statements(step):
            db.execute(statement)
    db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    db.execute("PRAGMA user_version = 5")
    meta, blob = _cluster_blob(vecs, None)
    db.execute("INSERT INTO blobs (key, meta, data) VALUES ('clusters:m', ?, ?)", (meta, blob))
    db.commit()
    db.close()
    t0 = time.time()
    with faceprint.gallery.Gallery(path) as g:
        _, faces, vectors, _ = read_clustering(g, "clusters:m")  # type: ignore[misc]
        assert g.schema_version == SCHEMA_VERSION and vectors.tobytes() == blob  # step 7 made them rows, in order
        assert [f["id"] for f in faces] == [1, 2, 3]
        assert all(t0 - 5 <= f["created"] <= time.time() + 5 for f in faces)


def test_stored_cluster_faces_expire_one_by_one(gallery_target, tmp_path: Path, request: pytest.FixtureRequest) -> None:  # type: ignore[no-untyped-def]
    """Retention erases the stored-cluster faces kept before the cut-off, and only those, on either backend: the
    scan finds none of their bytes in the gallery's files (SQLite: its folder; PostgreSQL: the data directory)."""
    from faceprint.gallery.audit import expire
    from faceprint.gallery.stored_clusters import read_clustering

    vecs = np.random.default_rng(8).standard_normal((4, 128)).astype(np.float32)
    now = time.time()
    target = gallery_target("g")
    with faceprint.gallery.Gallery(target) as g:
        with g.transaction():
            g.add_face("ada", "/nowhere/a.jpg", "a" * 64, None, np.ones(128, np.float32), "m")
        meta, _ = _cluster_blob(vecs, [now - 40 * 86400, now - 31 * 86400, now - 29 * 86400, now])
        header = {**json.loads(meta), "format": 2}
        faces = header.pop("faces")
        g.write_cluster_faces("clusters:m", header, [(f["id"], json.dumps(f), v.tobytes()) for f, v in zip(faces, vecs)], [])
        if gallery_target.backend == "postgres":
            import psycopg

            with psycopg.connect(str(target), autocommit=True) as conn:
                conn.execute("CHECKPOINT")
            folder = request.getfixturevalue("pg_server").folder / "data"
        else:
            folder = tmp_path
        old = {f"v{i}": vecs[i].tobytes() for i in (0, 1)}
        assert set(scan(old, folder)) == set(old)
        counts = expire(g, 30, now=now)
        assert counts["unknown_cluster_faces"] == 2
        kept = read_clustering(g, "clusters:m")
        assert kept is not None and [f["id"] for f in kept[1]] == [3, 4]
        assert kept[2].tobytes() == vecs[2:].tobytes() and g.pending_erasures() == []
        assert [r.action for r in records(g)][-1] == "expire"
        left = scan(old, folder)
        print(f"{gallery_target.backend}: {len(left)} of 2 expired cluster faces' vectors left under {folder}")
        assert left == {}
        assert scan({"v2": vecs[2].tobytes()}, folder)  # the younger ones stay
