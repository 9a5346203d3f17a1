"""Alignment by warping with OpenCV.

``align_face``: a least-squares similarity fit of a face's five landmarks onto a template (`templates.py`).
``openface_align``: OpenFace's ``AlignDlib.align`` with ``OUTER_EYES_AND_NOSE``, as nn4.small2.v1 was trained:
of dlib's 68 landmarks, the outer eye corners (36, 45) and the base of the nose (33) are mapped exactly, by an
affine transform, onto OpenFace's min-max normalised mean face scaled to the crop (96x96 for nn4.small2.v1).
"""

from __future__ import annotations

import cv2
import numpy as np

from faceprint.align.templates import OPENFACE_OUTER_EYES_AND_NOSE, AlignmentTemplate, openface_template_points

__all__ = ["estimate_similarity", "warp", "align_face", "center_crop", "openface_affine", "openface_align"]


def estimate_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform (rotation, uniform scale, translation) mapping src onto dst.

    Umeyama's closed form; reflections are excluded. Returns a 2x3 float64 matrix for cv2.warpAffine.
    """
    src = np.asarray(src, dtype=np.float64).reshape(-1, 2)
    dst = np.asarray(dst, dtype=np.float64).reshape(-1, 2)
    if src.shape != dst.shape or len(src) < 2:
        raise ValueError(f"need two equally long point sets of at least 2 points, got {src.shape} and {dst.shape}")
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s0, d0 = src - mu_s, dst - mu_d
    var_s = (s0**2).sum() / len(src)
    if var_s < 1e-12:
        raise ValueError("landmarks are degenerate (all points coincide)")
    cov = d0.T @ s0 / len(src)
    u, sig, vt = np.linalg.svd(cov)
    d = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[1, 1] = -1.0
    rot = u @ d @ vt
    scale = float(np.trace(np.diag(sig) @ d) / var_s)
    t = mu_d - scale * rot @ mu_s
    return np.hstack([scale * rot, t[:, None]])


def warp(image: np.ndarray, matrix: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Warp with bilinear interpolation; pixels from outside the image are black (as in dlib's chips)."""
    w, h = (size, size) if isinstance(size, int) else size
    return cv2.warpAffine(
        image, matrix, (int(w), int(h)), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )


def align_face(
    image: np.ndarray,
    landmarks: np.ndarray,
    template: AlignmentTemplate,
    size: int | None = None,
    padding: float = 0.0,
) -> np.ndarray:
    """Crop one face: map its 5 landmarks onto the template (least squares) and warp to a size x size chip."""
    out = int(size or template.size)
    dst = template.points_array(out, padding)
    m = estimate_similarity(np.asarray(landmarks, dtype=np.float64).reshape(5, 2), dst)
    return warp(image, m, out)


def center_crop(image: np.ndarray, size: int, fraction: float = 0.5) -> np.ndarray:
    """Central square region covering `fraction` of the shorter side, resized to size x size.

    The fallback for pre-cropped datasets (LFW: the face fills about the central half of a 250x250 photo)
    when the detector finds nothing.
    """
    h, w = image.shape[:2]
    side = max(1, int(round(min(h, w) * fraction)))
    y0, x0 = (h - side) // 2, (w - side) // 2
    crop = image[y0 : y0 + side, x0 : x0 + side]
    interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(crop, (size, size), interpolation=interp)


def openface_affine(shape68: np.ndarray, size: int = 96) -> np.ndarray:
    """OpenFace's 2x3 affine matrix: 68-point landmarks 36, 45, 33 exactly onto its mean face at size x size."""
    pts = np.asarray(shape68, dtype=np.float64).reshape(68, 2)
    idx = list(OPENFACE_OUTER_EYES_AND_NOSE)
    src = pts[idx].astype(np.float32)
    dst = openface_template_points(OPENFACE_OUTER_EYES_AND_NOSE, size).astype(np.float32)
    (ax, ay), (bx, by) = src[1] - src[0], src[2] - src[0]
    if abs(float(ax * by - ay * bx)) < 1e-6:
        raise ValueError("the eye corners and the nose are collinear: cannot align")
    return cv2.getAffineTransform(src, dst)


def openface_align(image: np.ndarray, shape68: np.ndarray, size: int = 96) -> np.ndarray:
    """OpenFace's aligned face (size x size x 3 uint8) from an RGB image and the face's 68 dlib landmarks."""
    return cv2.warpAffine(image, openface_affine(shape68, size), (size, size), flags=cv2.INTER_LINEAR)
