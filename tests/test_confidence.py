"""The distance-to-confidence curve and the fit of its slope."""

from __future__ import annotations

import numpy as np
import pytest

from faceprint.recognize.confidence import SLOPE_BOUNDS, distance_to_confidence, fit_slope


def _loglik(s: float, x: np.ndarray, y: np.ndarray) -> float:
    z = s * x
    return float(-np.sum(y * np.logaddexp(0, z) + (1 - y) * np.logaddexp(0, -z)))


def test_fitted_slope_maximises_the_likelihood() -> None:
    rng = np.random.default_rng(0)
    d = np.r_[rng.normal(0.4, 0.08, 500), rng.normal(0.8, 0.08, 500)]
    y = np.r_[np.ones(500), np.zeros(500)]
    s = fit_slope(d, y, 0.6)
    grid = np.linspace(1, 200, 4000)
    best = grid[np.argmax([_loglik(g, d - 0.6, y) for g in grid])]
    assert s == pytest.approx(best, abs=0.1)


def test_separated_classes_give_a_finite_steep_slope() -> None:
    # Newton's method diverged here (slopes of 1e26 in training runs); the search stays within its bounds
    s = fit_slope(np.array([0.1, 0.2, 0.9, 1.0]), np.array([1, 1, 0, 0]), 0.5)
    assert 100 < s <= SLOPE_BOUNDS[1]
    assert distance_to_confidence(0.2, 0.5, s) > 0.99 and distance_to_confidence(0.9, 0.5, s) < 0.01


def test_confidence_is_one_half_at_the_threshold_and_falls_with_distance() -> None:
    c = distance_to_confidence(np.array([0.3, 0.6, 0.9]), 0.6, 20.0)
    assert c[1] == 0.5 and c[0] > 0.5 > c[2]
    with pytest.raises(ValueError):
        fit_slope(np.array([0.1, 0.2]), np.array([1, 1]), 0.5)
