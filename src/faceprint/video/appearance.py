"""A cheap appearance signature of a face in a frame, to notice when the face a track follows has changed.

Embedding a face costs about 10 ms; comparing two 16x16 grey thumbnails costs microseconds. The tracker follows
boxes by motion only, so when one person leaves and another steps into the same spot between two detections, the
boxes match and nothing but appearance tells them apart. The recogniser compares each detection's signature with
its track's; a jump sends the face to the embedder, which decides (see `VideoRecognizer`). Between detections the
signature at a track's predicted box is compared too: a jump there (the person left, or someone else stepped in)
makes the next detection happen at once.
"""

from __future__ import annotations

import cv2
import numpy as np

from faceprint.types import Face

__all__ = ["appearance_signature", "signature_similarity", "SIGNATURE_CHANGE", "SIGNATURE_MEMORY"]

SIGNATURE_SIDE = 16
SIGNATURE_CHANGE = 0.5
"""Similarity below which a track's face is re-checked by embedding: one face moving and scaling keeps 0.8-1.0
between detections; another person's face in the same box usually falls well below (measured on bench/video.py's
clips; a miss only delays the check to the track's next periodic one)."""
SIGNATURE_MEMORY = 0.5
"""Weight of the track's old signature when a detection updates it (follows slow changes of pose and light)."""


def appearance_signature(image: np.ndarray, box: Face | tuple[float, float, float, float]) -> np.ndarray:
    """The face's box (a Face or an xyxy box) as a 16x16 grey thumbnail, zero mean and unit norm, then its mean colour (3 values scaled to
    the same weight): a vector whose dot product with another's says how alike the two faces look."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = (int(round(v)) for v in (box.box if isinstance(box, Face) else box))
    x1, y1, x2, y2 = max(0, x1), max(0, y1), min(w, x2), min(h, y2)
    if x2 - x1 < 2 or y2 - y1 < 2:
        return np.zeros(SIGNATURE_SIDE * SIGNATURE_SIDE + 3, np.float32)
    crop = np.ascontiguousarray(image[y1:y2, x1:x2])
    small = cv2.resize(crop, (SIGNATURE_SIDE, SIGNATURE_SIDE), interpolation=cv2.INTER_AREA).astype(np.float32)
    grey = small.mean(axis=2).ravel()
    grey -= grey.mean()
    grey /= float(np.linalg.norm(grey)) + 1e-6
    colour = small.reshape(-1, 3).mean(axis=0) / 255.0
    return np.concatenate([grey, colour - colour.mean()]).astype(np.float32)


def signature_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """How alike two signatures are: the grey thumbnails' correlation (1 identical, 0 unrelated) less the
    difference of their colour casts."""
    n = SIGNATURE_SIDE * SIGNATURE_SIDE
    ga, gb = a[:n], b[:n]
    corr = float(ga @ gb / ((np.linalg.norm(ga) * np.linalg.norm(gb)) + 1e-6))
    return corr - 2.0 * float(np.abs(a[n:] - b[n:]).sum())
