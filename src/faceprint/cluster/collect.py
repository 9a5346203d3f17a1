"""Every face of every photo in a collection, with its embedding: what clustering starts from.

The embedding cache (`faceprint.cache`) keeps one face per photo, the one `eval` and `enroll` use; a collection
needs all of them, so this module keeps a sibling cache of every face per photo (``faces.sqlite`` in the same
cache folder), keyed the same way: the model's pipeline key (`faceprint.cache.pipeline_key`), the detector, the
photo's absolute path and its size and mtime. A rerun embeds only new or changed photos, and an interrupted run
keeps every photo it finished (one commit per photo batch).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from faceprint.analyzer import FaceAnalyzer
from faceprint.cache import pipeline_key
from faceprint.cluster.quality import QualityRule, sharpness
from faceprint.errors import FaceprintError
from faceprint.models import cache_dir
from faceprint.types import Face, face_from_json, face_to_json

__all__ = ["Collection", "CollectedFace", "FaceCache", "collect_faces"]

log = logging.getLogger(__name__)

FACE_CACHE_VERSION = 1
"""Bump when what is stored per face changes (e.g. how sharpness is measured)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS photo_faces (
    key TEXT NOT NULL,          -- model pipeline key | detector | version
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    faces TEXT NOT NULL,        -- JSON list of {box, score, landmarks, sharpness}, largest first
    vectors BLOB NOT NULL,      -- float32 (n_faces, dim)
    PRIMARY KEY (key, path)
);
"""


@dataclass(frozen=True, eq=False)
class CollectedFace:
    """One face of a photo of the collection."""

    image: str
    face: Face
    vector: np.ndarray
    sharpness: float
    rejected: str | None = None
    """Why the face is kept out of clusters ('tiny', 'low score', 'blurred'), or None."""


@dataclass(eq=False)
class Collection:
    """The faces of a collection: those good enough to cluster, those kept out, and photos without any."""

    model: str
    metric: str
    faces: list[CollectedFace] = field(default_factory=list)
    """Faces good enough to cluster, in photo order (largest first within a photo)."""
    rejected: list[CollectedFace] = field(default_factory=list)
    images: int = 0
    no_face: list[str] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)

    @property
    def vectors(self) -> np.ndarray:
        if not self.faces:
            return np.zeros((0, 0), np.float32)
        return np.stack([f.vector for f in self.faces]).astype(np.float32)

    @property
    def groups(self) -> list[str]:
        """The photo of each face: the cannot-link groups."""
        return [f.image for f in self.faces]

    def summary(self) -> dict[str, object]:
        reasons: dict[str, int] = {}
        for f in self.rejected:
            reasons[f.rejected or "?"] = reasons.get(f.rejected or "?", 0) + 1
        return {
            "images": self.images,
            "faces": len(self.faces) + len(self.rejected),
            "clustered_faces": len(self.faces),
            "low_quality": reasons,
            "images_without_face": len(self.no_face),
            "unreadable": len(self.unreadable),
        }


class FaceCache:
    """Every face of a photo with its embedding, per model pipeline and detector; `path=None` uses
    <cache dir>/faces.sqlite."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else cache_dir() / "faces.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    @staticmethod
    def _key(model: str, detector: str) -> str:
        return f"{pipeline_key(model)}|{detector}|v{FACE_CACHE_VERSION}"

    def get(self, model: str, detector: str, image: Path) -> list[tuple[Face, np.ndarray, float]] | None:
        st = image.stat()
        row = self._db.execute(
            "SELECT faces, vectors FROM photo_faces WHERE key=? AND path=? AND size=? AND mtime_ns=?",
            (self._key(model, detector), str(image.resolve()), st.st_size, st.st_mtime_ns),
        ).fetchone()
        if row is None:
            return None
        meta = json.loads(row[0])
        vecs = np.frombuffer(row[1], np.float32).reshape(len(meta), -1) if meta else np.zeros((0, 0), np.float32)
        return [(face_from_json(m), vecs[i].copy(), float(m["sharpness"])) for i, m in enumerate(meta)]

    def put(self, model: str, detector: str, image: Path, faces: list[tuple[Face, np.ndarray, float]]) -> None:
        st = image.stat()
        meta = [dict(face_to_json(f), sharpness=s) for f, _, s in faces]
        data = np.stack([v for _, v, _ in faces]).astype(np.float32).tobytes() if faces else b""
        self._db.execute(
            "INSERT OR REPLACE INTO photo_faces VALUES (?, ?, ?, ?, ?, ?)",
            (self._key(model, detector), str(image.resolve()), st.st_size, st.st_mtime_ns, json.dumps(meta), data),
        )

    def commit(self) -> None:
        self._db.commit()

    def close(self) -> None:
        self._db.commit()
        self._db.close()

    def __enter__(self) -> FaceCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _detect_and_embed(analyzer: FaceAnalyzer, image: Path) -> list[tuple[Face, np.ndarray, float]]:
    pixels = analyzer.load(image)
    faces = analyzer.detector.detect(pixels)
    if not faces:
        return []
    emb = analyzer.embed_faces(pixels, faces)
    return [(f, v, sharpness(pixels, f)) for f, v in zip(faces, emb.vectors)]


def collect_faces(
    images: Iterable[str | os.PathLike[str]],
    analyzer: FaceAnalyzer,
    *,
    quality: QualityRule | None = None,
    cache: FaceCache | None = None,
    on_image: Callable[[int, int], None] | None = None,
) -> Collection:
    """Detect and embed every face of every photo (photo paths, not folders), from the cache where it has them.

    Faces that fail `quality` (default `QualityRule.for_detector(<the analyzer's detector>)`) go to ``rejected``; photos without a face to ``no_face``,
    unreadable ones to ``unreadable`` with the reason.
    """
    rule = quality or QualityRule.for_detector(analyzer.detector.name)
    paths = [Path(p) for p in images]
    spec = analyzer.embedder.spec
    out = Collection(spec.name, spec.metric, images=len(paths))
    detector = analyzer.detector.name
    for n, path in enumerate(paths, start=1):
        try:
            found = cache.get(spec.name, detector, path) if cache is not None else None
            if found is None:
                found = _detect_and_embed(analyzer, path)
                if cache is not None:
                    cache.put(spec.name, detector, path, found)
                    if n % 32 == 0:
                        cache.commit()
        except FaceprintError as exc:
            out.unreadable.append((str(path), str(getattr(exc, "reason", exc))))
        except OSError as exc:
            out.unreadable.append((str(path), exc.strerror or str(exc)))
        else:
            if not found:
                out.no_face.append(str(path))
            for face, vec, sharp in found:
                why = rule.reason(face, sharp)
                cf = CollectedFace(str(path), face, vec, sharp, why)
                (out.rejected if why else out.faces).append(cf)
        if on_image is not None:
            on_image(n, len(paths))
    if cache is not None:
        cache.commit()
    log.info("collected %d faces (%d kept out) from %d photos", len(out.faces), len(out.rejected), len(paths))
    return out
