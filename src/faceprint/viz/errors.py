"""The hardest verification pairs side by side: different people closest together, same people farthest apart."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceprint.errors import FaceprintError
from faceprint.image import load_image
from faceprint.viz._tiles import BACKGROUND, caption_strip, grid, square_thumb

__all__ = ["HardPair", "error_pairs_picture", "error_pairs_size", "hardest_pairs"]

RED = (200, 30, 45)
GREY = (90, 90, 90)
HEADER = 74
"""Height of the sheet's header: a title per column in large type, then what it shows and how many are wrong."""
CAPTION = 40
PAD = 4
GAP = 16


@dataclass(frozen=True)
class HardPair:
    left: str
    right: str
    distance: float
    same: bool
    error: bool
    """Whether the threshold gets this pair wrong (a false match or a false non-match)."""


def hardest_pairs(
    pairs: Sequence[tuple[str, str]], distances: np.ndarray, same: np.ndarray, threshold: float, n: int = 8
) -> tuple[list[HardPair], list[HardPair]]:
    """(false matches, false non-matches): the n different-person pairs with the smallest distances and the n
    same-person pairs with the largest, hardest first. Those the threshold gets right are kept (error=False) so
    the picture also shows how close the nearest misses came."""
    d = np.asarray(distances, dtype=np.float64)
    s = np.asarray(same, dtype=bool)
    neg = np.flatnonzero(~s)
    pos = np.flatnonzero(s)
    neg = neg[np.argsort(d[neg], kind="stable")][:n]
    pos = pos[np.argsort(-d[pos], kind="stable")][:n]
    fm = [HardPair(*pairs[i], float(d[i]), False, bool(d[i] <= threshold)) for i in neg]
    fnm = [HardPair(*pairs[i], float(d[i]), True, bool(d[i] > threshold)) for i in pos]
    return fm, fnm


def error_pairs_size(n: int, thumb: int) -> tuple[int, int]:
    """(width, height) in pixels of an error_pairs_picture with n rows."""
    column = 2 * thumb + PAD
    return PAD + 2 * column + GAP + PAD, HEADER + n * (thumb + CAPTION + PAD) + PAD


def _pair_tile(root: Path, pair: HardPair | None, thumb: int) -> np.ndarray:
    width = 2 * thumb + PAD
    if pair is None:
        return np.full((thumb + CAPTION, width, 3), BACKGROUND, np.uint8)
    images = []
    for name in (pair.left, pair.right):
        try:
            images.append(square_thumb(load_image(root / name), thumb))
        except FaceprintError:
            images.append(np.full((thumb, thumb, 3), 160, np.uint8))
    row = np.concatenate([images[0], np.full((thumb, PAD, 3), BACKGROUND, np.uint8), images[1]], axis=1)
    verdict = ("FALSE MATCH" if not pair.same else "FALSE NON-MATCH") if pair.error else "correct"
    a, b = Path(pair.left).stem, Path(pair.right).stem
    head = caption_strip(width, f"{pair.distance:.3f} {verdict}", CAPTION // 2, RED if pair.error else GREY)
    names = caption_strip(width, f"{a} / {b}", CAPTION - CAPTION // 2, GREY)
    return np.concatenate([row, head, names], axis=0)


def _header(width: int, title: str, what: str, count: str, wrong: bool) -> np.ndarray:
    """A column's header: the title in large bold type, what the column shows, and the count (red when any is
    wrong), each shrunk only as far as the column's width needs."""
    import cv2

    from faceprint.viz._tiles import FONT, _fit_text

    block = np.full((HEADER, width, 3), BACKGROUND, np.uint8)
    y = 4
    for text, scale, weight, color in ((title, 0.8, 2, (20, 20, 20)), (what, 0.5, 1, GREY), (count, 0.5, 1, RED if wrong else GREY)):
        text, scale = _fit_text(text, width - 8, scale)
        (tw, th), base = cv2.getTextSize(text, FONT, scale, weight)
        y += th + base + 3
        cv2.putText(block, text, (max(4, (width - tw) // 2), y - base), FONT, scale, color, weight, cv2.LINE_AA)
    return block


def error_pairs_picture(
    images_root: str | os.PathLike[str], false_matches: Sequence[HardPair], false_non_matches: Sequence[HardPair], threshold: float, thumb: int = 120
) -> np.ndarray:
    """RGB picture: left column the hardest different-person pairs, right column the hardest same-person pairs,
    each pair's distance and verdict (red: wrong at `threshold`) under it."""
    n = max(len(false_matches), len(false_non_matches), 1)
    left = [_pair_tile(Path(images_root), false_matches[i] if i < len(false_matches) else None, thumb) for i in range(n)]
    right = [_pair_tile(Path(images_root), false_non_matches[i] if i < len(false_non_matches) else None, thumb) for i in range(n)]
    col_l = grid(left, cols=1, pad=PAD)[:, PAD:-PAD]
    col_r = grid(right, cols=1, pad=PAD)[:, PAD:-PAD]
    gap = np.full((col_l.shape[0], GAP, 3), BACKGROUND, np.uint8)
    body = np.concatenate([col_l, gap, col_r], axis=1)
    width = body.shape[1] + 2 * PAD
    n_fm = sum(p.error for p in false_matches)
    n_fnm = sum(p.error for p in false_non_matches)
    left_w = PAD + col_l.shape[1] + GAP // 2
    head = np.concatenate(
        [
            _header(left_w, "False matches", "different people, closest first",
                    f"{n_fm} of {len(false_matches)} wrong at {threshold:.3f}", n_fm > 0),
            _header(width - left_w, "False non-matches", "same person, farthest first",
                    f"{n_fnm} of {len(false_non_matches)} wrong at {threshold:.3f}", n_fnm > 0),
        ],
        axis=1,
    )
    side = np.full((body.shape[0], PAD, 3), BACKGROUND, np.uint8)
    return np.ascontiguousarray(np.concatenate([head, np.concatenate([side, body, side], axis=1)], axis=0))
