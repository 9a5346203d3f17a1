"""Face detection: pick a detector by name and get `Face` records (box, score, five landmarks).

>>> detector = create_detector("mtcnn")
>>> faces = detector.detect(rgb_uint8_image)   # largest face first
"""

from __future__ import annotations

from typing import Any

from faceprint.detect.base import Detector, check_image, largest_face
from faceprint.detect.dlib_hog import DlibHOGDetector
from faceprint.detect.mtcnn import MTCNNDetector
from faceprint.errors import UnknownModel

__all__ = [
    "DEFAULT_DETECTOR",
    "Detector",
    "MTCNNDetector",
    "DlibHOGDetector",
    "create_detector",
    "list_detectors",
    "largest_face",
    "check_image",
]

DEFAULT_DETECTOR = "mtcnn"
"""The detector used when none is named."""

_DETECTORS: dict[str, type[Detector]] = {
    MTCNNDetector.name: MTCNNDetector,
    DlibHOGDetector.name: DlibHOGDetector,
}


def list_detectors() -> list[str]:
    """Names accepted by `create_detector`."""
    return list(_DETECTORS)


def create_detector(name: str = DEFAULT_DETECTOR, **kwargs: Any) -> Detector:
    """A new detector by name ('mtcnn' or 'dlib-hog'); keyword arguments go to its constructor.

    Raises UnknownModel (listing the valid names) for any other name. Models load lazily, on the
    first `detect` call.
    """
    try:
        cls = _DETECTORS[name]
    except (KeyError, TypeError):
        raise UnknownModel("detector", str(name), list_detectors()) from None
    return cls(**kwargs)
