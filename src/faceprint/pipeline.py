"""The overlapped pipeline behind every command that reads many images (enroll, identify on folders, eval, calibrate).

Worker threads decode, detect and align (OpenCV, Pillow and onnxruntime release the GIL there) while the calling
thread embeds: the crops of several images go into one embedding call. Results come back in input order.

Memory stays bounded whatever the number of images: items are pulled from the input iterable only as the window
of images in flight frees up, a decoded image lives only inside its worker (the embedding stage sees the crops,
a few tens of kilobytes a face) unless `keep_images` asks for it, and results are yielded as they are made, never
collected. A folder of 100k photos streams through with at most `window` images' crops in memory.

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
from typing import TYPE_CHECKING, Generic, Literal, TypeVar

import numpy as np

from faceprint.errors import FaceprintError
from faceprint.types import Embeddings, Face

if TYPE_CHECKING:  # pragma: no cover
    from faceprint.analyzer import FaceAnalyzer

__all__ = ["FacePipeline", "ImageResult", "available_cores", "Select"]

log = logging.getLogger(__name__)

T = TypeVar("T")
Select = Literal["all", "largest", "center"]


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, else the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


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
    """

    def __init__(self, analyzer: FaceAnalyzer, workers: int | None = None, batch_faces: int = 32, window: int | None = None) -> None:
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        if batch_faces < 1:
            raise ValueError(f"batch_faces must be at least 1, got {batch_faces}")
        self.analyzer = analyzer
        self.workers = int(workers) if workers else available_cores()
        self.batch_faces = int(batch_faces)
        self.window = window

    def _prepare(
        self, item: T, load: Callable[[T], np.ndarray], select: Select, fallback_center: bool, keep_images: bool
    ) -> _Prepared[T]:
        from faceprint.analyzer import select_face

        try:
            image = load(item)
        except FaceprintError as exc:
            return _Prepared(item, [], [], [], False, None, exc)
        az = self.analyzer
        faces = az.detector.detect(image)
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
    ) -> Iterator[ImageResult[T]]:
        """Every item's faces and embeddings, in input order, as soon as its batch is embedded.

        Args:
            items: what to read; each is passed to `load` (default: the analyzer's `load`, for paths, bytes or arrays).
            load: item -> RGB uint8 image; raise FaceprintError for an unreadable item (it becomes `error`).
            select: embed every face ("all"), the largest, or the one nearest the image centre.
            fallback_center: with no face found, embed the central region (pre-cropped datasets such as LFW).
            keep_images: return the decoded image with each result (identify draws on it); lowers the window.
        """
        loader: Callable[[T], np.ndarray] = load if load is not None else self.analyzer.load  # type: ignore[assignment]
        window = self.window or (2 * self.workers + 2 if keep_images else self.batch_faces + 2 * self.workers)
        source = iter(items)
        pending: deque[Future[_Prepared[T]]] = deque()
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="faceprint-decode") as pool:

            def refill() -> None:
                while len(pending) < window:
                    try:
                        item = next(source)
                    except StopIteration:
                        return
                    pending.append(pool.submit(self._prepare, item, loader, select, fallback_center, keep_images))

            try:
                refill()
                batch: list[_Prepared[T]] = []
                n_crops = 0
                while pending:
                    prepared = pending.popleft().result()
                    refill()
                    batch.append(prepared)
                    n_crops += len(prepared.crops)
                    if n_crops >= self.batch_faces or not pending:
                        yield from self._embed(batch)
                        batch, n_crops = [], 0
            finally:
                for f in pending:  # the consumer stopped early: drop queued work
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
