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

__all__ = ["ANNOTATED_MIN_SIDE", "draw_faces", "save_image", "GREEN", "RED", "AMBER"]

GREEN = (40, 200, 80)
RED = (230, 50, 50)
AMBER = (255, 170, 0)


ANNOTATED_MIN_SIDE = 480
"""The shorter side annotated copies of photos are enlarged to (`detect`/`identify --annotate`), so labels on small
photos (139 px Avengers crops, 250 px LFW) can be read."""
LABEL_HEIGHT = 0.025
"""Label text height as a share of the image's shorter side: the same size on the picture whatever its resolution."""
MIN_LABEL_PX = 12
"""Labels are never drawn smaller than this (pixels of cap height): below it they cannot be read."""
_PX_PER_SCALE = 22.0
"""Cap height plus descent of FONT_HERSHEY_SIMPLEX at scale 1, in pixels."""


def draw_faces(
    image: np.ndarray,
    faces: Sequence[Face],
    labels: Sequence[str] | None = None,
    colors: Sequence[tuple[int, int, int]] | None = None,
    landmarks: bool = True,
    min_side: int | None = None,
) -> np.ndarray:
    """A copy of an RGB image with each face's box, its five landmarks and an optional label drawn on it.

    Labels are a fixed share of the image's shorter side (LABEL_HEIGHT) and at most an eighth of their face, never
    below MIN_LABEL_PX; a label wider
    than the image is shrunk to fit down to that size, then shortened with "..". `min_side` enlarges a smaller
    image first (the annotated copies of 139 px face crops get labels one can read); video frames keep their size.
    """
    h, w = image.shape[:2]
    if min_side is not None and min(h, w) < min_side:
        s = min_side / min(h, w)
        image = cv2.resize(image, (round(w * s), round(h * s)), interpolation=cv2.INTER_CUBIC)
        faces = [f.scaled(image.shape[1] / w, image.shape[0] / h) for f in faces]
    out = np.ascontiguousarray(image.copy())
    h, w = out.shape[:2]
    thick = max(1, round(min(h, w) / 300))
    text_px = LABEL_HEIGHT * min(h, w)
    for i, face in enumerate(faces):
        color = colors[i] if colors is not None else GREEN
        x1, y1, x2, y2 = (int(round(v)) for v in face.box)
        cv2.rectangle(out, (x1, y1), (x2, y2), color, thick, cv2.LINE_AA)
        if landmarks:
            for x, y in face.landmarks:
                cv2.circle(out, (int(round(x)), int(round(y))), max(1, thick), color, -1, cv2.LINE_AA)
        text = labels[i] if labels is not None else f"{face.score:.2f}"
        if text:  # at most an eighth of its face, so the labels of a group photo stay apart
            _label(out, text, x1, y1, y2, color, max(MIN_LABEL_PX, min(text_px, 0.125 * max(face.width, face.height))))
    return out


def _label(out: np.ndarray, text: str, x1: int, y1: int, y2: int, color: tuple[int, int, int], text_px: float) -> None:
    """Draw `text` on a filled box above the face (below it at the top edge), at `text_px` or as large as fits."""
    h, w = out.shape[:2]
    font = cv2.FONT_HERSHEY_SIMPLEX
    scale = text_px / _PX_PER_SCALE
    weight = max(1, round(text_px / 12))
    (tw, th), base = cv2.getTextSize(text, font, scale, weight)
    if tw + 4 > w:  # too wide: shrink to fit, down to the smallest readable size, then shorten
        scale = max(scale * (w - 4) / (tw + 4), MIN_LABEL_PX / _PX_PER_SCALE)
        weight = max(1, round(scale * _PX_PER_SCALE / 12))
        (tw, th), base = cv2.getTextSize(text, font, scale, weight)
        while tw + 4 > w and len(text) > 3:
            text = text[:-3] + ".."
            (tw, th), base = cv2.getTextSize(text, font, scale, weight)
    tx = max(0, min(x1, w - tw - 4))
    ty = y1 - 4 if y1 - th - base - 4 >= 0 else min(y2 + th + 4, h - base)
    cv2.rectangle(out, (tx, ty - th - base), (tx + tw + 4, ty + base), color, -1)
    cv2.putText(out, text, (tx + 2, ty), font, scale, (255, 255, 255), weight, cv2.LINE_AA)


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
