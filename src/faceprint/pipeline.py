"""The overlapped pipeline behind every command that reads many images (enroll, identify on folders, eval, calibrate).

Worker threads decode, detect and align (OpenCV, Pillow and onnxruntime release the GIL there) while the calling
thread embeds: the crops of several images go into one embedding call. Results come back in input order.

Memory stays bounded whatever the number and the size of the images: items are pulled from the input iterable only
as the window frees up, and the window is bounded twice, by images (`window`) and by pixels (`pixels_in_flight`,
read from each image's header before it is decoded), so six 24 MP photos are not decoded at once where sixty
250 x 250 ones may be. A decoded image lives only inside its worker (the embedding stage sees the crops, a few tens
of kilobytes a face) unless `keep_images` asks for it, and results are yielded as they are made, never collected.
A folder of 100k photos streams through with at most `window` images' crops in memory.

>>> pipe = FacePipeline(FaceAnalyzer())                                  # doctest: +SKIP
>>> for r in pipe.run(paths, select="center", fallback_center=True):    # doctest: +SKIP
...     print(r.item, r.embeddings.vectors.shape)
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, Literal, Protocol, TypeVar

import numpy as np

from faceprint._cores import available_cores
from faceprint.detect.base import largest_face
from faceprint.errors import FaceprintError
from faceprint.types import Embeddings, Face

if TYPE_CHECKING:  # pragma: no cover
    from faceprint.image import ImageSource
    from faceprint.models import Embedder

__all__ = [
    "PIXELS_IN_FLIGHT", "Analyzer", "FacePipeline", "ImageResult", "PixelWindow", "Select", "available_cores", "item_pixels",
    "select_face",
]

log = logging.getLogger(__name__)

T = TypeVar("T")
Select = Literal["all", "largest", "center"]
"""Which faces of an image to embed: every face, the largest, or the one nearest the image centre. Where one face is
wanted (select_face, FaceAnalyzer.embed_one) "all" is refused with a ValueError."""


class Analyzer(Protocol):
    """What the pipeline needs of an analyzer: `faceprint.analyzer.FaceAnalyzer` (a layer above) is one."""

    embedder: Embedder

    def load(self, source: ImageSource, name: str | None = None, bgr: bool = False) -> np.ndarray: ...

    def detect(self, image: np.ndarray) -> list[Face]: ...


def select_face(faces: list[Face], image_shape: tuple[int, ...], how: Select = "largest") -> Face:
    """Pick one face: the largest, or the one nearest the image centre (the subject of a pre-cropped photo)."""
    if not faces:
        raise ValueError("no faces to select from")
    if how == "largest":
        face = largest_face(faces)
        assert face is not None
        return face
    if how == "center":
        cy, cx = image_shape[0] / 2, image_shape[1] / 2
        return min(faces, key=lambda f: (f.center[0] - cx) ** 2 + (f.center[1] - cy) ** 2)
    raise ValueError(f"unknown face selection {how!r}; choose largest or center")

PIXELS_IN_FLIGHT = 16_000_000
"""Pixels of the images decoded or queued at once, by default: one 12 MP phone photo (a 24 MP one is read alone), or
a few hundred web-size ones, whatever the number of workers. A decoded image costs about 7 bytes a pixel while it is
converted (Pillow's copy and the array), so this bounds the images in flight to roughly 110 MB; with 25 MP, two
12 MP photos in flight made peak memory grow from 363 to 614 MB over six photos, with 16 MP it stays at 430 MB
(bench/memory.py)."""


def item_pixels(item: object) -> int:
    """The pixel count of an image source from its header, without decoding it (0 when it is not a path, bytes, an
    array or a PIL image, or when the header is unreadable: that error is reported when the image is loaded)."""
    from PIL import Image

    from faceprint.image import image_size

    if not isinstance(item, (str, os.PathLike, bytes, bytearray, memoryview, np.ndarray, Image.Image)):
        return 0
    try:
        w, h = image_size(item)
    except (FaceprintError, OSError):
        return 0
    return w * h


class PixelWindow:
    """How many pixels are in flight, and whether one more image fits: the pipeline's second bound.

    An image is admitted when its pixels fit beside those held, or when nothing is held (an image larger than the
    whole window is read alone rather than never).

    >>> w = PixelWindow(10)
    >>> w.admit(6), w.admit(6), w.release(6), w.admit(6)
    (True, False, None, True)
    """

    def __init__(self, limit: int | None) -> None:
        if limit is not None and limit < 1:
            raise ValueError(f"pixels in flight must be at least 1 or None, got {limit}")
        self.limit = limit
        self.held = 0
        self.peak = 0
        """The most pixels held at once so far."""

    def fits(self, pixels: int) -> bool:
        return self.limit is None or self.held == 0 or self.held + pixels <= self.limit

    def admit(self, pixels: int) -> bool:
        """Hold `pixels` and return True if they fit; else hold nothing and return False."""
        if not self.fits(pixels):
            return False
        self.held += pixels
        self.peak = max(self.peak, self.held)
        return True

    def release(self, pixels: int) -> None:
        if pixels > self.held:
            raise ValueError(f"releasing {pixels} pixels, only {self.held} held")
        self.held -= pixels


@dataclass(frozen=True, eq=False)
class ImageResult(Generic[T]):
    """One input image after the pipeline: every face found, the ones embedded, and their embeddings.

    `error` is set (and everything else empty) when the image could not be read; `fallback` when no face was found
    and the central region was embedded instead (then `embeddings` has one row and `chosen` is empty).
    """

    item: T
    faces: list[Face]
    """Every face the detector found, largest first."""
    chosen: list[Face]
    """The faces embedded, in the order of the embedding rows."""
    embeddings: Embeddings | None
    fallback: bool = False
    image: np.ndarray | None = None
    """The decoded image, only with keep_images=True."""
    error: FaceprintError | None = None


@dataclass
class _Prepared(Generic[T]):
    item: T
    faces: list[Face]
    chosen: list[Face]
    crops: list[np.ndarray]
    fallback: bool
    image: np.ndarray | None
    error: FaceprintError | None


class FacePipeline:
    """Decode + detect + align in `workers` threads, embed batches of faces in the calling thread.

    Args:
        analyzer: the detector, embedder and image loading settings to use.
        workers: decoding/detection threads (default: the cores present).
        batch_faces: faces gathered before one embedding call (the embedder splits larger batches itself).
        window: images in flight at most (default: batch_faces + 2 x workers; with keep_images, 2 x workers + 2).
        pixels_in_flight: pixels of the images in flight at most (see PIXELS_IN_FLIGHT; None: bounded by count only).
    """

    def __init__(
        self,
        analyzer: Analyzer,
        workers: int | None = None,
        batch_faces: int = 32,
        window: int | None = None,
        pixels_in_flight: int | None = PIXELS_IN_FLIGHT,
    ) -> None:
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        if batch_faces < 1:
            raise ValueError(f"batch_faces must be at least 1, got {batch_faces}")
        self.analyzer = analyzer
        self.workers = int(workers) if workers else available_cores()
        self.batch_faces = int(batch_faces)
        self.window = window
        PixelWindow(pixels_in_flight)  # checks the value
        self.pixels_in_flight = pixels_in_flight
        self.peak_pixels = 0
        """The most pixels in flight at once during the last run (for tests and benchmarks)."""

    def _prepare(
        self, item: T, load: Callable[[T], np.ndarray], select: Select, fallback_center: bool, keep_images: bool
    ) -> _Prepared[T]:
        try:
            image = load(item)
        except FaceprintError as exc:
            return _Prepared(item, [], [], [], False, None, exc)
        az = self.analyzer
        faces = az.detect(image)
        if not faces:
            chosen: list[Face] = []
        elif select == "all":
            chosen = faces
        else:
            chosen = [select_face(faces, image.shape, select)]
        crops = [az.embedder.align(image, f) for f in chosen]
        fallback = not chosen and fallback_center
        if fallback:
            crops = [az.embedder.center_crop(image)]
        return _Prepared(item, faces, chosen, crops, fallback, image if keep_images else None, None)

    def run(
        self,
        items: Iterable[T],
        load: Callable[[T], np.ndarray] | None = None,
        select: Select = "all",
        fallback_center: bool = False,
        keep_images: bool = False,
        pixels: Callable[[T], int] | None = None,
    ) -> Iterator[ImageResult[T]]:
        """Every item's faces and embeddings, in input order, as soon as its batch is embedded.

        Args:
            items: what to read; each is passed to `load` (default: the analyzer's `load`, for paths, bytes or arrays).
            load: item -> RGB uint8 image; raise FaceprintError for an unreadable item (it becomes `error`).
            select: embed every face ("all"), the largest, or the one nearest the image centre.
            fallback_center: with no face found, embed the central region (pre-cropped datasets such as LFW).
            keep_images: return the decoded image with each result (identify draws on it); lowers the window.
            pixels: item -> its pixel count, read cheaply (a header), for the pixel window; default item_pixels,
                which knows paths, bytes, arrays and PIL images (other items count 0: bounded by number only).
        """
        loader: Callable[[T], np.ndarray] = load if load is not None else self.analyzer.load  # type: ignore[assignment]
        size_of: Callable[[T], int] = pixels if pixels is not None else item_pixels
        window = self.window or (2 * self.workers + 2 if keep_images else self.batch_faces + 2 * self.workers)
        held = PixelWindow(self.pixels_in_flight)
        source = iter(items)
        pending: deque[tuple[Future[_Prepared[T]], int]] = deque()
        waiting: list[tuple[T, int]] = []  # an item taken from the source that did not fit the pixel window yet
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="faceprint-decode") as pool:

            def refill() -> None:
                while len(pending) < window:
                    if not waiting:
                        try:
                            item = next(source)
                        except StopIteration:
                            return
                        waiting.append((item, max(0, int(size_of(item)))))
                    item, n_pixels = waiting[0]
                    if not held.admit(n_pixels):
                        return
                    waiting.clear()
                    self.peak_pixels = held.peak
                    pending.append((pool.submit(self._prepare, item, loader, select, fallback_center, keep_images), n_pixels))

            try:
                refill()
                batch: list[tuple[_Prepared[T], int]] = []
                n_crops = 0
                while pending:
                    future, n_pixels = pending.popleft()
                    prepared = future.result()
                    if not keep_images:
                        held.release(n_pixels)  # its worker is done: the decoded image is gone
                    batch.append((prepared, n_pixels))
                    n_crops += len(prepared.crops)
                    refill()
                    if n_crops >= self.batch_faces or not pending:
                        for (_, kept), result in zip(batch, self._embed([p for p, _ in batch])):
                            yield result
                            if keep_images:
                                held.release(kept)  # the consumer is done with the image it was handed
                        batch, n_crops = [], 0
                        refill()
            finally:
                for f, _ in pending:  # the consumer stopped early: drop queued work
                    f.cancel()

    def _embed(self, batch: list[_Prepared[T]]) -> Iterator[ImageResult[T]]:
        embedder = self.analyzer.embedder
        crops = [c for p in batch for c in p.crops]
        vectors = embedder.embed(np.stack(crops)).vectors if crops else np.zeros((0, embedder.spec.embedding_dim), np.float32)
        start = 0
        for p in batch:
            n = len(p.crops)
            emb = Embeddings(vectors[start : start + n], embedder.name, embedder.spec.metric) if p.error is None else None
            start += n
            yield ImageResult(p.item, p.faces, p.chosen, emb, p.fallback, p.image, p.error)
