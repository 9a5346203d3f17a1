"""The embedder contract: aligned face crops in, a batch of tagged embedding vectors out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from faceprint.align import align_face, center_crop, get_template
from faceprint.models._spec import ModelSpec
from faceprint.models._tta import augment
from faceprint.types import Embeddings, Face

__all__ = ["Embedder"]


class Embedder(ABC):
    """Base of every embedding model. Subclasses implement `_forward` on a batch of validated crops."""

    batch_size: int = 32

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec

    @property
    def name(self) -> str:
        return self.spec.name

    def align(self, image: np.ndarray, face: Face) -> np.ndarray:
        """Crop `face` from an RGB image the way this model expects (size x size x 3 uint8)."""
        return align_face(
            image, face.landmarks_array(), get_template(self.spec.template), self.spec.input_size, self.spec.padding
        )

    def center_crop(self, image: np.ndarray, fraction: float = 0.5) -> np.ndarray:
        """The image's central region at this model's input size, for pre-cropped photos with no detection."""
        return center_crop(image, self.spec.input_size, fraction)

    def embed(self, crops: np.ndarray | Sequence[np.ndarray]) -> Embeddings:
        """Embed aligned crops (N, S, S, 3) uint8 RGB, in batches of `batch_size`."""
        batch = self._validate(crops)
        if len(batch) == 0:
            return Embeddings(np.zeros((0, self.spec.embedding_dim), np.float32), self.name, self.spec.metric)
        parts = [self._forward_tta(batch[i : i + self.batch_size]) for i in range(0, len(batch), self.batch_size)]
        vectors = np.concatenate(parts, axis=0).astype(np.float32, copy=False)
        return Embeddings(vectors, self.name, self.spec.metric)

    def _validate(self, crops: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        s = self.spec.input_size
        arr = np.stack(list(crops)) if not isinstance(crops, np.ndarray) else crops
        if arr.ndim == 3:
            arr = arr[None]
        if len(arr) and (arr.ndim != 4 or arr.shape[1:] != (s, s, 3) or arr.dtype != np.uint8):
            raise ValueError(f"{self.name} takes uint8 RGB crops of shape (N, {s}, {s}, 3), got {arr.dtype} {arr.shape}")
        return np.ascontiguousarray(arr)

    def _forward_tta(self, batch: np.ndarray) -> np.ndarray:
        """`_forward`, or with test-time augmentation (spec.flip_average, spec.jitters) the mean over the copies."""
        if not self.spec.flip_average and not self.spec.jitters:
            return self._forward(batch)
        out = self._forward(augment(batch, self.spec.flip_average, self.spec.jitters))
        return out.reshape(-1, len(batch), out.shape[-1]).mean(axis=0)

    @abstractmethod
    def _forward(self, batch: np.ndarray) -> np.ndarray:
        """Embed one batch of validated crops; returns (n, embedding_dim) float32."""
