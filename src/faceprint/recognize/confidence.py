"""From a distance to a confidence in [0, 1]: the fallback for identifications without a score law.

confidence(d) = 1 / (1 + exp(slope * (d - threshold)))

is the logistic probability that two faces at distance d show the same person. The slope of each model was
fitted by logistic regression on the distances of the LFW View 1 pairsDevTrain.txt pairs (balanced: 1,100 same,
1,100 different), with the curve pinned to 0.5 at the threshold in use so that the verdict and the confidence
never disagree. Identifications whose threshold comes from a score law (the shipped models at a requested share
of strangers) print that law's calibrated confidence instead (faceprint.recognize.score_law), which this curve is
not: pinned at a threshold that moves with the gallery's size, it is well calibrated around 100 people only.
Verification and models without a shipped law use this one.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SLOPE_BOUNDS", "distance_to_confidence", "fit_slope"]


def distance_to_confidence(distance: np.ndarray | float, threshold: float, slope: float) -> np.ndarray:
    """Logistic confidence that a face at `distance` is the same person (0.5 exactly at the threshold)."""
    z = np.clip(slope * (np.asarray(distance, dtype=np.float64) - threshold), -60, 60)
    return 1.0 / (1.0 + np.exp(z))


SLOPE_BOUNDS = (1e-2, 1e4)
"""The slopes `fit_slope` searches; perfectly separated distances have no finite maximum and get the upper bound."""


def fit_slope(distances: np.ndarray, same: np.ndarray, threshold: float, iters: int = 200) -> float:
    """Maximum-likelihood slope of the logistic curve pinned at `threshold`, within SLOPE_BOUNDS.

    The log-likelihood is concave in the slope, so a golden-section search over log(slope) finds its maximum; unlike
    Newton's method it cannot diverge when the classes are (nearly) separated.
    """
    x = np.asarray(distances, np.float64) - threshold
    y = np.asarray(same, np.float64)
    if x.size == 0 or y.min() == y.max():
        raise ValueError("fitting a confidence slope needs same-person and different-person distances")

    def loglik(log_s: float) -> float:
        z = np.exp(log_s) * x  # p(same) = 1 / (1 + exp(z))
        return float(-np.sum(y * np.logaddexp(0.0, z) + (1 - y) * np.logaddexp(0.0, -z)))

    lo, hi = np.log(SLOPE_BOUNDS[0]), np.log(SLOPE_BOUNDS[1])
    g = (np.sqrt(5.0) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = loglik(a), loglik(b)
    for _ in range(iters):
        if hi - lo < 1e-10:
            break
        if fa < fb:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = loglik(b)
        else:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = loglik(a)
    return float(np.exp((lo + hi) / 2))
