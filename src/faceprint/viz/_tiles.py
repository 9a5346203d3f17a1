"""Image tiles with OpenCV: square thumbnails (face crops or whole photos), captions, grids. No plotting library."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from faceprint.types import Face

__all__ = ["BACKGROUND", "caption_strip", "face_thumb", "fit_thumb", "grid", "square_thumb", "text_block"]

BACKGROUND = (255, 255, 255)
FONT = cv2.FONT_HERSHEY_SIMPLEX


def _resize(image: np.ndarray, size: int) -> np.ndarray:
    h, w = image.shape[:2]
    interp = cv2.INTER_AREA if max(h, w) > size else cv2.INTER_LINEAR
    return cv2.resize(image, (size, size), interpolation=interp)


def square_thumb(image: np.ndarray, size: int) -> np.ndarray:
    """The central square of a photo, resized to size x size."""
    h, w = image.shape[:2]
    side = min(h, w)
    y, x = (h - side) // 2, (w - side) // 2
    return _resize(np.ascontiguousarray(image[y : y + side, x : x + side]), size)


def face_thumb(image: np.ndarray, face: Face | None, size: int, margin: float = 0.25, inside: bool = False) -> np.ndarray:
    """A size x size crop of the square around a face box, widened by `margin` per side (black where it leaves
    the photo); the central square when there is no box.

    `inside` keeps the square within the photo instead: it is moved off the edges and, when the photo is smaller,
    narrowed to the photo's shorter side, so a tight face crop (the Avengers' 139 px photos) fills its tile rather
    than shrinking inside black borders.
    """
    if face is None:
        return square_thumb(image, size)
    x1, y1, x2, y2 = face.box
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    half = max(x2 - x1, y2 - y1) * (0.5 + margin)
    half = max(half, 1.0)
    if inside:
        h, w = image.shape[:2]
        half = min(half, min(h, w) / 2)
        cx = min(max(cx, half), w - half)
        cy = min(max(cy, half), h - half)
    m = np.float32([[size / (2 * half), 0, size / 2 - cx * size / (2 * half)], [0, size / (2 * half), size / 2 - cy * size / (2 * half)]])
    return cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))


def fit_thumb(image: np.ndarray, size: int, background: tuple[int, int, int] = BACKGROUND) -> np.ndarray:
    """The whole photo scaled to fit a size x size square, centred, the rest filled with `background`."""
    h, w = image.shape[:2]
    scale = size / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    small = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    out = np.full((size, size, 3), background, np.uint8)
    y, x = (size - nh) // 2, (size - nw) // 2
    out[y : y + nh, x : x + nw] = small
    return out


def _fit_text(text: str, width: int, scale: float) -> tuple[str, float]:
    """Shrink the font (down to a floor), then cut the text (ending it with '..'), until it fits `width` pixels."""

    def wide(t: str) -> bool:
        return cv2.getTextSize(t, FONT, scale, 1)[0][0] > width

    while scale > 0.3 and wide(text):
        scale -= 0.05
    if wide(text):
        while len(text) > 1 and wide(text + ".."):
            text = text[:-1]
        text += ".."
    return text, scale


def caption_strip(
    width: int, text: str, height: int = 22, color: tuple[int, int, int] = (30, 30, 30), background: tuple[int, int, int] = BACKGROUND
) -> np.ndarray:
    """A width x height strip with one line of text, shrunk or cut to fit."""
    strip = np.full((height, width, 3), background, np.uint8)
    text, scale = _fit_text(text, width - 4, 0.5)
    (tw, th), base = cv2.getTextSize(text, FONT, scale, 1)
    cv2.putText(strip, text, (max(2, (width - tw) // 2), (height + th) // 2), FONT, scale, color, 1, cv2.LINE_AA)
    return strip


def text_block(width: int, height: int, lines: Sequence[str], color: tuple[int, int, int] = (30, 30, 30), scale: float = 0.55) -> np.ndarray:
    """A width x height block of left-aligned lines of text on the background colour."""
    block = np.full((height, width, 3), BACKGROUND, np.uint8)
    y = 0
    for line in lines:
        line, s = _fit_text(line, width - 8, scale)
        (_, th), base = cv2.getTextSize(line, FONT, s, 1)
        y += th + base + 4
        if y > height:
            break
        cv2.putText(block, line, (4, y - base), FONT, s, color, 1, cv2.LINE_AA)
    return block


def grid(tiles: Sequence[np.ndarray], cols: int, pad: int = 4, background: tuple[int, int, int] = BACKGROUND) -> np.ndarray:
    """Tiles of equal size in rows of `cols`, `pad` pixels apart and around (rows = ceil(len / cols))."""
    if not tiles:
        raise ValueError("no tiles to lay out")
    h, w = tiles[0].shape[:2]
    rows = -(-len(tiles) // cols)
    out = np.full((pad + rows * (h + pad), pad + cols * (w + pad), 3), background, np.uint8)
    for i, t in enumerate(tiles):
        if t.shape[:2] != (h, w):
            raise ValueError(f"tile {i} is {t.shape[1]}x{t.shape[0]}, expected {w}x{h}")
        r, c = divmod(i, cols)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        out[y : y + h, x : x + w] = t
    return out
