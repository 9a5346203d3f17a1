"""The clustering threshold: a multiple of the model's verification threshold that follows the collection's size
and make-up, as the open-set threshold of `identify` follows the gallery's size.

Why it moves: average linkage merges two groups when their mean distance is under the threshold. A person seen
once is wrongly merged when some stranger sits closer than that, and the more faces a collection holds (the more
strangers each face meets), the likelier it is. On the DevTrain collections of `python bench/cluster.py --sweep`
(LFW View 1 DevTrain people with >= 3 photos, 30-100% of them, plus 0-1,000 people seen once) the best threshold
went from 0.92 x the verification threshold (325 faces, nobody seen once) down to 0.76 x (1,325 faces, three
quarters of them seen once).

What the rule reads, without labels: the number of faces n, and the share p of faces whose nearest other face is
farther than `FAR_NEIGHBOUR` x the verification threshold: people seen once have no close neighbour, so p grows
with their share. The scale is

    scale = SCALE[method] * exp(SIZE_SLOPE * ln(n / 1000) + MAKEUP_SLOPE * (p - P_REFERENCE))

clamped to `SCALE_RANGE`, with the constants of each method chosen on DevTrain (`bench/cluster.py --sweep` prints
the search and what a fixed scale gives on the same collections).
"""

from __future__ import annotations

import math

import numpy as np

from faceprint.errors import FaceprintError, UnknownModel
from faceprint.types import pairwise_distances

__all__ = ["MODEL_RULES", "RULES", "THRESHOLD_SCALE", "AdaptiveRule", "collection_threshold", "default_threshold", "far_share", "rule_for"]

THRESHOLD_SCALE: dict[str, float] = {"agglomerative": 0.84, "chinese-whispers": 0.78, "hdbscan": 0.84}
"""Each method's fixed threshold as a multiple of the model's verification threshold (0.608 for dlib-resnet-v1, so
0.5107 for agglomerative): the best single scale on the DevTrain collections of `bench/cluster.py --sweep`
(agglomerative: mean BCubed F 0.9540 at 0.84 against 0.9543 at 0.86). Chinese Whispers' 0.78 was chosen on the
earlier dev collection; on today's it scores 0.9293 against 0.9318 at 0.76, too close to move it. Used when the
collection is not at hand (`default_threshold`) and as the centre of the adaptive rule."""

FAR_NEIGHBOUR = 0.75
"""A face whose nearest other face is farther than this x the verification threshold counts as "far" (p)."""

SAMPLE = 2000
"""Faces whose nearest neighbour is measured to estimate p (all of them in smaller collections)."""


class AdaptiveRule:
    """scale = centre * exp(size_slope * ln(n / 1000) + makeup_slope * (p - p_reference)), clamped."""

    def __init__(self, centre: float, size_slope: float, makeup_slope: float, p_reference: float,
                 scale_range: tuple[float, float] = (0.70, 0.95)) -> None:
        self.centre, self.size_slope, self.makeup_slope, self.p_reference = centre, size_slope, makeup_slope, p_reference
        self.scale_range = scale_range

    def scale(self, n: int, p: float) -> float:
        """The threshold scale for a collection of n faces of which a share p has no close neighbour."""
        s = self.centre * math.exp(self.size_slope * math.log(max(n, 2) / 1000.0) + self.makeup_slope * (p - self.p_reference))
        lo, hi = self.scale_range
        return float(min(hi, max(lo, s)))


RULES: dict[str, AdaptiveRule] = {
    # DevTrain (12 collections, 325-2,063 faces, 0-75% seen once): mean BCubed F 0.9599 against 0.9540 at the
    # fixed 0.84 and 0.9621 for the best threshold of each collection (`bench/cluster.py --sweep`; dlib-resnet-v1
    # on MTCNN's faces).
    "agglomerative": AdaptiveRule(0.84, -0.04, -0.15, 0.357),
}
"""Methods whose threshold follows the collection; the others keep their fixed `THRESHOLD_SCALE`."""

MODEL_RULES: dict[str, AdaptiveRule] = {
    # Refitted on the same 12 DevTrain collections of YuNet's faces (the default detector),
    # `python bench/cluster_variants.py [--model M]`: mean BCubed F 0.9537 against 0.9530 for the rule above
    # (dlib-resnet-v1-int8) and 0.9801 against 0.9795 (facenet-inception-resnet-v1-int8).
    "dlib-resnet-v1-int8": AdaptiveRule(0.85, -0.04, -0.15, 0.37),
    "facenet-inception-resnet-v1-int8": AdaptiveRule(0.85, -0.01, -0.15, 0.325),
    # float32 FaceNet (cluster's default without VNNI): the same constants come out, 0.9796 against 0.9789.
    "facenet-inception-resnet-v1": AdaptiveRule(0.85, -0.01, -0.15, 0.325),
}
"""Agglomerative rules of the default models (dlib-int8 for every command, FaceNet for `cluster`), fitted on their own
vectors of the default detector's faces; other models take `RULES`."""


def rule_for(method: str, model: str) -> AdaptiveRule | None:
    """The adaptive rule of `method` for `model`'s embeddings, or None when the method keeps a fixed scale."""
    if method == "agglomerative":
        found = MODEL_RULES.get(model.split("@", 1)[0])
        if found is not None:
            return found
    return RULES.get(method)


def _verification_threshold(model: str) -> float:
    from faceprint.models import get_model_spec

    try:
        return get_model_spec(model).threshold
    except UnknownModel:
        return get_model_spec(model.split("@", 1)[0]).threshold


def _check_method(method: str) -> None:
    if method not in THRESHOLD_SCALE:
        from faceprint.cluster.methods import METHODS

        raise FaceprintError(f"unknown clustering method {method!r}; choose one of {', '.join(METHODS)}")


def default_threshold(method: str, model: str) -> float:
    """The fixed threshold of `method` for `model`'s embeddings (the collection not considered)."""
    _check_method(method)
    return round(THRESHOLD_SCALE[method] * _verification_threshold(model), 4)


def far_share(vectors: np.ndarray, distance: float, metric: str = "euclidean", sample: int = SAMPLE, seed: int = 0) -> float:
    """Share of faces whose nearest other face is farther than `distance` (on up to `sample` faces drawn at random,
    each against the whole collection)."""
    x = np.asarray(vectors, np.float32)
    n = len(x)
    if n < 2:
        return 1.0
    rows = np.arange(n) if n <= sample else np.sort(np.random.default_rng(seed).choice(n, size=sample, replace=False))
    far = 0
    for s in range(0, len(rows), 128):  # 128 x n distances at a time
        part = rows[s : s + 128]
        d = pairwise_distances(x[part], x, metric)
        d[np.arange(len(part)), part] = np.inf
        far += int((d.min(axis=1) > distance).sum())
    return far / len(rows)


def collection_threshold(vectors: np.ndarray, method: str, model: str, metric: str = "euclidean") -> float:
    """The threshold of `method` for this collection of `model`'s embeddings: the adaptive rule where the method has
    one (`rule_for`: `MODEL_RULES`, else `RULES`), else `default_threshold`."""
    _check_method(method)
    rule = rule_for(method, model)
    if rule is None:
        return default_threshold(method, model)
    base = _verification_threshold(model)
    p = far_share(vectors, FAR_NEIGHBOUR * base, metric)
    return round(rule.scale(len(vectors), p) * base, 4)
