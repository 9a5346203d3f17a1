"""Identify every face in a list of photos against a gallery: the job behind `faceprint identify`."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from faceprint.analyzer import FaceAnalyzer
from faceprint.errors import NoImagesFound
from faceprint.image import ImageSource, list_images
from faceprint.models.identity import model_identity
from faceprint.recognize.identifier import Candidate, GalleryEmbeddings, Identifier, Match
from faceprint.recognize.open_set import (
    DEFAULT_FAR,
    OpenSetThreshold,
    gallery_impostors,
    model_impostors,
    open_set_threshold,
    threshold_setting,
)
from faceprint.types import Face

if TYPE_CHECKING:
    from faceprint.gallery.store import GalleryStore as Gallery

__all__ = ["FaceResult", "build_identifier", "expand_paths", "gallery_threshold", "identify_images", "threshold_for"]


@dataclass(frozen=True, repr=False)
class FaceResult:
    """One detected face (or one faceless/unreadable image) and its verdict."""

    image: str
    face: Face | None
    match: Match | None
    error: str | None = None

    @property
    def box(self) -> tuple[float, float, float, float] | None:
        return self.face.box if self.face else None

    @property
    def person(self) -> str | None:
        """The identified person; None when UNKNOWN, faceless or unreadable."""
        return self.match.person if self.match else None

    @property
    def unknown(self) -> bool:
        """True when a face was found but matches nobody enrolled closely enough."""
        return self.match is not None and self.match.unknown

    @property
    def closest(self) -> str | None:
        return self.match.closest if self.match else None

    @property
    def distance(self) -> float | None:
        return self.match.distance if self.match else None

    @property
    def score(self) -> float | None:
        """The open-set score the threshold applied to, when it is not the distance (faceprint.recognize.score_law)."""
        return self.match.score if self.match else None

    @property
    def confidence(self) -> float | None:
        return self.match.confidence if self.match else None

    @property
    def candidates(self) -> list[Candidate]:
        return list(self.match.candidates) if self.match else []

    def __repr__(self) -> str:
        if self.error is not None:
            return f"FaceResult(image={self.image!r}, error={self.error!r})"
        if self.match is None:
            return f"FaceResult(image={self.image!r}, face=None)"
        box = tuple(round(float(v), 1) for v in self.face.box) if self.face else None
        who = f"person={self.person!r}" if self.person else f"unknown, closest={self.closest!r}"
        return f"FaceResult(image={self.image!r}, box={box}, {who}, distance={self.distance:.4f}, confidence={self.confidence:.3f})"

    def to_dict(self) -> dict[str, object]:
        m = self.match
        return {
            "image": self.image,
            "box": [round(v, 1) for v in self.face.box] if self.face else None,
            "person": m.person if m else None,
            "unknown": m.unknown if m else None,
            "closest": m.closest if m else None,
            "distance": round(m.distance, 4) if m else None,
            "score": round(m.score, 4) if m and m.score is not None else None,
            "confidence": round(m.confidence, 4) if m else None,
            "candidates": [{"person": c.person, "distance": round(c.distance, 4), "confidence": round(c.confidence, 4)} for c in m.candidates] if m else [],
            "error": self.error,
        }


def threshold_for(gallery: Gallery, model: str, default: float | None) -> float | None:
    """The gallery's calibrated threshold for this model if one was stored (faceprint calibrate), else `default`."""
    stored = gallery.get_setting(threshold_setting(gallery, model))
    return float(stored) if stored is not None else default


def gallery_threshold(gallery: Gallery, model: str, photos_per_person: Sequence[int], far: float = DEFAULT_FAR,
                      threshold: float | None = None, default: float | None = None) -> OpenSetThreshold:
    """The open-set threshold for this gallery's enrolled faces of `model` (`photos_per_person`: its make-up).

    In order: `threshold` (the user's); else the impostor distribution `faceprint calibrate` stored in the gallery;
    else a threshold calibrated the older way (one per-comparison threshold); else the model's shipped distribution
    (LFW DevTrain); else `default`. The expected stranger rate is reported whenever a distribution is known.
    """
    own = gallery_impostors(gallery, model)
    shipped = model_impostors(model)
    if threshold is not None:
        return open_set_threshold(photos_per_person, far, own or shipped, fixed=threshold)
    if own is not None:
        return open_set_threshold(photos_per_person, far, own)
    stored = threshold_for(gallery, model, None)
    if stored is not None:
        point = open_set_threshold(photos_per_person, far, shipped, fixed=stored)
        return OpenSetThreshold(point.threshold, "calibrated threshold", point.n_faces, point.effective_faces, None,
                                point.stranger_rate, point.comparison_rate)
    return open_set_threshold(photos_per_person, far, shipped, fallback=default)


