"""The stored clusters' layout in a gallery, as far as the gallery itself needs it: erasure and retention drop faces
from them without the cluster layer above (faceprint.cluster.saved reads and writes them whole).

Each clustering is one blob, key ``clusters:<model identity>``: its metadata holds ``format``, ``dim`` and
``faces`` (one JSON record a face, in the order of the vectors), its bytes the faces' float32 vectors. Each face's
record holds ``created``, when it was kept (unix seconds; gallery schema step 6 on SQLite, 3 on PostgreSQL gave the
faces kept before it the time of the upgrade), which retention expires it by (faceprint.gallery.erasure).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["FORMAT", "KIND", "UPLOAD", "drop_faces", "faces_kept_before", "kept_before"]

FORMAT = 1
"""The layout version of a stored clustering's blob."""
KIND = "clusters"
"""The kind of their keys (Gallery.data_key): ``clusters:<model identity>``."""
UPLOAD = "upload:"
"""The ``image`` of a face kept from an upload: ``upload:<sha256 of the photo>`` (faceprint.cluster.review)."""


def drop_faces(store: Any, which: Callable[[list[dict[str, Any]], np.ndarray], np.ndarray]) -> int:
    """Drop faces from every stored clustering: `which(faces, vectors)` (face records, float32 vectors n x dim,
    n x 0 when the clustering holds no dimension) returns a boolean mask of the faces to drop. Blobs of another
    format are left alone. Returns how many faces went."""
    removed = 0
    for key in [k for k in store.blob_keys() if k.startswith(KIND + ":")]:
        found = store.get_blob(key)
        if found is None:
            continue
        meta, data = found
        if meta.get("format") != FORMAT:
            continue
        faces: list[dict[str, Any]] = list(meta["faces"])
        dim = int(meta["dim"])
        vecs = np.frombuffer(data, "<f4").reshape(len(faces), dim) if faces and dim else np.zeros((len(faces), 0), "<f4")
        gone = np.asarray(which(faces, vecs), bool)
        if not gone.any():
            continue
        meta = {**meta, "faces": [f for f, g in zip(faces, gone) if not g]}
        store.put_blob(key, meta, np.ascontiguousarray(vecs[~gone], "<f4").tobytes())
        removed += int(gone.sum())
    return removed


def kept_before(faces: list[dict[str, Any]], before: float) -> np.ndarray:
    """Which face records were kept before `before` (unix time); a record without a time (none after the schema
    step that stamped them) counts as kept long ago."""
    return np.array([float(f.get("created", 0.0)) < before for f in faces], bool)


def faces_kept_before(store: Any, before: float) -> list[tuple[dict[str, Any], np.ndarray]]:
    """(face record, float32 vector, empty when the clustering has no dimension) of every stored-cluster face kept
    before `before`: what retention erases (faceprint.gallery.erasure.expire_cluster_faces)."""
    out: list[tuple[dict[str, Any], np.ndarray]] = []

    def collect(faces: list[dict[str, Any]], vecs: np.ndarray) -> np.ndarray:
        old = kept_before(faces, before)
        out.extend((f, vecs[i]) for i, f in enumerate(faces) if old[i])
        return np.zeros(len(faces), bool)  # nothing dropped here

    drop_faces(store, collect)
    return out
