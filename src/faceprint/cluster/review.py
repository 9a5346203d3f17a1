"""Reviewing a gallery's stored clusters from the service: unknown faces of uploads joining them, a face moved or
taken out, a cluster or a face given to a person, and retention of the uploaded faces.

Unknown faces of uploads (kept only when the operator starts the server with ``--cluster-unknown``) are stored
like any clustered face, in the gallery's stored clusters (`SavedClusters`, blob ``clusters:<model>``), with their
crop (a small JPEG), their photo's sha256 and when they were kept, all inside the face's own record: erasure
(faceprint.gallery.erasure) that drops a face from the stored clusters drops its crop with it, and retention
(`faceprint.gallery.erasure.expire_cluster_faces`, run by `faceprint audit --keep-days`) erases every stored-cluster
face kept before the cut-off, these among them. Their ``image`` is ``upload:<sha256>``:
no file of them is kept.
"""

from __future__ import annotations

import base64
import time
from typing import Any

import numpy as np

from faceprint.cluster.collect import CollectedFace
from faceprint.cluster.constraints import mark_not_with
from faceprint.cluster.run import DEFAULT_METHOD, default_threshold
from faceprint.cluster.saved import SavedClusters, SavedFace, photo_sha256
from faceprint.errors import (
    AlreadyEnrolled,
    FaceprintError,
    UnknownCluster,
    UnknownModel,
)
from faceprint.gallery.stored_clusters import UPLOAD
from faceprint.types import Face

__all__ = ["UPLOAD", "enrol_faces", "face_crop", "keep_unknown", "move_face", "not_this_person", "take_face"]


def keep_unknown(store: Any, model: str, metric: str, faces: list[tuple[Face, np.ndarray, bytes]], sha256: str,
                 now: float | None = None) -> dict[str, int]:
    """Unknown faces of one uploaded photo (face, embedding, JPEG crop) join the stored clusters of `model`
    (created with the default method and threshold when there are none); returns `SavedClusters.add`'s counts."""
    with store.transaction():  # read, join and write under the gallery's write lock: replicas of one PostgreSQL
        # gallery (or processes on one SQLite file) keeping faces at once neither reuse a face id nor lose a face
        saved = SavedClusters.load(store, model)
        if saved is None:
            saved = SavedClusters(model, metric, DEFAULT_METHOD, default_threshold(DEFAULT_METHOD, model), 2)
        first = saved.next_face
        image = UPLOAD + sha256
        report = saved.add([CollectedFace(image, f, np.asarray(v, np.float32), 0.0) for f, v, _ in faces])
        stamp = time.time() if now is None else now
        by_box = {tuple(round(x) for x in f.box): crop for f, _, crop in faces}
        for sf in saved.faces:
            if sf.id >= first and sf.image == image:
                crop = by_box.get(tuple(round(x) for x in sf.face.box))
                saved.extras[sf.id] = {**saved.extras.get(sf.id, {}), "created": stamp, "sha256": sha256,
                                       **({"crop": base64.b64encode(crop).decode()} if crop else {})}
        saved.save(store)
    return report


def face_crop(saved: SavedClusters, face_id: int) -> bytes | None:
    """The stored crop of a clustered face (faces kept from uploads), or None."""
    crop = saved.extras.get(face_id, {}).get("crop")
    return base64.b64decode(str(crop)) if crop else None


def saved_face(saved: SavedClusters, face_id: int) -> tuple[int, SavedFace]:
    """The position and record of a clustered face (UnknownCluster when there is none)."""
    for i, f in enumerate(saved.faces):
        if f.id == face_id:
            return i, f
    raise UnknownCluster(f"no clustered face {face_id}")


def move_face(saved: SavedClusters, face_id: int, cluster: int) -> int | None:
    """Put a face into another cluster; it is recorded as not the person of the cluster it leaves (so a later run
    does not put it back). Returns the cluster it left."""
    saved.cluster(cluster)  # UnknownCluster first
    i, f = saved_face(saved, face_id)
    if f.cluster == cluster:
        raise FaceprintError(f"face {face_id} is in cluster {cluster} already")
    if f.cluster is not None:
        mark_not_with(saved, face_id, [g.id for g in saved.cluster(f.cluster) if g.id != face_id])
    saved.faces[i] = SavedFace(f.id, f.image, f.face, cluster)
    return f.cluster


def not_this_person(saved: SavedClusters, face_id: int) -> int:
    """Take a face out of its cluster as not that cluster's person: a cannot-link with every face left there, which
    later runs keep (cluster/constraints.py). Returns the cluster it left."""
    i, f = saved_face(saved, face_id)
    if f.cluster is None:
        raise FaceprintError(f"face {face_id} is in no cluster")
    mark_not_with(saved, face_id, [g.id for g in saved.cluster(f.cluster) if g.id != face_id])
    saved.faces[i] = SavedFace(f.id, f.image, f.face, None)
    return f.cluster


def take_face(saved: SavedClusters, face_id: int) -> tuple[SavedFace, np.ndarray]:
    """Remove one face from the stored clusters and return it with its embedding (to enrol it)."""
    i, f = saved_face(saved, face_id)
    vec = saved.vectors[i].copy()
    keep = [j for j in range(len(saved.faces)) if j != i]
    saved.faces = [saved.faces[j] for j in keep]
    saved.vectors = saved.vectors[keep]
    return f, vec


def enrol_faces(store: Any, saved: SavedClusters, faces: list[tuple[SavedFace, np.ndarray]], name: str
                ) -> tuple[list[int], list[tuple[int, str]], dict[int, bytes]]:
    """Enrol faces taken from the clusters as `name` (inside the caller's write): a face kept from an upload keeps
    its crop as the enrolled face's image. Returns the new face ids, the (clustered face id, reason) of those
    skipped (their photo is enrolled already: a gallery holds one face per photo and model) and the crops to store
    (enrolled face id -> JPEG), which the caller stores after the transaction. The enrolment is audited."""
    from faceprint.gallery.audit import record_enrolment
    from faceprint.models.identity import model_identity

    try:
        identity = model_identity(saved.model)
    except UnknownModel:
        identity = store.model_record(saved.model)
    added: list[int] = []
    skipped: list[tuple[int, str]] = []
    crops: dict[int, bytes] = {}
    done: list[tuple[str, str]] = []
    with store.transaction():
        for f, vec in faces:
            extra = saved.extras.get(f.id, {})
            try:
                sha = str(extra["sha256"]) if "sha256" in extra else photo_sha256(f.image)
            except OSError:
                skipped.append((f.id, f"its photo {f.image} cannot be read"))
                continue
            try:
                fid = store.add_face(name, f.image, sha, f.face, vec, saved.model, identity)
            except AlreadyEnrolled as exc:
                skipped.append((f.id, f"its photo is enrolled already{f' as {exc.person}' if getattr(exc, 'person', None) else ''}"))
                continue
            added.append(fid)
            done.append((name, f.image))
            crop = face_crop(saved, f.id)
            if crop is not None:
                crops[fid] = crop
        record_enrolment(store, done, saved.model)  # the audit log names who enrolled them (gallery/audit.py)
    return added, skipped, crops
