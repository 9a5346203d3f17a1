"""Draw boxes, landmarks and labels on copies of photos with OpenCV; no plotting library needed."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from faceprint.errors import OutputError
from faceprint.output_paths import PICTURE_SUFFIXES, check_output_file, make_output_dir
from faceprint.types import Face

__all__ = ["draw_faces", "save_image", "GREEN", "RED", "AMBER"]

GREEN = (40, 200, 80)
RED = (230, 50, 50)
AMBER = (255, 170, 0)


def draw_faces(
    image: np.ndarray,
    faces: Sequence[Face],
    labels: Sequence[str] | None = None,
    colors: Sequence[tuple[int, int, int]] | None = None,
    landmarks: bool = True,
) -> np.ndarray:
    """A copy of an RGB image with each face's box, its five landmarks and an optional label drawn on it."""
    out = np.ascontiguousarray(image.copy())
    h, w = out.shape[:2]
    thick = max(1, round(min(h, w) / 300))
    font_scale = max(0.4, min(h, w) / 700)
    for i, face in enumerate(faces):
        color = colors[i] if colors is not None else GREEN
        x1, y1, x2, y2 = (int(round(v)) for v in face.box)
        cv2.rectangle(out, (x1, y1), (x2, y2), color, thick, cv2.LINE_AA)
        if landmarks:
            for x, y in face.landmarks:
                cv2.circle(out, (int(round(x)), int(round(y))), max(1, thick), color, -1, cv2.LINE_AA)
        text = labels[i] if labels is not None else f"{face.score:.2f}"
        if text:
            scale = font_scale
            (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
            if tw + 4 > w:  # shrink long labels to the image width
                scale *= (w - 4) / (tw + 4)
                (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
            tx = max(0, min(x1, w - tw - 4))
            ty = y1 - 4 if y1 - th - base - 4 >= 0 else min(y2 + th + 4, h - base)
            cv2.rectangle(out, (tx, ty - th - base), (tx + tw + 4, ty + base), color, -1)
            cv2.putText(out, text, (tx + 2, ty), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick, cv2.LINE_AA)
    return out


def save_image(image: np.ndarray, path: str | os.PathLike[str]) -> Path:
    """Write an RGB uint8 image (format from the suffix), creating the folder."""
    path = Path(path)
    check_output_file(path, "picture", PICTURE_SUFFIXES)
    make_output_dir(path.parent)
    try:
        written = cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    except cv2.error as exc:
        raise OutputError(f"{path}: could not write the picture ({exc.msg if hasattr(exc, 'msg') else exc})") from None
    if not written:
        raise OutputError(f"{path}: could not write the picture")
    return path
