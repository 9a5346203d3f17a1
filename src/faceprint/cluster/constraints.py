"""Cannot-link constraints that people add while reviewing clusters ("not this person"), kept by later runs.

A face marked "not this person" in a cluster records the ids of that cluster's other faces in its ``not_with``
list (`SavedClusters.extras`). Clustering itself knows nothing of it; after every incremental run
(`SavedClusters.add`) `enforce_cannot_links` takes a marked face out of any cluster that holds one of the faces it
must not be with, so the review survives new photos joining the clusters.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from faceprint.errors import UnknownCluster

if TYPE_CHECKING:
    from faceprint.cluster.saved import SavedClusters

__all__ = ["enforce_cannot_links", "mark_not_with", "not_with"]


def not_with(saved: SavedClusters, face_id: int) -> set[int]:
    """The face ids `face_id` must not share a cluster with."""
    ids: Any = saved.extras.get(face_id, {}).get("not_with", [])
    return {int(i) for i in ids}


def mark_not_with(saved: SavedClusters, face_id: int, others: list[int]) -> None:
    """Record that face `face_id` is not the person of faces `others` (ids of the same clusters)."""
    ids = {f.id for f in saved.faces}
    if face_id not in ids:
        raise UnknownCluster(f"no clustered face {face_id}")
    entry = saved.extras.setdefault(face_id, {})
    entry["not_with"] = sorted(not_with(saved, face_id) | {int(o) for o in others if o != face_id and o in ids})


def enforce_cannot_links(saved: SavedClusters) -> list[int]:
    """Leave alone every marked face whose cluster holds a face it must not be with; returns their ids."""
    from faceprint.cluster.saved import SavedFace

    where = {f.id: f.cluster for f in saved.faces}
    broken: list[int] = []
    for i, f in enumerate(saved.faces):
        if f.cluster is None:
            continue
        if any(where.get(o) == f.cluster for o in not_with(saved, f.id)):
            saved.faces[i] = SavedFace(f.id, f.image, f.face, None)
            where[f.id] = None
            broken.append(f.id)
    return broken
