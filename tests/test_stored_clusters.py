"""Stored clusters one row per face (gallery/stored_clusters.py, format 2) on real SQLite and PostgreSQL galleries:
keeping one face writes its row and the header, not every face; a fresh clustering stored over an old one replaces
its rows; and galleries that hold the earlier one-blob layout (format 1) are split into rows by their schema
migration, reading back the same clusters."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("sklearn")

from faceprint.cluster.collect import CollectedFace
from faceprint.cluster.review import keep_unknown
from faceprint.cluster.saved import EXTRA_KEYS, SavedClusters, gallery_cluster_model
from faceprint.gallery.store import open_store
from faceprint.gallery.store.postgres import PG_MIGRATIONS, PG_SCHEMA_VERSION
from faceprint.gallery.store.sqlite import SCHEMA_VERSION
from faceprint.models import DEFAULT_MODEL
from faceprint.types import Face, face_to_json

MODEL = "dlib-resnet-v1"


def _face(i: int) -> Face:
    return Face((10.0 * i, 0.0, 10.0 * i + 80, 80.0), 0.99, tuple((10.0 * i + k, 5.0) for k in range(5)))  # type: ignore[arg-type]


def _clusters(n: int, seed: int = 0) -> tuple[SavedClusters, np.ndarray]:
    """n faces of n // 4 synthetic people, clustered, each with a crop and a time as the service keeps them."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n // 4, 128))
    v = centres[np.arange(n) % len(centres)] + 0.1 * rng.standard_normal((n, 128))
    v = (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)
    faces = [CollectedFace(f"upload:{i:064x}", _face(i), v[i], 0.0) for i in range(n)]
    labels = np.arange(n) % len(centres)
    saved = SavedClusters.from_labels(faces, labels, model=MODEL, metric="euclidean", method="agglomerative", threshold=0.5, min_size=2)
    saved.extras = {f.id: {"crop": base64.b64encode(bytes([f.id % 256]) * 500).decode(), "created": float(f.id)} for f in saved.faces}
    return saved, centres


def _same(a: SavedClusters, b: SavedClusters) -> None:
    assert [(f.id, f.image, f.face, f.cluster) for f in a.faces] == [(f.id, f.image, f.face, f.cluster) for f in b.faces]
    ids = {f.id for f in a.faces}  # (a face taken out may leave its extras in memory; they are not stored)
    assert np.array_equal(a.vectors, b.vectors)
    assert {i: e for i, e in a.extras.items() if i in ids} == {i: e for i, e in b.extras.items() if i in ids}
    assert (a.next_cluster, a.next_face, a.named, a.discarded) == (b.next_cluster, b.next_face, b.named, b.discarded)


def test_keeping_one_face_writes_its_row_not_every_face(gallery_target: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    saved, centres = _clusters(40)
    with open_store(gallery_target()) as st:
        saved.save(st)
        written: list[tuple[int, int]] = []
        real = st.write_cluster_faces

        def counting(key: str, meta: dict[str, object], put: list[tuple[int, str, bytes]], drop: list[int], replace: bool = False) -> None:
            written.append((len(put), len(drop)))
            real(key, meta, put, drop, replace)

        monkeypatch.setattr(st, "write_cluster_faces", counting)
        q = centres[3] + 0.1 * np.random.default_rng(1).standard_normal(128)
        report = keep_unknown(st, MODEL, "euclidean", [(_face(99), (q / np.linalg.norm(q)).astype(np.float32), b"jpeg")], "a" * 64)
        assert report["joined"] == 1
        # the new face, and at most the faces of its neighbourhood whose cluster id moved: here none
        assert written == [(1, 0)]
        again = SavedClusters.load(st, MODEL)
        assert again is not None and len(again.faces) == 41 and again.faces[-1].cluster == again.faces[3].cluster
        # a face taken out is one deleted row
        from faceprint.cluster.review import take_face

        take_face(again, again.faces[0].id)
        again.save(st)
        assert written[-1] == (0, 1)
        _same(SavedClusters.load(st, MODEL), again)  # type: ignore[arg-type]


def test_a_fresh_clustering_replaces_the_stored_rows(gallery_target: Any) -> None:
    with open_store(gallery_target()) as st:
        _clusters(40)[0].save(st)
        fresh, _ = _clusters(12, seed=5)
        fresh.save(st)
        back = SavedClusters.load(st, MODEL)
        assert back is not None
        _same(back, fresh)
        assert len(st.cluster_face_rows(SavedClusters.blob_key(st, MODEL))) == 12


def _format_one(saved: SavedClusters) -> tuple[dict[str, object], bytes]:
    """The one-blob layout earlier galleries hold (the save of format 1, as it was written)."""
    meta = {
        "format": 1, "model": saved.model, "metric": saved.metric, "method": saved.method, "threshold": saved.threshold,
        "min_size": saved.min_size, "next_cluster": saved.next_cluster, "next_face": saved.next_face,
        "dim": int(saved.vectors.shape[1]),
        "faces": [dict(face_to_json(f.face), **{k: v for k, v in saved.extras.get(f.id, {}).items() if k in EXTRA_KEYS},
                       id=f.id, image=f.image, cluster=f.cluster) for f in saved.faces],
        "named": [{"image": "/p/x.jpg", "box": [1, 2, 3, 4], "person": "Ann"}],
        "discarded": [{"image": "/p/y.jpg", "box": [5, 6, 7, 8]}],
    }
    return meta, np.ascontiguousarray(saved.vectors, "<f4").tobytes()


def test_the_migration_splits_one_blob_clusters_into_rows(gallery_target: Any) -> None:
    """A gallery at the schema before rows (the table gone, the version one step back) holding a format-1 clustering
    opens migrated: the same faces, vectors bit for bit, extras, named and discarded faces."""
    saved, _ = _clusters(30)
    target = gallery_target()
    with open_store(target) as st:
        key = SavedClusters.blob_key(st, MODEL)
        meta, data = _format_one(saved)
        if gallery_target.backend == "sqlite":
            st._q("DROP TABLE cluster_faces")  # its triggers go with it
            st._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION - 1}")  # type: ignore[attr-defined]
        else:
            st._q("DROP TABLE cluster_faces")
            rows_step = next(i for i, sql in enumerate(PG_MIGRATIONS) if "CREATE TABLE cluster_faces" in sql)
            st._q("UPDATE faceprint_schema SET version = ?", (rows_step,))  # the steps from there run again
        st.put_blob(key, meta, data)
    with open_store(target) as st:
        assert st.schema_version == (SCHEMA_VERSION if gallery_target.backend == "sqlite" else PG_SCHEMA_VERSION)
        header = st.get_blob(key)
        assert header is not None and header[0]["format"] == 2 and "faces" not in header[0] and header[1] == b""
        back = SavedClusters.load(st, MODEL)
        assert back is not None
        saved.named = {("/p/x.jpg", (1, 2, 3, 4)): "Ann"}
        saved.discarded = {("/p/y.jpg", (5, 6, 7, 8))}
        _same(back, saved)
        rows = st.cluster_face_rows(key)
        assert [json.loads(r)["id"] for _, r, _ in rows] == [f.id for f in saved.faces]
        back.save(st)  # and it is written as rows from then on
        _same(SavedClusters.load(st, MODEL), saved)  # type: ignore[arg-type]


