"""On-disk cache of per-image embeddings, keyed by model pipeline, detector, absolute path and file stamp (size, mtime).

The model part of the key is the model's identity key (faceprint.models.identity: name, weights, every setting that
shapes its input, and the version bumped when detection or alignment code changes what a model sees); the
detector's name is part of the key because its box and landmarks make the crop.
Detector settings other than its name (minimum face size, score thresholds) are the defaults of the callers.

Re-running an evaluation re-embeds only images that changed. One SQLite file under the cache directory, so
an interrupted run keeps everything it finished.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceprint.models._weights import cache_dir
from faceprint.types import Face, face_from_json, face_to_json

__all__ = ["CachedEmbedding", "EmbeddingCache"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (
    model TEXT NOT NULL,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    vector BLOB NOT NULL,
    face TEXT,            -- JSON of the chosen Face, NULL when the central-region fallback was used
    n_faces INTEGER NOT NULL,
    PRIMARY KEY (model, path)
);
"""


@dataclass(frozen=True)
class CachedEmbedding:
    vector: np.ndarray
    face: Face | None
    n_faces: int


def _stamp(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return str(path.resolve()), st.st_size, st.st_mtime_ns


def pipeline_key(model: str) -> str:
    """The cache key of a model: its identity key (faceprint.models.identity), or for a name faceprint cannot build,
    the name alone."""
    from faceprint.errors import UnknownModel
    from faceprint.models.identity import model_identity

    try:
        return model_identity(model).key
    except UnknownModel:  # not a model faceprint can build: its name is all we know
        return f"{model}#unknown"


def _key(model: str, detector: str) -> str:
    """A cache row's key: the model's pipeline and the detector that found the face (its box feeds the crop)."""
    return f"{pipeline_key(model)}|{detector}"


class EmbeddingCache:
    """SQLite-backed cache; `path=None` uses <cache dir>/embeddings.sqlite."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else cache_dir() / "embeddings.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def get(self, model: str, image: str | os.PathLike[str], *, detector: str) -> CachedEmbedding | None:
        """The cached result for this image file as it is now, found by `detector`, or None if missing or stale."""
        key, size, mtime = _stamp(Path(image))
        row = self._db.execute(
            "SELECT vector, face, n_faces FROM embeddings WHERE model=? AND path=? AND size=? AND mtime_ns=?",
            (_key(model, detector), key, size, mtime),
        ).fetchone()
        if row is None:
            return None
        vec = np.frombuffer(row[0], dtype=np.float32).copy()
        face = None
        if row[1] is not None:
            d = json.loads(row[1])
            face = face_from_json(d)
        return CachedEmbedding(vec, face, int(row[2]))

    def put(
        self, model: str, image: str | os.PathLike[str], vector: np.ndarray, face: Face | None, n_faces: int, *, detector: str
    ) -> None:
        """Store (or replace) one image's embedding; committed at once so an interrupted run keeps it."""
        key, size, mtime = _stamp(Path(image))
        face_json = None
        if face is not None:
            face_json = json.dumps(face_to_json(face))
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?, ?, ?, ?, ?)",
                (_key(model, detector), key, size, mtime, np.asarray(vector, np.float32).tobytes(), face_json, n_faces),
            )

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> EmbeddingCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
