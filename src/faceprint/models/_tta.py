"""Test-time augmentation: the crops whose embeddings are averaged into one face's embedding.

Mirroring adds the crop's mirror image. Jitter adds copies of the crop under small similarity transforms with
about the ranges of dlib's ``jitter_image`` (rotation within 3 degrees, scale 0.97 to 1, shift within 2% of the
side, a mirror half of the time). The transforms are drawn once from a fixed seed, so an image always gets the same
embedding (caches and galleries stay consistent) and every face gets the same set.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

__all__ = ["JITTER_SEED", "jitter_transforms", "augment"]

JITTER_SEED = 20261123
"""Seed of the fixed jitter set; changing it changes embeddings (it is part of the cache key via the spec)."""


@lru_cache(maxsize=16)
def jitter_transforms(n: int, size: int) -> tuple[tuple[np.ndarray, bool], ...]:
    """`n` fixed (2x3 matrix about the crop centre, mirror?) pairs for size x size crops."""
    rng = np.random.default_rng(JITTER_SEED)
    centre = np.array([(size - 1) / 2.0, (size - 1) / 2.0])
    out = []
    for _ in range(n):
        angle = np.deg2rad(rng.uniform(-3.0, 3.0))
        scale = rng.uniform(0.97, 1.0)
        shift = rng.uniform(-0.02, 0.02, 2) * size
        rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        t = centre - rot @ centre + shift
        matrix = np.hstack([rot, t[:, None]])
        matrix.setflags(write=False)  # shared by every caller through the cache
        out.append((matrix, bool(rng.random() < 0.5)))
    return tuple(out)


def augment(batch: np.ndarray, mirror: bool, jitters: int) -> np.ndarray:
    """The batch (N, S, S, 3) followed by its augmented copies: (1 + mirror + jitters) * N crops, copy-major.

    Embed the result and average ``emb.reshape(copies, N, D).mean(0)`` to get one embedding per input crop.
    """
    parts = [batch]
    if mirror:
        parts.append(batch[:, :, ::-1])
    size = batch.shape[1]
    for matrix, flip in jitter_transforms(jitters, size):
        # reflected borders: the copy's edges show the chip's own content rather than a new black frame
        moved = np.stack(
            [cv2.warpAffine(c, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101) for c in batch]
        )
        parts.append(moved[:, :, ::-1] if flip else moved)
    return np.ascontiguousarray(np.concatenate(parts))
