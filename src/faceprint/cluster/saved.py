"""Clusters kept in a gallery so that people can name, merge and split them, and new photos can join them.

Stored as one of the gallery's blobs (key ``clusters:<model>``): the faces (photo, box, score, landmarks, cluster id)
as JSON and their embeddings as float32 bytes. Cluster ids start at 1 and never change while the cluster exists;
new clusters get new ids. Faces left alone (no cluster) are kept too: new photos may give them company.

Incremental rule (`SavedClusters.add`): a new face joins the cluster whose average distance to it (average
linkage, the default method's own criterion) is smallest and at most the threshold, unless the cluster already
holds a face of its photo. The faces that join nothing are clustered together with the faces left alone so far,
with the stored method and settings, and become new clusters.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from faceprint.cluster.collect import CollectedFace, face_from_dict, face_to_dict
from faceprint.cluster.methods import cluster_vectors
from faceprint.errors import FaceprintError, GalleryError
from faceprint.gallery.store import Gallery
from faceprint.types import Face, pairwise_distances

__all__ = ["NoClusters", "SavedClusters", "SavedFace", "UnknownCluster", "face_key"]

log = logging.getLogger(__name__)

FORMAT = 1


class UnknownCluster(GalleryError):
    """No stored cluster (or clustered face) has this id; exit code 9, like an unknown person."""

    exit_code = 9


class NoClusters(GalleryError):
    """The gallery holds no clusters of this model: run `faceprint cluster DIR --gallery G` first; exit code 8."""

    exit_code = 8


def face_key(image: str, face: Face) -> tuple[str, tuple[int, ...]]:
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

    def vector_of(self, face: SavedFace) -> np.ndarray:
        return self.vectors[self.faces.index(face)]

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
        self.next_face += len(new)
        self.faces += new
        vecs = np.stack([f.vector for f in faces]).astype(np.float32) if faces else np.zeros((0, self.vectors.shape[1] if self.vectors.size else 0), np.float32)
        self.vectors = vecs if not self.vectors.size else np.concatenate([self.vectors, vecs]) if len(vecs) else self.vectors

    def add(self, faces: list[CollectedFace]) -> dict[str, int]:
        """New faces join existing clusters or form new ones (see the module's rule); faces already stored are
        skipped. Returns counts: ``joined``, ``new_clusters``, ``in_new_clusters``, ``alone``, ``known``."""
        keys = {face_key(f.image, f.face) for f in self.faces}
        fresh = []
        for f in faces:
            k = face_key(f.image, f.face)
            if k not in keys:
                keys.add(k)
                fresh.append(f)
        report = {"known": len(faces) - len(fresh), "joined": 0, "new_clusters": 0, "in_new_clusters": 0, "alone": 0}
        if not fresh:
            return report
        clusters = self.clusters()
        ids = list(clusters)
        assigned: list[int | None] = [None] * len(fresh)
        if ids:
            x = np.stack([f.vector for f in fresh]).astype(np.float32)
            index = {f.id: i for i, f in enumerate(self.faces)}
            avg = np.empty((len(fresh), len(ids)), np.float32)
            for j, cid in enumerate(ids):
                rows = [index[f.id] for f in clusters[cid]]
                avg[:, j] = pairwise_distances(x, self.vectors[rows], self.metric).mean(axis=1)
                photos = {str(Path(f.image).resolve()) for f in clusters[cid]}
                for i, f in enumerate(fresh):  # cannot-link with the cluster's own photos
                    if str(Path(f.image).resolve()) in photos:
                        avg[i, j] = np.inf
            best = np.argmin(avg, axis=1)
            for i in range(len(fresh)):
                if avg[i, best[i]] <= self.threshold:
                    assigned[i] = ids[int(best[i])]
            # cannot-link among the new faces: one face per photo per cluster, the nearest
            taken: dict[tuple[str, int], int] = {}
            for i in sorted(range(len(fresh)), key=lambda i: float(avg[i, best[i]]) if len(ids) else 0.0):
                if assigned[i] is None:
                    continue
                k = (str(Path(fresh[i].image).resolve()), assigned[i])  # type: ignore[assignment]
                if k in taken:
                    assigned[i] = None
                else:
                    taken[k] = i
        joined = [i for i, c in enumerate(assigned) if c is not None]
        report["joined"] = len(joined)
        self._append([fresh[i] for i in joined], [assigned[i] for i in joined])
        # The rest, with the faces left alone so far, clustered among themselves.
        rest = [fresh[i] for i, c in enumerate(assigned) if c is None]
        old_alone = [i for i, f in enumerate(self.faces) if f.cluster is None]
        pool_vecs = np.concatenate([self.vectors[old_alone], np.stack([f.vector for f in rest]).astype(np.float32)]) if rest else self.vectors[old_alone]
        pool_imgs = [self.faces[i].image for i in old_alone] + [f.image for f in rest]
        labels = cluster_vectors(pool_vecs, method=self.method, threshold=self.threshold, min_size=self.min_size,
                                 metric=self.metric, groups=[str(Path(p).resolve()) for p in pool_imgs]) if len(pool_imgs) else np.zeros(0, np.int64)
        new_ids = {int(l): self.next_cluster + int(l) for l in np.unique(labels[labels >= 0])}
        self.next_cluster += len(new_ids)
        report["new_clusters"] = len(new_ids)
        report["in_new_clusters"] = int((labels >= 0).sum())
        for pos, i in enumerate(old_alone):
            if labels[pos] >= 0:
                self.faces[i] = SavedFace(self.faces[i].id, self.faces[i].image, self.faces[i].face, new_ids[int(labels[pos])])
        rest_labels = labels[len(old_alone):]
        self._append(rest, [new_ids[int(l)] if l >= 0 else None for l in rest_labels])
        report["alone"] = int((rest_labels < 0).sum())
        return report

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
        """Remove cluster `cid` and return its faces with their embeddings (for naming it)."""
        members = self.cluster(cid)
        keep = [i for i, f in enumerate(self.faces) if f.cluster != cid]
        out = [(f, self.vectors[i]) for i, f in enumerate(self.faces) if f.cluster == cid]
        self.faces = [self.faces[i] for i in keep]
        self.vectors = self.vectors[keep]
        assert len(out) == len(members)
        return out

    # -- storage --------------------------------------------------------------------------------------------

    @staticmethod
    def blob_key(model: str) -> str:
        return f"clusters:{model}"

    @classmethod
    def load(cls, gallery: Gallery, model: str) -> SavedClusters | None:
        """The stored clusters of `model`, or None."""
        found = gallery.get_blob(cls.blob_key(model))
        if found is None:
            return None
        meta, data = found
        if meta.get("format") != FORMAT:
            raise GalleryError(f"{gallery.path}: stored clusters have format {meta.get('format')}, this faceprint reads {FORMAT}")
        faces = [SavedFace(int(d["id"]), d["image"], face_from_dict(d), d["cluster"]) for d in meta["faces"]]  # type: ignore[union-attr]
        dim = int(meta["dim"])  # type: ignore[arg-type]
        vecs = np.frombuffer(data, "<f4").reshape(len(faces), dim).astype(np.float32) if faces else np.zeros((0, dim), np.float32)
        return cls(model, str(meta["metric"]), str(meta["method"]), float(meta["threshold"]), int(meta["min_size"]),  # type: ignore[arg-type]
                   faces, vecs, int(meta["next_cluster"]), int(meta["next_face"]))  # type: ignore[arg-type]

    @classmethod
    def require(cls, gallery: Gallery, model: str) -> SavedClusters:
        saved = cls.load(gallery, model)
        if saved is None:
            raise NoClusters(f"{gallery.path}: no clusters of {model}; run `faceprint cluster DIR --gallery {gallery.path}` first")
        return saved

    def save(self, gallery: Gallery) -> None:
        meta = {
            "format": FORMAT, "model": self.model, "metric": self.metric, "method": self.method,
            "threshold": self.threshold, "min_size": self.min_size, "next_cluster": self.next_cluster,
            "next_face": self.next_face, "dim": int(self.vectors.shape[1]) if self.vectors.ndim == 2 else 0,
            "faces": [dict(face_to_dict(f.face), id=f.id, image=f.image, cluster=f.cluster) for f in self.faces],
        }
        gallery.put_blob(self.blob_key(self.model), meta, np.ascontiguousarray(self.vectors, "<f4").tobytes())


def photo_sha256(path: str) -> str:
    """The content hash a gallery records for a photo (sha256 of its bytes, as enrolment does)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
