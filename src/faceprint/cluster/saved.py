"""Clusters kept in a gallery so that people can name, merge and split them, and new photos can join them.

Stored in the gallery (gallery/stored_clusters.py): a header blob (key ``clusters:<model>``) with the settings,
and one row per face (photo, box, score, landmarks, cluster id as JSON, and its embedding as float32 bytes); a save
writes only the rows that changed. Cluster ids start at 1 and never change while the cluster exists;
new clusters get new ids. Faces left alone (no cluster) are kept too: new photos may give them company.

Incremental rule (`SavedClusters.add`): only the neighbourhood of the new faces is clustered again: the stored
faces in the connected components of the threshold graph (pairs at or below the threshold) that the new faces
reach, whole clusters included, with the stored method and settings. Average linkage never joins faces of
different components, so for the default method this gives the clusters a full recluster would give, and the
rest of the collection is not touched. A cluster keeps its id when the new cluster holds most of its faces.

What people decided stays decided: faces of a named cluster are remembered with their name (`name`) and reported as
that person by later runs, faces of a discarded cluster (`discard`: partial faces, posters, junk) are remembered and
kept out of later runs, and a face that the gallery names in a later run leaves its cluster (`forget`): no face is
ever both in a cluster and named.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from faceprint.cluster.collect import CollectedFace
from faceprint.cluster.methods import cluster_vectors
from faceprint.errors import FaceprintError, GalleryError, NoClusters, UnknownCluster
from faceprint.gallery.store import Gallery
from faceprint.gallery.stored_clusters import FORMAT, KIND, ONE_BLOB, read_clustering
from faceprint.types import Face, face_from_json, face_to_json, pairwise_distances

__all__ = ["FaceKey", "NoClusters", "SavedClusters", "SavedFace", "UnknownCluster", "face_key", "gallery_cluster_model"]

log = logging.getLogger(__name__)

EXTRA_KEYS = ("crop", "created", "sha256", "not_with")
"""Per-face fields kept beside the face's box (`SavedClusters.extras`)."""


FaceKey = tuple[str, tuple[int, ...]]


def face_key(image: str, face: Face) -> FaceKey:
    """What identifies a face across runs: its photo's absolute path and its box rounded to pixels."""
    return (str(Path(image).resolve()), tuple(int(round(v)) for v in face.box))


@dataclass(frozen=True)
class SavedFace:
    id: int
    image: str
    face: Face
    cluster: int | None