def build_identifier(
    gallery: Gallery,
    analyzer: FaceAnalyzer,
    threshold: float | None = None,
    classifier: str | None = None,
    index: str = "exact",
    far: float = DEFAULT_FAR,
    embeddings: GalleryEmbeddings | None = None,
) -> Identifier:
    """An Identifier over the gallery's embeddings of the analyzer's model (EmptyGallery if there are none).

    Its threshold names a share `far` of strangers at the gallery's current size (see gallery_threshold), unless
    `threshold` is given.
    index: "exact", "faiss" (a file beside the gallery), "milvus" (a milvus-lite file beside it) or
    "milvus://HOST:PORT" (a Milvus server); a Milvus index holds a connection, closed by `identifier.index.close()`.
    embeddings: the model's vectors as the caller already holds them (GalleryStore.follow_vectors), not read again.
    """
    spec = analyzer.embedder.spec
    if classifier is None and (index == "milvus" or index.startswith("milvus://")):
        # Read no vector: the people's photo counts set the threshold; Milvus answers face ids and the store the
        # candidates' rows (people and exact vectors), those rows only.
        from faceprint.gallery.milvus_index import open_milvus_in_step

        gallery.require_model(spec.name)
        gallery.check_identity(spec.name, model_identity(spec))
        photos = gallery.photo_counts(spec.name)
        point = gallery_threshold(gallery, spec.name, photos.tolist(), far, threshold, spec.open_set_threshold)
        idx = open_milvus_in_step(gallery, spec.name, index)  # the caller closes it: identifier.index.close()
        empty = GalleryEmbeddings(spec.name, np.zeros((0, spec.embedding_dim), np.float32), np.zeros(0, np.int64),
                                  np.zeros(0, np.int64), {})
        return Identifier(empty, spec.metric, point.threshold, spec.confidence_slope, index=idx, operating_point=point,
                          directory=gallery, n_people=len(photos))
    if embeddings is not None:
        gallery.check_identity(spec.name, model_identity(spec))
        emb = embeddings
    else:
        emb = gallery.embeddings(spec.name, model_identity(spec))
    _, photos = np.unique(emb.person_ids, return_counts=True)
    point = gallery_threshold(gallery, spec.name, photos.tolist(), far, threshold, spec.open_set_threshold)
    thr = point.threshold
    clf = None
    if classifier is not None:
        from faceprint.gallery.classifier_store import load_classifier

        clf = load_classifier(gallery, spec.name, classifier)
    idx = None
    if index == "faiss":
        from faceprint.gallery.faiss_index import load_or_build_index

        idx = load_or_build_index(gallery, spec.name)
    elif index == "milvus" or index.startswith("milvus://"):
        from faceprint.gallery.milvus_index import load_or_build_milvus

        idx = load_or_build_milvus(gallery, spec.name, index)  # the caller closes it: identifier.index.close()
    elif index != "exact":
        raise ValueError(f"unknown index {index!r}; choose exact, faiss, milvus or milvus://HOST:PORT")
    return Identifier(emb, spec.metric, thr, spec.confidence_slope, classifier=clf, index=idx, operating_point=point)


def expand_paths(items: Iterable[ImageSource]) -> list[ImageSource]:
    """Photos and folders of photos as a list of photos: folders expanded (sorted, recursively), paths as Path.

    A folder without images raises NoImagesFound; anything else is kept (in-memory images too), so a missing
    file is reported per image.
    """
    out: list[ImageSource] = []
    for item in items:
        if not isinstance(item, (str, os.PathLike)):
            out.append(item)
            continue
        p = Path(item)
        if p.is_dir():
            found = list_images(p)
            if not found:
                raise NoImagesFound(f"{p}: no images in this folder")
            out += found
        else:
            out.append(p)
    return out


def identify_images(
    paths: Iterable[str | os.PathLike[str]],
    analyzer: FaceAnalyzer,
    identifier: Identifier,
    top_k: int = 3,
    on_image: Callable[[str, np.ndarray | None, list[FaceResult]], None] | None = None,
) -> list[FaceResult]:
    """Every face of every photo, matched. Faceless images give one result with face None; unreadable ones an error.

    Folders among `paths` are expanded to the photos in them (see expand_paths).

    `on_image(path, image, results)` is called after each photo (for progress and annotation).
    """
    out: list[FaceResult] = []
    results = analyzer.analyze_many(expand_paths(paths), select="all", load=lambda p: analyzer.load(Path(p)), keep_images=on_image is not None)
    for r in results:
        label = str(r.item)
        if r.error is not None:
            res = [FaceResult(label, None, None, str(r.error))]
        elif not r.faces:
            res = [FaceResult(label, None, None)]
        else:
            assert r.embeddings is not None
            matches = identifier.identify(r.embeddings, top_k=top_k)
            res = [FaceResult(label, f, m) for f, m in zip(r.chosen, matches)]
        out += res
        if on_image:
            on_image(label, r.image, res)
    return out
