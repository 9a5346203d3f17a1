"""Identify every face in a list of photos against a gallery: the job behind `faceprint identify`."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceprint.analyzer import FaceAnalyzer
from faceprint.errors import FaceprintError
from faceprint.gallery.store import Gallery
from faceprint.recognize.identifier import Identifier, Match
from faceprint.types import Face

__all__ = ["FaceResult", "build_identifier", "identify_images", "threshold_for"]


@dataclass(frozen=True)
class FaceResult:
    """One detected face (or one faceless/unreadable image) and its verdict."""

    image: str
    face: Face | None
    match: Match | None
    error: str | None = None

    def to_dict(self) -> dict[str, object]:
        m = self.match
        return {
            "image": self.image,
            "box": [round(v, 1) for v in self.face.box] if self.face else None,
            "person": m.person if m else None,
            "unknown": m.unknown if m else None,
            "closest": m.closest if m else None,
            "distance": round(m.distance, 4) if m else None,
            "confidence": round(m.confidence, 4) if m else None,
            "candidates": [{"person": c.person, "distance": round(c.distance, 4), "confidence": round(c.confidence, 4)} for c in m.candidates] if m else [],
            "error": self.error,
        }


def threshold_for(gallery: Gallery, model: str, default: float) -> float:
    """The gallery's calibrated threshold for this model if one was stored (faceprint calibrate), else `default`."""
    stored = gallery.get_setting(f"threshold:{model}")
    return float(stored) if stored is not None else default


def build_identifier(
    gallery: Gallery,
    analyzer: FaceAnalyzer,
    threshold: float | None = None,
    classifier: str | None = None,
    index: str = "exact",
) -> Identifier:
    """An Identifier over the gallery's embeddings of the analyzer's model (EmptyGallery if there are none).

    index: "exact", "faiss" (a file beside the gallery), "milvus" (a milvus-lite file beside it) or
    "milvus://HOST:PORT" (a Milvus server); a Milvus index holds a connection, closed by `identifier.index.close()`.
    """
    spec = analyzer.embedder.spec
    emb = gallery.embeddings(spec.name)
    thr = threshold if threshold is not None else threshold_for(gallery, spec.name, spec.open_set_threshold)
    clf = None
    if classifier is not None:
        from faceprint.recognize.classifiers import load_classifier

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
    return Identifier(emb, spec.metric, thr, spec.confidence_slope, classifier=clf, index=idx)


def identify_images(
    paths: Iterable[str | os.PathLike[str]],
    analyzer: FaceAnalyzer,
    identifier: Identifier,
    top_k: int = 3,
    on_image: Callable[[str, np.ndarray | None, list[FaceResult]], None] | None = None,
) -> list[FaceResult]:
    """Every face of every photo, matched. Faceless images give one result with face None; unreadable ones an error.

    `on_image(path, image, results)` is called after each photo (for progress and annotation).
    """
    out: list[FaceResult] = []
    for path in paths:
        label = str(path)
        try:
            image = analyzer.load(Path(path))
        except FaceprintError as exc:
            res = [FaceResult(label, None, None, str(exc))]
            out += res
            if on_image:
                on_image(label, None, res)
            continue
        faces = analyzer.detector.detect(image)
        if not faces:
            res = [FaceResult(label, None, None)]
        else:
            matches = identifier.identify(analyzer.embed_faces(image, faces), top_k=top_k)
            res = [FaceResult(label, f, m) for f, m in zip(faces, matches)]
        out += res
        if on_image:
            on_image(label, image, res)
    return out
