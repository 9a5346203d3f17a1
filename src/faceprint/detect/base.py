"""The detector interface: validate the image once here, let each backend only find faces."""

from __future__ import annotations

import abc
from collections.abc import Sequence

import numpy as np

from faceprint.types import Face

__all__ = ["Detector", "largest_face", "check_image"]


def check_image(image: object) -> np.ndarray:
    """Return `image` if it is an HxWx3 uint8 RGB array with nonzero size, else raise ValueError.

    Detectors take decoded pixels only (use faceprint.image.load_image for files), so a wrong
    dtype or layout is a programming error and is reported as ValueError, not silently converted:
    a float image in [0, 1] scaled as if it were [0, 255] would just find no faces.
    """
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a numpy array, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be an RGB array of shape (H, W, 3), got shape {image.shape}")
    if image.dtype != np.uint8:
        raise ValueError(f"image must have dtype uint8 (0..255 RGB), got {image.dtype}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image is empty (shape {image.shape})")
    return image


def largest_face(faces: Sequence[Face]) -> Face | None:
    """The face with the largest box area, or None when there is none."""
    if not faces:
        return None
    return max(faces, key=lambda f: f.area)


class Detector(abc.ABC):
    """Finds faces in an RGB image.

    Subclasses implement `_detect` on an already validated image; `detect` is the public entry
    point that validates input and returns faces largest first, so callers that want "the" face
    can take `faces[0]`.
    """

    name: str = "detector"

    def detect(self, image: np.ndarray) -> list[Face]:
        """Faces in `image` (HxWx3 uint8 RGB), sorted by box area, largest first."""
        image = check_image(image)
        faces = list(self._detect(np.ascontiguousarray(image)))
        faces.sort(key=lambda f: f.area, reverse=True)
        return faces

    @abc.abstractmethod
    def _detect(self, image: np.ndarray) -> list[Face]:
        """Backend-specific detection on a validated, C-contiguous HxWx3 uint8 RGB image."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"
