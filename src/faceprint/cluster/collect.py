"""Every face of every photo in a collection, with its embedding: what clustering starts from.

A collection needs every face of a photo, not only the one `eval` embeds: they are kept in faceprint's photo cache
(`faceprint.cache.FaceCache`, the "all faces" view of the one cache file), keyed by the model's identity, the
detector with its settings, the photo's path and its content hash. A rerun embeds only new or changed photos, and
an interrupted run keeps every photo it finished (the cache writes 32 photos at a time).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from faceprint.analyzer import FaceAnalyzer
from faceprint.cache import FaceCache
from faceprint.cluster.quality import QualityRule, sharpness
from faceprint.errors import FaceprintError
from faceprint.types import Face

__all__ = ["Collection", "CollectedFace", "collect_faces"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class CollectedFace:
    """One face of a photo of the collection."""

    image: str
    face: Face
    vector: np.ndarray
    sharpness: float
    rejected: str | None = None
    """Why the face is kept out of clusters ('tiny', 'low score', 'blurred'), or None."""


@dataclass(eq=False)
class Collection:
    """The faces of a collection: those good enough to cluster, those kept out, and photos without any."""

    model: str
    metric: str
    faces: list[CollectedFace] = field(default_factory=list)
    """Faces good enough to cluster, in photo order (largest first within a photo)."""
    rejected: list[CollectedFace] = field(default_factory=list)
    images: int = 0
    no_face: list[str] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)

    @property
    def vectors(self) -> np.ndarray:
        if not self.faces:
            return np.zeros((0, 0), np.float32)
        return np.stack([f.vector for f in self.faces]).astype(np.float32)

    @property
    def groups(self) -> list[str]:
        """The photo of each face: the cannot-link groups."""
        return [f.image for f in self.faces]

    def summary(self) -> dict[str, object]:
        reasons: dict[str, int] = {}
        for f in self.rejected:
            reasons[f.rejected or "?"] = reasons.get(f.rejected or "?", 0) + 1
        return {
            "images": self.images,
            "faces": len(self.faces) + len(self.rejected),
            "clustered_faces": len(self.faces),
            "low_quality": reasons,
            "images_without_face": len(self.no_face),
            "unreadable": len(self.unreadable),
        }


def _detect_and_embed(analyzer: FaceAnalyzer, image: Path) -> list[tuple[Face, np.ndarray, float]]:
    pixels = analyzer.load(image)
    faces = analyzer.detector.detect(pixels)
    if not faces:
        return []
    emb = analyzer.embed_faces(pixels, faces)
    return [(f, v, sharpness(pixels, f)) for f, v in zip(faces, emb.vectors)]


def collect_faces(
    images: Iterable[str | os.PathLike[str]],
    analyzer: FaceAnalyzer,
    *,
    quality: QualityRule | None = None,
    cache: FaceCache | None = None,
    on_image: Callable[[int, int], None] | None = None,
) -> Collection:
    """Detect and embed every face of every photo (photo paths, not folders), from the cache where it has them.

    Faces that fail `quality` (default `QualityRule.for_detector(<the analyzer's detector>)`) go to ``rejected``; photos without a face to ``no_face``,
    unreadable ones to ``unreadable`` with the reason.
    """
    rule = quality or QualityRule.for_detector(analyzer.detector.name)
    paths = [Path(p) for p in images]
    spec = analyzer.embedder.spec
    out = Collection(spec.name, spec.metric, images=len(paths))
    detector = analyzer.detector
    for n, path in enumerate(paths, start=1):
        try:
            found = cache.get(spec.name, detector, path) if cache is not None else None
            if found is None:
                found = _detect_and_embed(analyzer, path)
                if cache is not None:
                    cache.put(spec.name, detector, path, found)
        except FaceprintError as exc:
            out.unreadable.append((str(path), str(getattr(exc, "reason", exc))))
        except OSError as exc:
            out.unreadable.append((str(path), exc.strerror or str(exc)))
        else:
            if not found:
                out.no_face.append(str(path))
            for face, vec, sharp in found:
                why = rule.reason(face, sharp)
                cf = CollectedFace(str(path), face, vec, sharp, why)
                (out.rejected if why else out.faces).append(cf)
        if on_image is not None:
            on_image(n, len(paths))
    if cache is not None:
        cache.commit()
    log.info("collected %d faces (%d kept out) from %d photos", len(out.faces), len(out.rejected), len(paths))
    return out
