"""Calibrate the verification threshold for a target false-accept rate on the user's own labelled photos.

Every pair of photos is scored: pairs of one person are same-person pairs, all others different-person pairs.
The threshold is the largest distance whose false-accept rate over the different-person pairs is at most the
target (`threshold_at_far`). With N different-person pairs the smallest FAR that can be told apart is 1/N, so a
finer target is refused rather than answered with a threshold the data cannot support.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from faceprint.evaluate.labelled import InsufficientData, LabelledEmbeddings
from faceprint.evaluate.metrics import far_tar_at, threshold_at_far
from faceprint.gallery.store import Gallery
from faceprint.recognize.open_set import threshold_setting
from faceprint.types import pairwise_distances

__all__ = ["Calibration", "all_pairs", "calibrate_threshold", "store_threshold"]


@dataclass(frozen=True)
class Calibration:
    """A threshold chosen for a target FAR, with what it achieves on the photos it was chosen on."""

    model: str
    far_target: float
    threshold: float
    tar: float
    """Share of same-person pairs at or below the threshold (nan when there are none)."""
    far: float
    """Share of different-person pairs at or below the threshold (<= far_target)."""
    n_same: int
    n_different: int
    n_people: int
    n_photos: int

    def to_dict(self) -> dict[str, object]:
        return {
            "model": self.model,
            "far_target": self.far_target,
            "threshold": self.threshold,
            "tar": self.tar,
            "far": self.far,
            "same_pairs": self.n_same,
            "different_pairs": self.n_different,
            "people": self.n_people,
            "photos": self.n_photos,
        }


def all_pairs(data: LabelledEmbeddings) -> tuple[np.ndarray, np.ndarray]:
    """Distances and same-person flags of every unordered pair of rows (upper triangle, row-major)."""
    d = pairwise_distances(data.vectors, data.vectors, data.metric)
    ids, _ = data.label_ids()
    i, j = np.triu_indices(len(data), k=1)
    return d[i, j], ids[i] == ids[j]


def calibrate_threshold(data: LabelledEmbeddings, far: float) -> Calibration:
    """The threshold for `far` on all pairs of these photos; InsufficientData when FAR `far` cannot be resolved."""
    if not 0.0 < far < 1.0:
        raise ValueError(f"the target FAR must lie strictly between 0 and 1, got {far}")
    n_people = len(data.people)
    if n_people < 2:
        raise InsufficientData(f"calibration needs photos of at least two people; found {n_people}")
    dist, same = all_pairs(data)
    n_diff = int((~same).sum())
    if far * n_diff < 1.0 - 1e-9:
        need = math.ceil(1.0 / far - 1e-9)
        raise InsufficientData(
            f"{n_diff} different-person pairs resolve false-accept rates only down to 1/{n_diff} = {1.0 / n_diff:.2g}; "
            f"a FAR of {far:g} needs at least {need} different-person pairs. Add photos of more people, "
            f"or ask for --pair-far {1.0 / n_diff:.2g} or above"
        )
    thr = threshold_at_far(dist[~same], far)
    got_far, tar = far_tar_at(dist, same, thr)
    return Calibration(data.model, float(far), thr, tar, got_far, int(same.sum()), n_diff, n_people, len(data))


def store_threshold(gallery: Gallery, calibration: Calibration) -> str:
    """Save the threshold in the gallery, where `faceprint identify` picks it up for this model; returns its key."""
    key = threshold_setting(gallery, calibration.model)
    gallery.set_setting(key, repr(float(calibration.threshold)))
    return key
