"""Identify every face in a list of photos with an Identifier: the job behind `faceprint identify`, and the threshold a
gallery's stored settings give. Building the Identifier over a gallery's store and indexes is the gallery's job
(faceprint.gallery.identify.build_identifier)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceprint.analyzer import FaceAnalyzer
from faceprint.errors import NoImagesFound
from faceprint.image import ImageSource, list_images
from faceprint.recognize.identifier import Candidate, Identifier, Match
from faceprint.recognize.open_set import (
    DEFAULT_FAR,
    GallerySettings,
    OpenSetThreshold,
    gallery_impostors,
    model_impostors,
    open_set_threshold,
    threshold_setting,
)
from faceprint.types import Face

__all__ = ["FaceResult", "expand_paths", "gallery_threshold", "identify_images", "threshold_for"]


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


def threshold_for(gallery: GallerySettings, model: str, default: float | None) -> float | None:
    """The gallery's calibrated threshold for this model if one was stored (faceprint calibrate), else `default`."""
    stored = gallery.get_setting(threshold_setting(gallery, model))
    return float(stored) if stored is not None else default


def gallery_threshold(gallery: GallerySettings, model: str, photos_per_person: Sequence[int], far: float = DEFAULT_FAR,
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