@dataclass(eq=False)
class SavedClusters:
    """A gallery's clusters of one model's faces, with the settings that made them."""

    model: str
    metric: str
    method: str
    threshold: float
    min_size: int
    faces: list[SavedFace] = field(default_factory=list)
    vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    next_cluster: int = 1
    next_face: int = 1
    named: dict[FaceKey, str] = field(default_factory=dict)
    """Faces of clusters named by hand (`name`), with the name: later runs report them as that person."""
    discarded: set[FaceKey] = field(default_factory=set)
    """Faces of discarded clusters (`discard`): later runs keep them out."""
    extras: dict[int, dict[str, object]] = field(default_factory=dict)
    """Face id -> what the service keeps with a face beside its box (cluster/review.py: ``crop``, ``created``,
    ``sha256`` of an upload, ``not_with``); stored inside the face's own record, so erasure that drops the face
    drops them too."""
    _stored: dict[int, dict[str, object]] = field(default_factory=dict, init=False, repr=False)
    """Face id -> its record as the gallery holds it (after `load` or `save`): `save` writes only the rows that differ."""
    _stored_at: tuple[str, str] | None = field(default=None, init=False, repr=False)
    """(gallery, key) that `_stored` describes; saving elsewhere (or a fresh clustering) replaces every row there."""

    # -- reading --------------------------------------------------------------------------------------------

    def clusters(self) -> dict[int, list[SavedFace]]:
        """Cluster id -> its faces, largest cluster first (ties: lower id first)."""
        by: dict[int, list[SavedFace]] = {}
        for f in self.faces:
            if f.cluster is not None:
                by.setdefault(f.cluster, []).append(f)
        return dict(sorted(by.items(), key=lambda kv: (-len(kv[1]), kv[0])))

    def alone(self) -> list[SavedFace]:
        return [f for f in self.faces if f.cluster is None]

    def cluster(self, cid: int) -> list[SavedFace]:
        members = [f for f in self.faces if f.cluster == cid]
        if not members:
            known = ", ".join(str(c) for c in sorted(self.clusters())[:20]) or "none"
            raise UnknownCluster(f"no cluster {cid} (clusters: {known})")
        return members

    def partition(self) -> set[frozenset[tuple[str, tuple[int, ...]]]]:
        """The clusters as sets of face keys: what two clusterings of the same photos are compared by."""
        return {frozenset(face_key(f.image, f.face) for f in members) for members in self.clusters().values()}

    # -- building -------------------------------------------------------------------------------------------

    @classmethod
    def from_labels(
        cls, faces: list[CollectedFace], labels: np.ndarray, *, model: str, metric: str, method: str, threshold: float, min_size: int
    ) -> SavedClusters:
        """Clusters from one clustering run's labels (0, 1, ... largest first, -1 alone): ids 1, 2, ..."""
        saved = cls(model, metric, method, float(threshold), int(min_size))
        saved._append(faces, [int(l) + 1 if l >= 0 else None for l in labels])
        saved.next_cluster = int(max((l for l in labels if l >= 0), default=-1)) + 2
        return saved

    def _append(self, faces: list[CollectedFace], clusters: list[int | None]) -> None:
        new = [SavedFace(self.next_face + i, f.image, f.face, c) for i, (f, c) in enumerate(zip(faces, clusters))]
        now = time.time()
        for f in new:  # when it was kept: retention expires it by that (faceprint.gallery.erasure.expire_cluster_faces)
            self.extras[f.id] = {**self.extras.get(f.id, {}), "created": now}
        self.next_face += len(new)
        self.faces += new
        vecs = np.stack([f.vector for f in faces]).astype(np.float32) if faces else np.zeros((0, self.vectors.shape[1] if self.vectors.size else 0), np.float32)
        self.vectors = vecs if not self.vectors.size else np.concatenate([self.vectors, vecs]) if len(vecs) else self.vectors

    def add(self, faces: list[CollectedFace]) -> dict[str, int]:
        """New faces join the stored clusters (see the module's rule); faces already stored are skipped.

        Returns counts: ``joined`` (new faces now in a cluster that existed), ``new_clusters``, ``in_new_clusters``
        (new faces in them), ``alone`` (new faces left alone), ``known`` (faces skipped as already stored) and
        ``reclustered`` (stored faces whose neighbourhood was clustered again).
        """
        keys = {face_key(f.image, f.face) for f in self.faces} | self.discarded | set(self.named)
        fresh: list[CollectedFace] = []
        for f in faces:
            k = face_key(f.image, f.face)
            if k not in keys:
                keys.add(k)
                fresh.append(f)
        report = {"known": len(faces) - len(fresh), "joined": 0, "new_clusters": 0, "in_new_clusters": 0, "alone": 0, "reclustered": 0}
        if not fresh:
            return report
        new_vecs = np.stack([f.vector for f in fresh]).astype(np.float32)
        affected = self._touched(new_vecs)
        report["reclustered"] = len(affected)
        pool_vecs = np.concatenate([self.vectors[affected], new_vecs]) if affected else new_vecs
        pool_imgs = [self.faces[i].image for i in affected] + [f.image for f in fresh]
        labels = cluster_vectors(pool_vecs, method=self.method, threshold=self.threshold, min_size=self.min_size,
                                 metric=self.metric, groups=[str(Path(p).resolve()) for p in pool_imgs])
        # Old ids go to the new clusters that keep most of their faces (largest overlaps first).
        overlaps: list[tuple[int, int, int]] = []
        for lab in np.unique(labels[labels >= 0]):
            members = np.flatnonzero(labels == lab)
            old = [self.faces[affected[m]].cluster for m in members if m < len(affected)]
            for cid in set(c for c in old if c is not None):
                overlaps.append((old.count(cid), int(lab), cid))
        ids: dict[int, int] = {}
        used: set[int] = set()
        for _, lab, cid in sorted(overlaps, key=lambda t: (-t[0], t[1], t[2])):
            if lab not in ids and cid not in used:
                ids[lab], _ = cid, used.add(cid)
        old_ids = set(ids.values())
        for lab in np.unique(labels[labels >= 0]):
            if int(lab) not in ids:
                ids[int(lab)] = self.next_cluster
                self.next_cluster += 1
                report["new_clusters"] += 1
        for pos, i in enumerate(affected):
            f = self.faces[i]
            self.faces[i] = SavedFace(f.id, f.image, f.face, ids[int(labels[pos])] if labels[pos] >= 0 else None)
        new_labels = labels[len(affected):]
        assigned = [ids[int(l)] if l >= 0 else None for l in new_labels]
        report["joined"] = sum(1 for c in assigned if c is not None and c in old_ids)
        report["in_new_clusters"] = sum(1 for c in assigned if c is not None and c not in old_ids)
        report["alone"] = sum(1 for c in assigned if c is None)
        self._append(fresh, assigned)
        from faceprint.cluster.constraints import enforce_cannot_links

        report["alone"] += len(enforce_cannot_links(self))
        return report

    def _touched(self, new_vecs: np.ndarray, block: int = 1024) -> list[int]:
        """Stored faces in the connected components (pairs at or below the threshold) that the new faces reach,
        whole clusters included: the part of the collection that a full recluster could group differently."""
        n = len(self.faces)
        if n == 0:
            return []
        cluster_rows: dict[int, list[int]] = {}
        for i, f in enumerate(self.faces):
            if f.cluster is not None:
                cluster_rows.setdefault(f.cluster, []).append(i)
        inside = np.zeros(n, bool)
        frontier = new_vecs
        while len(frontier):
            reached = np.zeros(n, bool)
            for s in range(0, len(frontier), block):
                reached |= (pairwise_distances(frontier[s : s + block], self.vectors, self.metric) <= self.threshold).any(axis=0)
            added = reached & ~inside
            for i in np.flatnonzero(added):
                c = self.faces[i].cluster
                if c is not None:
                    added[cluster_rows[c]] = True
            added &= ~inside
            inside |= added
            frontier = self.vectors[added]
        return np.flatnonzero(inside).tolist()

    # -- editing --------------------------------------------------------------------------------------------

    def merge(self, ids: list[int]) -> int:
        """Merge clusters into the first id given; returns it."""
        if len(ids) < 2:
            raise FaceprintError("merge needs at least two cluster ids")
        for cid in ids:
            self.cluster(cid)
        target = ids[0]
        self.faces = [SavedFace(f.id, f.image, f.face, target) if f.cluster in ids else f for f in self.faces]
        return target

    def split(self, cid: int, face_ids: list[int]) -> int:
        """Move the given faces of cluster `cid` into a new cluster; returns its id."""
        members = {f.id for f in self.cluster(cid)}
        wrong = [i for i in face_ids if i not in members]
        if wrong or not face_ids:
            raise UnknownCluster(f"cluster {cid} holds faces {sorted(members)}; not {wrong or 'none given'}")
        if len(set(face_ids)) == len(members):
            raise FaceprintError(f"splitting every face out of cluster {cid} would leave it empty; name or merge it instead")
        new = self.next_cluster
        self.next_cluster += 1
        self.faces = [SavedFace(f.id, f.image, f.face, new) if f.id in face_ids else f for f in self.faces]
        return new

    def take(self, cid: int) -> list[tuple[SavedFace, np.ndarray]]:
        """Remove cluster `cid` and return its faces with their embeddings."""
        members = self.cluster(cid)
        keep = [i for i, f in enumerate(self.faces) if f.cluster != cid]
        out = [(f, self.vectors[i]) for i, f in enumerate(self.faces) if f.cluster == cid]
        self._keep(keep)
        assert len(out) == len(members)
        return out

    def name(self, cid: int, person: str) -> list[tuple[SavedFace, np.ndarray]]:
        """Remove cluster `cid`, remember its faces as `person` and return them with their embeddings (to enrol)."""
        out = self.take(cid)
        for f, _ in out:
            self.named[face_key(f.image, f.face)] = person
        return out

    def discard(self, cid: int) -> int:
        """Remove cluster `cid` and keep its faces out of later runs; returns how many faces it held."""
        out = self.take(cid)
        self.discarded.update(face_key(f.image, f.face) for f, _ in out)
        return len(out)

    def forget(self, keys: set[FaceKey]) -> int:
        """Remove the stored faces with these keys (faces the gallery now names) from clusters and from the faces
        left alone; returns how many were removed."""
        keep = [i for i, f in enumerate(self.faces) if face_key(f.image, f.face) not in keys]
        removed = len(self.faces) - len(keep)
        if removed:
            self._keep(keep)
        return removed

    def _keep(self, rows: list[int]) -> None:
        self.faces = [self.faces[i] for i in rows]
        self.vectors = self.vectors[rows] if len(self.vectors) else self.vectors

    # -- storage --------------------------------------------------------------------------------------------

    @staticmethod
    def blob_key(gallery: Gallery, model: str) -> str:
        """Keyed by the model's identity (Gallery.data_key): clusters of an older pipeline's vectors are not loaded."""
        return gallery.data_key(KIND, model)

    @classmethod
    def load(cls, gallery: Gallery, model: str) -> SavedClusters | None:
        """The stored clusters of `model`, or None."""
        found = read_clustering(gallery, cls.blob_key(gallery, model))
        if found is None:
            return None
        meta, records, vecs, _ = found
        if meta.get("format") not in (FORMAT, ONE_BLOB):
            raise GalleryError(f"{gallery.path}: stored clusters have format {meta.get('format')}, this faceprint reads {FORMAT}")
        faces = [SavedFace(int(d["id"]), d["image"], face_from_json(d), d["cluster"]) for d in records]
        extras = {int(d["id"]): {k: d[k] for k in EXTRA_KEYS if k in d} for d in records}
        dim = int(meta["dim"])
        vecs = vecs.astype(np.float32) if faces else np.zeros((0, dim), np.float32)
        named = {_key(d): str(d["person"]) for d in meta.get("named", [])}
        discarded = {_key(d) for d in meta.get("discarded", [])}
        saved = cls(model, str(meta["metric"]), str(meta["method"]), float(meta["threshold"]), int(meta["min_size"]),
                    faces, vecs, int(meta["next_cluster"]), int(meta["next_face"]), named, discarded,
                    {i: e for i, e in extras.items() if e})
        if meta.get("format") == FORMAT:
            saved._stored = {int(d["id"]): d for d in records}
            saved._stored_at = (str(gallery.path), cls.blob_key(gallery, model))
        return saved

    @classmethod
    def require(cls, gallery: Gallery, model: str) -> SavedClusters:
        saved = cls.load(gallery, model)
        if saved is None:
            raise NoClusters(f"{gallery.path}: no clusters of {model}; run `faceprint cluster DIR --gallery {gallery.path}` first")
        return saved

    def _record(self, f: SavedFace) -> dict[str, object]:
        """A face's stored record (its row of ``cluster_faces``, gallery/stored_clusters.py)."""
        return dict(face_to_json(f.face), **{k: v for k, v in self.extras.get(f.id, {}).items() if k in EXTRA_KEYS},
                    id=f.id, image=f.image, cluster=f.cluster)

    def save(self, gallery: Gallery) -> None:
        """Store the clusters: the header and the rows of the faces added, changed or removed since they were
        loaded or last saved (one face kept writes one row, not every face)."""
        meta = {
            "format": FORMAT, "model": self.model, "metric": self.metric, "method": self.method,
            "threshold": self.threshold, "min_size": self.min_size, "next_cluster": self.next_cluster,
            "next_face": self.next_face, "dim": int(self.vectors.shape[1]) if self.vectors.ndim == 2 else 0,
            "named": [{"image": k[0], "box": list(k[1]), "person": p} for k, p in sorted(self.named.items())],
            "discarded": [{"image": k[0], "box": list(k[1])} for k in sorted(self.discarded)],
        }
        key = self.blob_key(gallery, self.model)
        here = (str(gallery.path), key)
        stored = self._stored if self._stored_at == here else {}
        records = {f.id: self._record(f) for f in self.faces}
        rows = {f.id: i for i, f in enumerate(self.faces)}
        put = [(fid, json.dumps(r), np.ascontiguousarray(self.vectors[rows[fid]], "<f4").tobytes())
               for fid, r in records.items() if stored.get(fid) != r]
        drop = [fid for fid in stored if fid not in records]
        gallery.write_cluster_faces(key, meta, put, drop, replace=self._stored_at != here)
        self._stored, self._stored_at = records, here

def gallery_cluster_model(gallery: Gallery) -> str:
    """The model a clustering run on `gallery` uses when none is named: the model of its stored clusters (when it
    holds clusters of one model), else the model most of its faces are enrolled with, else DEFAULT_MODEL (what
    `identify` and `serve` use). So `cluster --gallery` names enrolled people and joins the clusters the service
    keeps, and `people name-cluster` enrols faces of the model the gallery is searched with."""
    from faceprint.models import DEFAULT_MODEL

    stored = set()
    for key in gallery.blob_keys():
        if key.startswith(KIND + ":"):
            found = gallery.get_blob(key)
            if found is not None and found[0].get("model"):
                stored.add(str(found[0]["model"]))
    if len(stored) == 1:
        return stored.pop()
    enrolled = gallery.models()
    if enrolled:
        return max(sorted(enrolled), key=lambda m: enrolled[m])
    return DEFAULT_MODEL


def _key(d: dict) -> FaceKey:  # type: ignore[type-arg]
    return (str(d["image"]), tuple(int(v) for v in d["box"]))


def photo_sha256(path: str) -> str:
    """The content hash a gallery records for a photo (sha256 of its bytes, as enrolment does)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