def test_a_one_blob_clustering_is_still_read(tmp_path: Path) -> None:
    """What a read-only gallery not yet migrated (it cannot be written, so it keeps format 1) holds is still read."""
    saved, _ = _clusters(8)
    with open_store(tmp_path / "old.sqlite") as st:
        st.put_blob(SavedClusters.blob_key(st, MODEL), *_format_one(saved))
        back = SavedClusters.load(st, MODEL)
        assert back is not None and [f.cluster for f in back.faces] == [f.cluster for f in saved.faces]
        assert np.array_equal(back.vectors, saved.vectors) and back.named == {("/p/x.jpg", (1, 2, 3, 4)): "Ann"}


def test_a_gallery_keeps_clustering_with_its_own_model(tmp_path: Path) -> None:
    """cluster --gallery without --model: the model of the gallery's stored clusters, else of its enrolled faces,
    else the default model (what identify and serve search it with)."""
    with open_store(tmp_path / "g.sqlite") as st:
        assert gallery_cluster_model(st) == DEFAULT_MODEL
        st.add_face("ann", "a.jpg", "1" * 64, _face(1), np.ones(128, np.float32) / np.sqrt(128), "facenet-inception-resnet-v1")
        assert gallery_cluster_model(st) == "facenet-inception-resnet-v1"
        _clusters(8)[0].save(st)  # clusters of dlib-resnet-v1
        assert gallery_cluster_model(st) == MODEL


def test_stored_clusters_travel_with_a_gallery_copy(tmp_path: Path, pg_url: str) -> None:
    """copy_gallery carries the face rows (SQLite to PostgreSQL), and the copy keeps growing them one row at a time."""
    from faceprint.gallery.store.copy import copy_gallery

    saved, centres = _clusters(20)
    with open_store(tmp_path / "src.sqlite") as src, open_store(pg_url) as dst:
        saved.save(src)
        report = copy_gallery(src, dst)
        assert report.copied["cluster_faces"] == 20
        back = SavedClusters.load(dst, MODEL)
        assert back is not None
        _same(back, saved)
        q = centres[1] + 0.1 * np.random.default_rng(2).standard_normal(128)
        keep_unknown(dst, MODEL, "euclidean", [(_face(77), (q / np.linalg.norm(q)).astype(np.float32), b"jpeg")], "b" * 64)
        assert len(dst.cluster_face_rows(SavedClusters.blob_key(dst, MODEL))) == 21


_KEEPER = """
import sys
import numpy as np
from faceprint.cluster.review import keep_unknown
from faceprint.gallery.store import open_store
from faceprint.types import Face

target, seed = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(seed)
with open_store(target) as st:
    for i in range(6):
        v = rng.standard_normal(128).astype(np.float32)
        face = Face((10.0 * i, 0.0, 10.0 * i + 80, 80.0), 0.99, tuple((10.0 * i + k, 5.0) for k in range(5)))
        keep_unknown(st, "dlib-resnet-v1", "euclidean", [(face, v / np.linalg.norm(v), b"jpeg")], f"{seed:032x}{i:032x}")
"""


@pytest.mark.slow
def test_two_processes_keeping_faces_at_once_lose_none(gallery_target: Any) -> None:
    """Each keep reads, joins and writes under the gallery's write lock: two writers (two service replicas) neither
    reuse a face id nor overwrite each other's faces."""
    import subprocess
    import sys

    target = str(gallery_target())
    open_store(target).close()
    procs = [subprocess.Popen([sys.executable, "-c", _KEEPER, target, str(seed)]) for seed in (1, 2)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    with open_store(target) as st:
        saved = SavedClusters.load(st, MODEL)
        assert saved is not None and len(saved.faces) == 12 and len({f.id for f in saved.faces}) == 12
        assert len({f.image for f in saved.faces}) == 12
