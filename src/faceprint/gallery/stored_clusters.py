"""The stored clusters' layout in a gallery, as far as the gallery itself needs it: erasure and retention drop faces
from them without the cluster layer above (faceprint.cluster.saved reads and writes them).

Each clustering has a header blob, key ``clusters:<model identity>``, whose metadata holds ``format``, ``dim`` and
the clustering's settings, and one row per face in the gallery's ``cluster_faces`` table (format 2): the face's
JSON record (id, image, box, cluster, per-face extras) and its float32 vector. Keeping one face writes its row and
the header, not every face again. Format 1 (every face's record in the blob's metadata and the vectors end to end
in its bytes) is what galleries held before; their schema migration splits it into rows, and a read-only gallery
not yet migrated is still read in it (`read_clustering`). Each face's record holds ``created``, when it was kept
(unix seconds; SQLite schema step 6 and PostgreSQL step 3 gave the faces kept before them the time of the upgrade),
which retention expires it by (faceprint.gallery.erasure.expire_cluster_faces).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["FORMAT", "KIND", "ONE_BLOB", "UPLOAD", "drop_faces", "faces_kept_before", "kept_before", "read_clustering"]

FORMAT = 2
"""The layout version of a stored clustering (2: a header blob and one row per face)."""
ONE_BLOB = 1
"""The earlier layout: every face inside the header blob (read, never written)."""
KIND = "clusters"
"""The kind of their keys (Gallery.data_key): ``clusters:<model identity>``."""
UPLOAD = "upload:"
"""The ``image`` of a face kept from an upload: ``upload:<sha256 of the photo>`` (faceprint.cluster.review)."""


def read_clustering(store: Any, key: str) -> tuple[dict[str, Any], list[dict[str, Any]], np.ndarray, list[str]] | None:
    """A stored clustering: (header metadata, face records, float32 vectors n x dim, each face's record as stored),
    or None when there is none. Raises nothing on another format: the caller checks ``meta["format"]``."""
    found = store.get_blob(key)
    if found is None:
        return None
    meta, data = found
    dim = int(meta.get("dim", 0) or 0)
    if meta.get("format") == ONE_BLOB:
        faces = list(meta.get("faces", []))
        vecs = np.frombuffer(data, "<f4").reshape(len(faces), dim) if faces and dim else np.zeros((len(faces), dim), "<f4")
        return meta, faces, vecs, [""] * len(faces)
    if meta.get("format") != FORMAT:
        return meta, [], np.zeros((0, dim), "<f4"), []
    rows = store.cluster_face_rows(key)
    texts = [r for _, r, _ in rows]
    vecs = np.frombuffer(b"".join(v for *_, v in rows), "<f4").reshape(len(rows), dim) if rows and dim else np.zeros((len(rows), dim), "<f4")
    return meta, [json.loads(t) for t in texts], vecs, texts


def drop_faces(store: Any, which: Callable[[list[dict[str, Any]], np.ndarray], np.ndarray]) -> int:
    """Drop faces from every stored clustering: `which(faces, vectors)` (face records, float32 vectors n x dim,
    n x 0 when the clustering holds no dimension) returns a boolean mask of the faces to drop. Clusterings of
    another format are left alone. Returns how many faces went."""
    removed = 0
    for key in [k for k in store.blob_keys() if k.startswith(KIND + ":")]:
        found = read_clustering(store, key)
        if found is None or found[0].get("format") != FORMAT:
            continue
        meta, faces, vecs, _ = found
        gone = np.asarray(which(faces, vecs), bool)
        if not gone.any():
            continue
        store.write_cluster_faces(key, meta, [], [int(f["id"]) for f, g in zip(faces, gone) if g])
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
