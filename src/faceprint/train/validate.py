"""Validation on people held out of training: pair accuracy and AUC, rank-1 identification, a calibrated threshold.

Every pair of held-out photos is a verification trial. AUC uses all of them; accuracy uses every same-person pair
and as many different-person pairs drawn at random (seeded), scored with the LFW protocol (10 folds, each at the
best threshold of the other nine). Rank-1: each photo's nearest other photo is of the same person (photos of
people with a single photo are not queried). The best threshold over the balanced pairs and the confidence slope
fitted on them become the default threshold and slope of a checkpoint used as a model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from faceprint.evaluate.lfw import evaluate_pairs
from faceprint.evaluate.metrics import roc_auc
from faceprint.recognize.confidence import fit_slope
from faceprint.types import pairwise_distances

__all__ = ["ValidationResult", "validate_embeddings"]


@dataclass(frozen=True)
class ValidationResult:
    """Held-out figures of one epoch."""

    auc: float
    accuracy: float
    accuracy_std: float
    rank1: float
    threshold: float
    confidence_slope: float
    same_pairs: int
    different_pairs: int

    def to_metrics(self) -> dict[str, float]:
        """The figures under metrics.jsonl keys (val_auc, val_accuracy, ...)."""
        return {f"val_{k}": v for k, v in asdict(self).items()}


def validate_embeddings(vectors: np.ndarray, labels: np.ndarray, metric: str = "euclidean", seed: int = 0) -> ValidationResult:
    """Verification and rank-1 figures of embeddings (N, D) of held-out people with integer `labels`."""
    labels = np.asarray(labels)
    if len(labels) < 3 or len(np.unique(labels)) < 2:
        raise ValueError("validation needs photos of at least two people")
    d = pairwise_distances(vectors, vectors, metric)
    iu, ju = np.triu_indices(len(labels), k=1)
    dist = d[iu, ju]
    same = labels[iu] == labels[ju]
    if not same.any():
        raise ValueError("validation needs at least one person with two photos")
    auc = roc_auc(dist, same)
    rng = np.random.default_rng(seed)
    pos = np.flatnonzero(same)
    neg = np.flatnonzero(~same)
    if len(pos) < 2:
        raise ValueError("validation needs at least two same-person pairs among the held-out photos")
    neg = rng.choice(neg, size=min(len(pos), len(neg)), replace=False)
    sel = np.concatenate([pos, neg])
    bal_d, bal_s = dist[sel], same[sel]
    folds = np.empty(len(sel), np.int64)
    n_folds = int(min(10, len(pos), len(neg)))
    folds[: len(pos)] = rng.permutation(len(pos)) % max(n_folds, 1)
    folds[len(pos) :] = rng.permutation(len(neg)) % max(n_folds, 1)
    result = evaluate_pairs(bal_d, bal_s, folds)
    slope = fit_slope(bal_d, bal_s, result.threshold)
    np.fill_diagonal(d, np.inf)
    inverse = np.unique(labels, return_inverse=True)[1]
    has_pair = np.bincount(inverse)[inverse] >= 2
    nearest = d.argmin(axis=1)
    rank1 = float(np.mean(labels[nearest][has_pair] == labels[has_pair]))
    return ValidationResult(
        auc=float(auc),
        accuracy=result.accuracy_mean,
        accuracy_std=result.accuracy_std,
        rank1=rank1,
        threshold=float(result.threshold),
        confidence_slope=float(slope),
        same_pairs=int(len(pos)),
        different_pairs=int(len(neg)),
    )
