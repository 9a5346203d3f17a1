"""Similarity-transform alignment: fit landmarks to a template by least squares and warp with OpenCV."""

from __future__ import annotations

import cv2
import numpy as np

from faceprint.align.templates import AlignmentTemplate

__all__ = ["estimate_similarity", "warp", "align_face", "center_crop"]


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
