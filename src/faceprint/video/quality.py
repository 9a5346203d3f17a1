"""How good a face in a frame is for recognition: sharp, large and frontal faces embed best.

A track sees the same person dozens of times; embedding only its best few faces saves most of the work, and
weighting each face's vote by its quality keeps a blurred or turned-away frame from outvoting a clear one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from faceprint.types import Face

__all__ = ["FaceQuality", "face_quality"]

SHARPNESS_HALF = 60.0
"""Variance of the Laplacian (face resized to 64x64 grey) at which sharpness is 0.5: a face as sharp as a
typical webcam frame scores ~0.7-0.9, a motion-blurred one under 0.3."""
FULL_SIZE_PX = 80.0
"""Face height from which size no longer adds quality (the embedders' inputs are 96-160 px)."""


@dataclass(frozen=True)
class FaceQuality:
    """Each factor in [0, 1] and their product, the weight of the face's vote."""

    sharpness: float
    size: float
    frontality: float
    score: float


def face_quality(image: np.ndarray, face: Face) -> FaceQuality:
    """Sharpness (Laplacian variance of the face at a fixed size), size (height up to 80 px) and frontality
    (nose centred between the eyes, eyes level, from the five landmarks), times the detector's confidence."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = (int(round(v)) for v in face.box)
    x1, y1, x2, y2 = max(0, x1), max(0, y1), min(w, x2), min(h, y2)
    if x2 - x1 < 4 or y2 - y1 < 4:
        return FaceQuality(0.0, 0.0, 0.0, 0.0)
    grey = cv2.cvtColor(np.ascontiguousarray(image[y1:y2, x1:x2]), cv2.COLOR_RGB2GRAY)
    grey = cv2.resize(grey, (64, 64), interpolation=cv2.INTER_AREA)
    var = float(cv2.Laplacian(grey, cv2.CV_32F).var())
    sharpness = var / (var + SHARPNESS_HALF)
    size = min(1.0, max(face.height, 0.0) / FULL_SIZE_PX)
    frontality = _frontality(face)
    score = sharpness * size * (0.25 + 0.75 * frontality) * float(face.score)
    return FaceQuality(sharpness, size, frontality, score)


def _frontality(face: Face) -> float:
    (lx, ly), (rx, ry), (nx, _ny), _, _ = face.landmarks
    eye_dist = math.hypot(rx - lx, ry - ly)
    if eye_dist < 1e-6:
        return 0.0
    yaw = abs(nx - (lx + rx) / 2) / eye_dist  # 0 frontal, ~0.5 at a three-quarter view
    roll = abs(math.atan2(ry - ly, rx - lx))
    return max(0.0, 1.0 - 2.0 * yaw) * max(0.0, math.cos(roll))
