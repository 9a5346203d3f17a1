"""From a distance to a confidence in [0, 1], the number printed beside every identification.

confidence(d) = 1 / (1 + exp(slope * (d - threshold)))

is the logistic probability that two faces at distance d show the same person. The slope of each model was
fitted by logistic regression on the distances of the LFW View 1 pairsDevTrain.txt pairs (balanced: 1,100 same,
1,100 different), with the curve pinned to 0.5 at the model's threshold so that the verdict and the confidence
never disagree: a match is always above 50%, an UNKNOWN always below. When a user sets another threshold, the
curve moves with it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["distance_to_confidence", "fit_slope"]


def distance_to_confidence(distance: np.ndarray | float, threshold: float, slope: float) -> np.ndarray:
    """Logistic confidence that a face at `distance` is the same person (0.5 exactly at the threshold)."""
    z = np.clip(slope * (np.asarray(distance, dtype=np.float64) - threshold), -60, 60)
    return 1.0 / (1.0 + np.exp(z))


def fit_slope(distances: np.ndarray, same: np.ndarray, threshold: float, iters: int = 100) -> float:
    """Maximum-likelihood slope of the logistic curve pinned at `threshold` (Newton's method, 1 parameter)."""
    x = np.asarray(distances, np.float64) - threshold
    y = np.asarray(same, np.float64)
    s = 10.0
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(np.clip(s * x, -60, 60)))  # p(same)
        grad = np.sum((y - p) * -x)  # d logL / ds
        hess = -np.sum(p * (1 - p) * x * x)
        step = grad / hess if hess != 0 else 0.0
        s -= step
        if abs(step) < 1e-9:
            break
    return float(s)
