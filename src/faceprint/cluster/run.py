"""One clustering run over a collection: faces of enrolled people are named first, the rest are clustered (from
scratch, or joining clusters stored earlier), and everything is reported."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from faceprint.cluster.collect import CollectedFace, Collection
from faceprint.cluster.methods import cluster_vectors
from faceprint.cluster.saved import FaceKey, SavedClusters, face_key
from faceprint.cluster.threshold import (
    THRESHOLD_SCALE,
    collection_threshold,
    default_threshold,
)
from faceprint.errors import FaceprintError
from faceprint.recognize.identifier import Identifier
from faceprint.types import Embeddings

__all__ = ["DEFAULT_METHOD", "THRESHOLD_SCALE", "ClusterOutcome", "NamedFace", "cluster_collection", "default_threshold", "resolve_threshold"]

DEFAULT_METHOD = "agglomerative"


def resolve_threshold(
    method: str, threshold: float | None, model: str, vectors: np.ndarray | None = None, metric: str = "euclidean"
) -> float:
    """The threshold a run uses: the one given; else the one that follows the collection (`collection_threshold`)
    when its `vectors` are given, the method's fixed default for the model when not. HDBSCAN takes none, so giving
    one is refused rather than ignored."""
    if threshold is None:
        if vectors is not None and len(vectors):
            return collection_threshold(vectors, method, model, metric)
        return default_threshold(method, model)
    if method == "hdbscan":
        raise FaceprintError("hdbscan finds its own density levels and takes no --threshold; leave it out or choose another --method")
    return float(threshold)


@dataclass(frozen=True)
class NamedFace:
    """A face that identification gave to an enrolled person instead of clustering it (distance 0: a face of a
    cluster named by hand)."""

    face: CollectedFace
    person: str
    distance: float


def _face_dict(image: str, face: object, fid: int | None = None) -> dict[str, object]:
    out: dict[str, object] = {"image": image, "box": [round(float(v), 1) for v in face.box], "face_score": round(float(face.score), 4)}  # type: ignore[attr-defined]
    if fid is not None:
        out = {"id": fid, **out}
    return out


@dataclass(eq=False)
class ClusterOutcome:
    """What one run found: the clusters (all stored ones when joining a gallery's), faces named as enrolled
    people, and the collection it ran on (with the faces kept out and photos without a face)."""

    collection: Collection
    clusters: SavedClusters
    named: list[NamedFace] = field(default_factory=list)
    added: dict[str, int] | None = None
    """Counts of the incremental step when new photos joined stored clusters; None for a fresh clustering."""
    discarded: int = 0
    """Faces of this collection kept out because their cluster was discarded earlier."""

    def named_counts(self) -> dict[str, int]:
        """Faces named per person, most first (ties: by name)."""
        counts: dict[str, int] = {}
        for n in self.named:
            counts[n.person] = counts.get(n.person, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def to_dict(self) -> dict[str, object]:
        """The `--json` document: ``clusters: [{id, size, faces: [{id, image, box, face_score}]}]``, ``noise`` (faces
        left alone), ``people`` (faces named by the gallery), ``low_quality`` (faces kept out, with the reason).

        The summary counts what the lists hold: ``in_clusters`` is the sum of the cluster sizes and ``alone`` the
        length of ``noise`` (with a gallery, stored faces of earlier runs included), ``named`` the length of
        ``people`` (``named_people``: how many per person)."""
        c = self.clusters
        clusters = c.clusters()
        return {
            "model": c.model,
            "method": c.method,
            "threshold": c.threshold,
            "min_size": c.min_size,
            "clusters": [
                {"id": cid, "size": len(members), "faces": [_face_dict(f.image, f.face, f.id) for f in members]}
                for cid, members in clusters.items()
            ],
            "noise": [_face_dict(f.image, f.face, f.id) for f in c.alone()],
            "people": [dict(_face_dict(n.face.image, n.face.face), person=n.person, distance=round(n.distance, 4)) for n in self.named],
            "low_quality": [dict(_face_dict(f.image, f.face), reason=f.rejected) for f in self.collection.rejected],
            "images_without_face": self.collection.no_face,
            "unreadable": [{"image": p, "reason": r} for p, r in self.collection.unreadable],
            "summary": dict(self.collection.summary(), clusters=len(clusters), in_clusters=sum(len(m) for m in clusters.values()),
                            alone=len(c.alone()), named=len(self.named), named_people=self.named_counts(),
                            discarded=self.discarded),
            **({"added": self.added} if self.added is not None else {}),
        }


def _identify(faces: list[CollectedFace], identifier: Identifier, model: str, metric: str) -> tuple[list[NamedFace], list[CollectedFace]]:
    if not faces:
        return [], []
    matches = identifier.identify(Embeddings(np.stack([f.vector for f in faces]), model, metric), top_k=1)
    named = [NamedFace(f, m.person, float(m.distance)) for f, m in zip(faces, matches) if m.person is not None]
    rest = [f for f, m in zip(faces, matches) if m.person is None]
    return named, rest


def cluster_collection(
    collection: Collection,
    *,
    method: str | None = None,
    threshold: float | None = None,
    min_size: int = 2,
    identifier: Identifier | None = None,
    saved: SavedClusters | None = None,
    replacing: SavedClusters | None = None,
) -> ClusterOutcome:
    """Cluster a collection's faces.

    Args:
        method, threshold: default `DEFAULT_METHOD` and the threshold that follows the collection
            (`collection_threshold`).
        min_size: clusters with fewer faces leave them alone.
        identifier: faces it names (enrolled people within its threshold) are reported, not clustered.
        saved: clusters stored earlier: the faces join them (their method and settings apply; giving other ones
            is refused) instead of a fresh clustering. Faces the identifier now names leave them.
        replacing: without `saved`, the stored clusters a fresh clustering replaces (``--fresh``): what people
            decided there carries over.

    Either way, faces of clusters named by hand are reported as that person and faces of discarded clusters are
    kept out (`SavedClusters.name`, `SavedClusters.discard`).

    >>> outcome = cluster_collection(collect_faces(paths, analyzer))          # doctest: +SKIP
    >>> [len(f) for f in outcome.clusters.clusters().values()]                # doctest: +SKIP
    """
    model, metric = collection.model, collection.metric
    decided = saved if saved is not None else replacing
    by_hand: dict[FaceKey, str] = dict(decided.named) if decided is not None else {}
    kept_out: set[FaceKey] = set(decided.discarded) if decided is not None else set()
    faces, named, discarded = [], [], 0
    for f in collection.faces:
        key = face_key(f.image, f.face)
        if key in kept_out:
            discarded += 1
        elif key in by_hand:
            named.append(NamedFace(f, by_hand[key], 0.0))
        else:
            faces.append(f)
    found, rest = (_identify(faces, identifier, model, metric) if identifier is not None else ([], faces))
    named += found
    if saved is not None:
        asked = {"method": method, "threshold": threshold}
        stored = {"method": saved.method, "threshold": saved.threshold}
        clash = [k for k in asked if asked[k] is not None and asked[k] != stored[k]]
        if clash:
            raise FaceprintError(
                f"the stored clusters were made with method {saved.method}, threshold {saved.threshold}; new photos join "
                f"them with those settings (leave out --{' and --'.join(clash)}, or pass --fresh to recluster)"
            )
        saved.forget({face_key(n.face.image, n.face.face) for n in found})
        added = saved.add(rest)
        return ClusterOutcome(collection, saved, named, added, discarded)
    method = method or DEFAULT_METHOD
    thr = resolve_threshold(method, threshold, model, np.stack([f.vector for f in rest]) if rest else None, metric)
    if rest:
        labels = cluster_vectors(np.stack([f.vector for f in rest]), method=method, threshold=thr, min_size=min_size,
                                 metric=metric, groups=[f.image for f in rest])
    else:
        cluster_vectors(np.zeros((0, 1), np.float32), method=method, threshold=thr, min_size=min_size)  # validates the options
        labels = np.zeros(0, np.int64)
    clusters = SavedClusters.from_labels(rest, labels, model=model, metric=metric, method=method, threshold=thr, min_size=min_size)
    clusters.named, clusters.discarded = by_hand, kept_out
    return ClusterOutcome(collection, clusters, named, None, discarded)

