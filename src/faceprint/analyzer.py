"""One-call pipeline: image -> detected faces -> aligned crops -> embeddings, with the model's own alignment."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from faceprint.detect import DEFAULT_DETECTOR, Detector, create_detector
from faceprint.errors import NoFaceFound
from faceprint.image import ImageSource, load_image
from faceprint.models import DEFAULT_MODEL, Embedder, create_embedder
from faceprint.pipeline import FacePipeline, ImageResult, Select, select_face
from faceprint.types import Embeddings, Face, FaceEmbedding

__all__ = ["DETECT_MAX_PIXELS", "FaceAnalyzer", "SelectedFace", "detect_scaled", "select_face"]

log = logging.getLogger(__name__)

T = TypeVar("T")

DETECT_MAX_PIXELS = 2_000_000
"""Detectors see at most this many pixels (about 1730 x 1150): a larger photo is searched on a scaled copy and the
faces mapped back, so a 24 MP phone photo costs the detector what a 2 MP one does (MTCNN's image pyramid in float32
is several times the photo's own size). The smallest face found grows in proportion: with MTCNN's 20 px minimum,
a face of 69 px or more on a 24 MP photo, 49 px on a 12 MP one. Alignment still cuts the face from the
full-resolution photo. bench/memory.py: peak memory of `identify` on six 6 MP photos 585 MB with 4 MP, 399 MB
with 2 MP; None searches every photo at full size."""


def detect_scaled(detector: Detector, image: np.ndarray, max_pixels: int | None = DETECT_MAX_PIXELS) -> list[Face]:
    """`detector.detect(image)`, on a copy scaled down to `max_pixels` when the image is larger (None: never),
    with the faces mapped back to `image`'s pixels. Largest first, as every detector returns them.

    >>> detect_scaled(create_detector("mtcnn"), load_image("24mp.jpg"))    # doctest: +SKIP
    """
    h, w = image.shape[:2]
    if max_pixels is None or h * w <= max_pixels:
        return detector.detect(image)
    if max_pixels < 1:
        raise ValueError(f"max_pixels must be a positive int or None, got {max_pixels!r}")
    import cv2

    s = (max_pixels / (h * w)) ** 0.5
    ws, hs = max(1, int(w * s)), max(1, int(h * s))
    small = cv2.resize(image, (ws, hs), interpolation=cv2.INTER_AREA)
    faces = detector.detect(small)
    del small
    return [f.scaled(w / ws, h / hs) for f in faces]


@dataclass(frozen=True, eq=False)
class SelectedFace:
    """The embedding of the one face chosen in an image, and how it was found."""

    source: str
    embedding: Embeddings
    face: Face | None
    """The detected face, or None when the central-region fallback was used."""
    n_faces: int
    """How many faces the detector found in the image."""

    @property
    def fallback(self) -> bool:
        return self.face is None


class FaceAnalyzer:
    """Detector plus embedder: the whole pipeline behind `verify`, `eval` and the gallery.

    >>> analyzer = FaceAnalyzer()                      # doctest: +SKIP
    >>> faces, emb = analyzer.analyze("photo.jpg")      # doctest: +SKIP
    """

    def __init__(
        self,
        model: str | Embedder = DEFAULT_MODEL,
        detector: str | Detector = DEFAULT_DETECTOR,
        max_pixels: int | None = None,
        weights: str | os.PathLike[str] | None = None,
        detect_max_pixels: int | None = DETECT_MAX_PIXELS,
    ) -> None:
        """`model`: a registered name or a built Embedder; `weights`: a training checkpoint of that model;
        `max_pixels`: refuse larger images (default: faceprint.image.DEFAULT_MAX_PIXELS); `detect_max_pixels`:
        search larger images on a scaled copy (see DETECT_MAX_PIXELS; None: always at full size)."""
        t0 = time.perf_counter()
        if weights is not None and not isinstance(model, str):
            raise ValueError("weights= needs a model name, not a built embedder")
        self.embedder = create_embedder(model, weights) if isinstance(model, str) else model
        self.detector = create_detector(detector) if isinstance(detector, str) else detector
        self.max_pixels = max_pixels
        self.detect_max_pixels = detect_max_pixels
        log.info("model %s and detector %s ready in %.1f s", self.embedder.name, type(self.detector).__name__, time.perf_counter() - t0)

    @property
    def model(self) -> str:
        return self.embedder.name

    def load(self, source: ImageSource, name: str | None = None, bgr: bool = False) -> np.ndarray:
        """Load an image as RGB uint8 (see faceprint.image.load_image); `name` labels errors for bytes."""
        if self.max_pixels is None:
            return load_image(source, name=name, bgr=bgr)
        return load_image(source, max_pixels=self.max_pixels, name=name, bgr=bgr)

    def detect(self, image: np.ndarray) -> list[Face]:
        """Every face in a loaded image, largest first, found on a scaled copy when it is large (detect_scaled)."""
        return detect_scaled(self.detector, image, self.detect_max_pixels)

    def get(self, source: ImageSource, bgr: bool = False) -> list[FaceEmbedding]:
        """Every face in the image, largest first, each with its box, score, landmarks and embedding vector.

        >>> [f.box for f in FaceAnalyzer().get("group.jpg")]     # doctest: +SKIP
        """
        faces, emb = self.analyze(source, bgr=bgr)
        return [FaceEmbedding(f, v, emb.model, emb.metric) for f, v in zip(faces, emb.vectors)]

    def analyze(self, source: ImageSource, bgr: bool = False) -> tuple[list[Face], Embeddings]:
        """Every face in the image, largest first, with one embedding row per face."""
        image = self.load(source, bgr=bgr)
        faces = self.detect(image)
        return faces, self.embed_faces(image, faces)

    def embed_faces(self, image: np.ndarray, faces: list[Face]) -> Embeddings:
        """Align and embed the given faces of an already loaded image in one batch."""
        crops = [self.embedder.align(image, f) for f in faces]
        return self.embedder.embed(np.stack(crops) if crops else np.zeros((0,) + (self.embedder.spec.input_size,) * 2 + (3,), np.uint8))

    def analyze_many(
        self,
        sources: Iterable[T],
        select: Select = "all",
        fallback_center: bool = False,
        load: Callable[[T], np.ndarray] | None = None,
        keep_images: bool = False,
        workers: int | None = None,
        batch_faces: int = 32,
        pixels: Callable[[T], int] | None = None,
    ) -> Iterator[ImageResult[T]]:
        """Faces and embeddings of many images, in input order, through the overlapped pipeline (faceprint.pipeline):
        decoding and detection in `workers` threads while the faces of several images are embedded in one call.

        Unreadable images give a result with `error` set instead of raising, so one bad file does not stop a folder.
        `pixels(item)` reads an item's pixel count cheaply (its header) for the pipeline's pixel window; the default
        knows paths, bytes, arrays and PIL images (faceprint.pipeline.item_pixels).
        """
        pipe = FacePipeline(self, workers=workers, batch_faces=batch_faces)
        return pipe.run(sources, load=load, select=select, fallback_center=fallback_center, keep_images=keep_images, pixels=pixels)

    def embed_one(
        self,
        source: str | os.PathLike[str] | bytes | np.ndarray,
        select: Select = "largest",
        fallback_center: bool = False,
        name: str | None = None,
    ) -> SelectedFace:
        """Embed the one face that matters in an image.

        With several faces, `select` picks one. With none, raise NoFaceFound, or with `fallback_center` embed the
        central region (for pre-cropped datasets such as LFW, where the subject fills the middle of the photo).
        """
        label = name or (str(source) if isinstance(source, (str, os.PathLike)) else "<image>")
        image = self.load(source)
        faces = self.detect(image)
        if faces:
            face = select_face(faces, image.shape, select)
            return SelectedFace(label, self.embed_faces(image, [face]), face, len(faces))
        if not fallback_center:
            raise NoFaceFound(label)
        log.info("%s: no face found, embedding the central region", label)
        return SelectedFace(label, self.embedder.embed(self.embedder.center_crop(image)), None, 0)
