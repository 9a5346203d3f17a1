"""Session fixtures: the sample sets of ../shared detected and embedded once per test session, not once per module.

Detecting and embedding photos is the slow part of the suite's set-up. Every photo's faces go through faceprint's
own face cache (`faceprint.cache.FaceCache`: all faces of a photo with their vectors, keyed by the model's
identity, the detector with its settings, and the file's path and content hash) in one file of the session's temp
folder, so a photo is detected and embedded once whichever fixture asks first. What the cache stores for a photo is exactly what
`FaceAnalyzer.analyze` returns (the same load, detect and one `embed_faces` batch), largest face first.

Enrolment always runs the real pipeline (`enroll`), once per session. Fixtures hand out galleries that several
modules share: a test that writes to one copies it first (`copy_gallery`).

Registered from conftest.py (`pytest_plugins`), so every module sees these fixtures without importing them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

if TYPE_CHECKING:  # imported where used: loading this plugin stays as cheap as conftest.py
    from faceprint.analyzer import FaceAnalyzer
    from faceprint.cluster import FaceCache
    from faceprint.types import Face

__all__ = ["copy_gallery", "photo_faces"]


def copy_gallery(src: Path, dst: Path) -> Path:
    """A private copy of a gallery (SQLite's online backup), for a test that writes to a shared one."""
    from faceprint.gallery import Gallery

    with Gallery(src) as g, sqlite3.connect(dst) as out:
        g._db.backup(out)
    return dst


@pytest.fixture(scope="session")
def face_analyzer() -> FaceAnalyzer:
    """The default pipeline (dlib-resnet-v1 and the default detector), built once; used read-only."""
    from faceprint.analyzer import FaceAnalyzer

    return FaceAnalyzer()


@pytest.fixture(scope="session")
def face_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaceCache]:
    """Every face of every photo embedded in this session, per model identity and detector (one SQLite file)."""
    from faceprint.cluster import FaceCache

    with FaceCache(tmp_path_factory.mktemp("session-face-cache") / "faces.sqlite") as cache:
        yield cache


def photo_faces(paths: list[Path], analyzer: FaceAnalyzer, cache: FaceCache) -> list[tuple[list[Face], np.ndarray]]:
    """Per photo, its faces (largest first) and their vectors (n_faces, dim), as `analyzer.analyze` gives them;
    detected and embedded only for photos the session's cache lacks. An unreadable photo has no faces."""
    from faceprint.cluster import collect_faces

    collect_faces(paths, analyzer, cache=cache)  # fills the cache; quality rules only sort the returned faces
    dim = analyzer.embedder.spec.embedding_dim
    out = []
    for p in paths:
        found = cache.get(analyzer.model, analyzer.detector, p) or []
        vectors = np.stack([v for _, v, _ in found]) if found else np.zeros((0, dim), np.float32)
        out.append(([f for f, _, _ in found], vectors))
    return out


@pytest.fixture(scope="session")
def avengers_split(shared_dir: Path, face_analyzer: FaceAnalyzer, face_cache: FaceCache,
                   tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The Avengers split by `split_per_person(items, 0.6)`: 60% of each person enrolled in a gallery, the held-out
    photos embedded (their largest face) with their true names.

    Keys: ``gallery`` (shared: copy before writing), ``report`` (the EnrollReport), ``train`` and ``test`` (the
    (person, path) lists), ``queries`` (Embeddings of the held-out photos that have a face), ``truth`` and ``paths``
    (per query row), ``faceless`` (held-out photos without a face) and ``n_test``.
    """
    from faceprint.gallery import Gallery, enroll, identity_folders, split_per_person
    from faceprint.types import Embeddings

    items = identity_folders(shared_dir / "data" / "avengers")
    train, test = split_per_person(items, 0.6)
    gallery = tmp_path_factory.mktemp("avengers-split") / "gallery.sqlite"
    with Gallery(gallery) as g:
        report = enroll(g, face_analyzer, train)
    vectors, truth, paths, faceless = [], [], [], []
    for (person, p), (faces, emb) in zip(test, photo_faces([p for _, p in test], face_analyzer, face_cache)):
        if not faces:
            faceless.append(str(p))
            continue
        vectors.append(emb[0])
        truth.append(person)
        paths.append(p)
    return {"gallery": gallery, "report": report, "train": train, "test": test, "n_test": len(test),
            "queries": Embeddings(np.stack(vectors), face_analyzer.model), "truth": np.array(truth), "paths": paths,
            "faceless": faceless}
