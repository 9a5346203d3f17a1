"""Reviewing stored clusters (faceprint.cluster.review, cluster/constraints.py) on a real SQLite gallery with
synthetic vectors: "not this person" is kept by the next incremental run, per-face extras (crop, time) survive a
save and a load, erasure and retention drop the faces kept from uploads with their crops."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")

from faceprint.cluster.collect import CollectedFace
from faceprint.cluster.review import keep_unknown, not_this_person
from faceprint.cluster.saved import SavedClusters
from faceprint.gallery.store import Gallery as Store
from faceprint.types import Face

MODEL = "dlib-resnet-v1"


def _unit(rng: np.random.Generator, center: np.ndarray, spread: float) -> np.ndarray:
    v = center + spread * rng.standard_normal(center.shape)
    return (v / np.linalg.norm(v)).astype(np.float32)


def _face(i: int) -> Face:
    return Face((10.0 * i, 0.0, 10.0 * i + 80, 80.0), 0.99, tuple((10.0 * i + k, 5.0) for k in range(5)))  # type: ignore[arg-type]


def _people(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.random.Generator]:
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal(128), rng.standard_normal(128)
    return a / np.linalg.norm(a), b / np.linalg.norm(b), rng


def test_not_this_person_survives_the_next_run() -> None:
    a, b, rng = _people()
    faces = [CollectedFace(f"/photos/{i}.jpg", _face(i), _unit(rng, a if i < 4 else b, 0.02), 100.0) for i in range(7)]
    labels = np.array([0, 0, 0, 0, 1, 1, 1])

    def run(mark: bool) -> SavedClusters:
        saved = SavedClusters.from_labels(faces, labels, model=MODEL, metric="euclidean", method="agglomerative",
                                          threshold=0.5, min_size=2)
        if mark:
            assert not_this_person(saved, 1) == 1
        new = CollectedFace("/photos/new.jpg", _face(9), _unit(rng, a, 0.02), 100.0)
        report = saved.add([new])
        assert report["reclustered"] >= 4  # face 1's neighbourhood was clustered again
        return saved

    plain = {f.id: f.cluster for f in run(False).faces}
    marked = {f.id: f.cluster for f in run(True).faces}
    assert plain[1] == plain[2] == 1  # without the mark the run puts face 1 with the others
    assert marked[1] is None and marked[2] == 1 and marked[8] == 1  # with it, face 1 stays apart; the new face joins


def test_uploads_kept_with_crops_erased_and_expired(tmp_path: Path) -> None:
    from faceprint.gallery.erasure import erase_person
    from faceprint.models.identity import model_identity

    a, b, rng = _people(1)
    path = tmp_path / "g.sqlite"
    jpeg = b"\xff\xd8 a crop \xff\xd9"
    vecs = [_unit(rng, a, 0.02) for _ in range(3)] + [_unit(rng, b, 0.02) for _ in range(2)]
    with Store(path) as st:
        for i, v in enumerate(vecs):
            report = keep_unknown(st, MODEL, "euclidean", [(_face(i), v, jpeg)], f"{i:064x}", now=1000.0 + i)
        assert (report["new_clusters"], report["reclustered"]) == (1, 1)  # the second face of b makes a cluster with the first
        saved = SavedClusters.load(st, MODEL)
        assert saved is not None and sorted(len(m) for m in saved.clusters().values()) == [2, 3]
        assert all(saved.extras[f.id]["crop"] == base64.b64encode(jpeg).decode() for f in saved.faces)
        assert [saved.extras[f.id]["created"] for f in saved.faces] == [1000.0, 1001.0, 1002.0, 1003.0, 1004.0]
        saved.save(st)  # a save keeps them (as the CLI's name/merge/split do)
        assert SavedClusters.load(st, MODEL).extras == saved.extras  # type: ignore[union-attr]

        # erasure: a person enrolled from the same photo as kept face 1 is erased; the kept face goes with its crop
        st.add_face("Eve", "upload:x", "f" * 64, _face(0), vecs[0], MODEL, model_identity(MODEL))
        assert erase_person(st, "Eve").cluster_faces == 1
        rows = st.cluster_face_rows(SavedClusters.blob_key(st, MODEL))
        assert len(rows) == 4 and sum(r.count('"crop"') for _, r, _ in rows) == 4
        # ... and one whose photo (by its sha256) is enrolled, whatever its vector
        st.add_face("Mallory", "upload:y", f"{4:064x}", _face(4), _unit(rng, a, 0.5), MODEL, model_identity(MODEL))
        assert erase_person(st, "Mallory").cluster_faces == 1
        assert [json.loads(r)["sha256"] for _, r, _ in st.cluster_face_rows(SavedClusters.blob_key(st, MODEL))] == [f"{i:064x}" for i in (1, 2, 3)]

        # retention: faces kept before the cut-off go, with their crops (the erasure path)
        from faceprint.gallery.erasure import expire_cluster_faces

        expired = expire_cluster_faces(st, 1003.0, cache_folder=tmp_path / "cache")
        assert expired is not None and expired.cluster_faces == 2 and st.pending_erasures() == []
        left = SavedClusters.load(st, MODEL)
        assert left is not None and [left.extras[f.id]["created"] for f in left.faces] == [1003.0]
        assert len(left.vectors) == 1 and expire_cluster_faces(st, time.time()).cluster_faces == 1  # type: ignore[union-attr]
        assert expire_cluster_faces(st, time.time()) is None
