"""Which faces are good enough to cluster: tiny, blurred or doubtful detections make junk clusters, so they are kept
out and reported instead."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from faceprint.types import Face

__all__ = ["MIN_SCORE", "QualityRule", "min_score_for", "sharpness"]

DEFAULT_MIN_SCORE = 0.9
"""Detector confidence below which a face is kept out, for detectors without their own entry in MIN_SCORE (MTCNN's
scale: every subject face of LFW View 1 DevTrain scores at least 0.9)."""
MIN_SCORE: dict[str, float] = {"yunet": 0.85, "yunet-int8": 0.85}
"""Per-detector floors where the scale differs: YuNet's score (sqrt(class x objectness)) puts clear faces near 0.93,
and the subject faces of LFW View 1 DevTrain score 0.860 at the lowest (0.891 at the 0.5th percentile), so 0.85
passes them all as 0.9 does for MTCNN (0.9 would keep out 13% of YuNet's faces of the Avengers and lfw-subset)."""

SHARP_SIZE = 64
"""Faces are resized to this square before measuring sharpness, so the figure does not depend on face size."""


def min_score_for(detector: str) -> float:
    """The default detector-confidence floor for faces found by `detector` (see MIN_SCORE)."""
    return MIN_SCORE.get(detector, DEFAULT_MIN_SCORE)


def sharpness(image: np.ndarray, face: Face) -> float:
    """Variance of the Laplacian of the face region (grey, resized to 64 x 64): low means blurred."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = (int(round(v)) for v in face.box)
    x1, y1, x2, y2 = max(0, x1), max(0, y1), min(w, x2), min(h, y2)
    if x2 - x1 < 2 or y2 - y1 < 2:
        return 0.0
    crop = image[y1:y2, x1:x2]
    grey = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2GRAY) if crop.ndim == 3 else crop
    grey = cv2.resize(grey, (SHARP_SIZE, SHARP_SIZE), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(grey.astype(np.float32), cv2.CV_32F).var())


@dataclass(frozen=True)
class QualityRule:
    """Faces below any of these are kept out of clusters.

    The defaults pass every face of the LFW View 1 and Avengers photos except the worst few (`bench/cluster.py`
    prints how many each rule removes).
    """

    min_size: float = 40.0
    """Shorter side of the face box, in pixels."""
    min_score: float = DEFAULT_MIN_SCORE
    """Detector confidence, on the detector's own scale (`for_detector` picks the default of each)."""
    min_sharpness: float = 20.0
    """`sharpness` of the face region."""

    @classmethod
    def for_detector(cls, detector: str) -> QualityRule:
        """The default rule for faces found by `detector` (its own score floor, MIN_SCORE)."""
        return cls(min_score=min_score_for(detector))

    def reason(self, face: Face, sharp: float) -> str | None:
        """Why this face is kept out ('tiny', 'low score', 'blurred'), or None if it is good enough."""
        x1, y1, x2, y2 = face.box
        if min(x2 - x1, y2 - y1) < self.min_size:
            return "tiny"
        if face.score < self.min_score:
            return "low score"
        if sharp < self.min_sharpness:
            return "blurred"
        return None
