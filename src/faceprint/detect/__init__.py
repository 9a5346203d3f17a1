"""Face detection: pick a detector by name and get `Face` records (box, score, five landmarks).

>>> detector = create_detector("yunet")
>>> faces = detector.detect(rgb_uint8_image)   # largest face first
"""

from __future__ import annotations

from typing import Any

from faceprint.detect.base import Detector, check_image, largest_face
from faceprint.detect.dlib_hog import DlibHOGDetector
from faceprint.detect.mtcnn import MTCNNDetector
from faceprint.detect.yunet import YUNET_WEIGHTS, YuNetDetector, YuNetInt8Detector
from faceprint.errors import UnknownModel
from faceprint.models._weights import WeightSpec

__all__ = [
    "DEFAULT_DETECTOR",
    "Detector",
    "MTCNNDetector",
    "DlibHOGDetector",
    "YuNetDetector",
    "YuNetInt8Detector",
    "detector_weights",
    "create_detector",
    "list_detectors",
    "largest_face",
    "check_image",
]

_DETECTORS: dict[str, type[Detector]] = {
    MTCNNDetector.name: MTCNNDetector,
    DlibHOGDetector.name: DlibHOGDetector,
    YuNetDetector.name: YuNetDetector,
    YuNetInt8Detector.name: YuNetInt8Detector,
}


DEFAULT_DETECTOR = "yunet"
"""The detector used when none is named: YuNet, 11x less CPU per LFW photo than MTCNN (1.4 against 16.2 ms) at the
same LFW View 1 DevTrain accuracy within one pair (docs/speed.md; `python bench/quantize.py parity`). Its int8
version is slower here, so the float32 network is the default on every CPU."""

_WEIGHTS = {YuNetDetector.name: YUNET_WEIGHTS, YuNetInt8Detector.name: YUNET_WEIGHTS}
"""Detectors whose weights `faceprint models fetch NAME` downloads (the others ship in installed packages)."""


def detector_weights(name: str) -> WeightSpec | None:
    """The weight file a detector fetches into the model cache, or None when it needs no download."""
    return _WEIGHTS.get(name)


def list_detectors() -> list[str]:
    """Names accepted by `create_detector`."""
    return list(_DETECTORS)


def create_detector(name: str = DEFAULT_DETECTOR, **kwargs: Any) -> Detector:
    """A new detector by name ('yunet', 'mtcnn' or 'dlib-hog'); keyword arguments go to its constructor.

    Raises UnknownModel (listing the valid names) for any other name. Models load lazily, on the
    first `detect` call.
    """
    try:
        cls = _DETECTORS[name]
    except (KeyError, TypeError):
        raise UnknownModel("detector", str(name), list_detectors()) from None
    return cls(**kwargs)
