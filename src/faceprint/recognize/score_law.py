"""The open-set score `identify` decides on, the share of strangers it names at each gallery size, and its confidence.

A face's nearest enrolled person at distance d1 is named when the score

    s = d1 / d2 ** lam

is at or below a threshold, where d2 is the distance to the second-nearest *person* and `lam` in [0, 1] a weight.
With lam = 0 the score is the nearest-face distance; with lam = 1 it is the ratio of the two nearest people, a
cohort of one drawn from the gallery itself. The ratio normalises away how close a query comes to faces in
general (some faces are near many), which is what names a stranger in a large gallery; in a small gallery the
second person is a poor cohort and the plain distance does better. So `lam` is chosen per gallery size, on LFW
View 1 DevTrain photos (bench/impostors.py): the lam that names the most enrolled people at 1% of strangers named.

Two sizes: the number of *people* decides `lam` (how many competitors the second-nearest person is drawn from),
and the gallery's size as strangers meet it (ImpostorDistribution.gallery_size: K photos of one person count as
K ** g faces) places the threshold within that lam's table, which was measured on galleries of one photo per
person. Five people with thirty photos each are a small gallery of well-covered people, decided on the distance.

Why the law carries over to sizes beyond the measured ones: when a stranger's distances to a gallery's people
follow a power-law tail F(d) ~ c d^b (the impostor distribution's tail fit), the two nearest form, for a large
gallery, the first two points of a Poisson process whose intensity scales with the gallery's size N; then
d1 / d2 does not depend on N and d1 shrinks as N ** (-1 / b), so the threshold for lam moves as
N ** (-(1 - lam) / b). That is the limit; the measured table (2 to about 1,700 people) is not there yet: for the
lam chosen in large galleries its thresholds barely move from 300 people on (dlib at 1%: 0.7224, 0.7204, 0.7238 at
300, 1,000, 1,705). So beyond the table the threshold follows the measured trend of those sizes, capped at flat: it
never loosens with size, and it tightens no faster than measured.

Confidence: the probability that a face is the person it is nearest to, given its score, for a query that is as
likely a stranger as an enrolled person (a prior of one half, stated because a probability needs one): a
logistic in log(score), fitted per gallery size and lam on the same DevTrain draws (strangers and enrolled
weighted equally), so that "70%" means 70% at any gallery size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["ScoreLaw", "check_far", "open_set_scores"]


def check_far(far: float) -> float:
    """`far`, the share of strangers a gallery may name per query, if it lies strictly between 0 and 1; else
    ValueError. The one rule for every place that takes it (library, CLI, service)."""
    if not 0.0 < far < 1.0:
        raise ValueError(f"the share of strangers named (far) must lie strictly between 0 and 1, e.g. 0.01; got {far!r}")
    return far


def _extrapolated(x: float, xs: np.ndarray, ys: np.ndarray) -> float:
    """Linear interpolation in (xs, ys), ascending xs; outside them, the line through the two nearest points."""
    if xs[0] <= x <= xs[-1] or len(xs) < 2:
        return float(np.interp(x, xs, ys))
    i = 0 if x < xs[0] else len(xs) - 2
    slope = (ys[i + 1] - ys[i]) / (xs[i + 1] - xs[i])
    j = 0 if x < xs[0] else len(xs) - 1
    return float(ys[j] + slope * (x - xs[j]))


def open_set_scores(person_distances: np.ndarray, lam: float) -> np.ndarray:
    """Each person's score d_j / (nearest other person's distance) ** lam, for rows of person distances.

    For the nearest person that is d1 / d2 ** lam; with one person enrolled (no second) it is the distance. Both
    distances are floored at 1e-6, so one photo enrolled under two names (d1 = d2 = 0) scores 1 with lam = 1: not
    distinctive. A row without any finite distance scores infinity; one whose second person is hidden (an
    approximate search that found one person only) takes d2 = d1, the cautious choice.

    >>> open_set_scores(np.array([[0.4, 0.8, 1.0]]), 1.0).round(3).tolist()
    [[0.5, 2.0, 2.5]]
    """
    d = np.asarray(person_distances, np.float64)
    if lam == 0.0 or d.shape[1] < 2:
        return d.copy()
    d = np.maximum(d, _FLOOR)
    part = np.partition(d, 1, axis=1)[:, :2]
    first, second = part.min(axis=1), part.max(axis=1)
    second = np.where(np.isfinite(second), second, first)
    nearest = np.argmin(d, axis=1)
    other = np.repeat(first[:, None], d.shape[1], axis=1)  # for everyone but the nearest: the nearest
    other[np.arange(len(d)), nearest] = second  # for the nearest: the second
    with np.errstate(invalid="ignore"):
        out = d / other**lam
    return np.where(np.isfinite(d), out, np.inf)  # a person at an unknown (infinite) distance scores infinity


_FLOOR = 1e-6
"""Distances below this count as this in the score (identical photos would otherwise score 0 / 0)."""


@dataclass(frozen=True, eq=False)
class ScoreLaw:
    """Thresholds of the score d1 / d2 ** lam for a share of strangers named, over gallery sizes and weights lam.

    `log_threshold[l, f, n]` is ln of the score threshold that names a share 10 ** log10_far[f] of strangers in a
    gallery of 10 ** log10_n[n] people (one photo each) with weight lambdas[l]. `chosen[n]` indexes the lam used at
    that size. `conf_a/conf_b[l, n]`: confidence = 1 / (1 + exp(-(a + b ln s))).
    """

    source: str
    lambdas: np.ndarray
    log10_far: np.ndarray
    log10_n: np.ndarray
    log_threshold: np.ndarray
    chosen: np.ndarray
    conf_a: np.ndarray
    conf_b: np.ndarray
    tail_b: float
    """The impostor tail's power (log F = a + b log d), recorded with the law: the b of its large-gallery limit."""

    def __post_init__(self) -> None:
        shape = (len(self.lambdas), len(self.log10_far), len(self.log10_n))
        if self.log_threshold.shape != shape or self.conf_a.shape != shape[::2] or self.conf_b.shape != shape[::2]:
            raise ValueError("a score law's tables must be (lambdas, fars, sizes) and (lambdas, sizes)")
        if len(self.chosen) != len(self.log10_n) or np.any(np.diff(self.log10_n) <= 0) or np.any(np.diff(self.log10_far) <= 0):
            raise ValueError("a score law needs ascending size and rate axes and a chosen weight per size")
        if np.any(np.diff(self.log_threshold, axis=1) < 0):
            raise ValueError("a score law's thresholds must not fall as the share of strangers named grows")
        if self.tail_b <= 0:
            raise ValueError("the impostor tail's power must be positive")

    def weight_index(self, people: float) -> int:
        """Which lam a gallery of `people` people uses: that of the largest measured size not above it."""
        j = int(np.searchsorted(self.log10_n, math.log10(max(people, 1.0)) + 1e-12, side="right")) - 1
        return int(self.chosen[max(j, 0)])

    def weight(self, people: float) -> float:
        """The lam of the score for a gallery of `people` people."""
        return float(self.lambdas[self.weight_index(people)])

    def _log_thresholds(self, size: float, li: int) -> np.ndarray:
        """ln threshold at every tabulated rate for this size; beyond the largest size, the measured trend of the
        sizes from 300 people on, never rising (see the module docstring)."""
        ln = math.log10(max(size, 1.0))
        rows = self.log_threshold[li]
        at = np.array([np.interp(ln, self.log10_n, row) for row in rows])
        if ln > self.log10_n[-1]:
            at = at + self._trend(li) * (ln - self.log10_n[-1])
        return at

    def _trend(self, li: int) -> np.ndarray:
        """Per rate, the slope of ln threshold on log10 size over the largest measured sizes (300 people and up, at
        least the last two), capped at 0: a threshold never loosens beyond what was measured."""
        big = self.log10_n >= math.log10(300.0) - 1e-9
        if big.sum() < 2:
            big = np.zeros_like(big)
            big[-2:] = True
        x = self.log10_n[big]
        slopes = np.array([np.polyfit(x, row[big], 1)[0] for row in self.log_threshold[li]])
        return np.minimum(slopes, 0.0)

    def threshold_for(self, far: float, people: float, size: float | None = None) -> float:
        """The score threshold naming a share `far` of strangers in a gallery of `people` people, `size` faces as
        strangers meet them (default: one photo each). Rates outside the table (0.1% to 30%) follow the line
        through its two nearest rates, in ln threshold against log10 rate."""
        check_far(far)
        at = self._log_thresholds(people if size is None else size, self.weight_index(people))
        return float(math.exp(_extrapolated(math.log10(far), self.log10_far, at)))

    def stranger_rate(self, threshold: float, people: float, size: float | None = None) -> float:
        """The share of strangers named at a score `threshold` (the inverse of threshold_for)."""
        if threshold <= 0.0:
            return 0.0
        at = self._log_thresholds(people if size is None else size, self.weight_index(people))
        keep = np.append(np.diff(at) > 0, True)  # strictly ascending for the inverse
        if keep.sum() < 2:
            return float(10.0 ** self.log10_far[-1]) if math.log(threshold) >= at[-1] else float(10.0 ** self.log10_far[0])
        return float(min(10.0 ** _extrapolated(math.log(threshold), at[keep], self.log10_far[keep]), 1.0))

    def confidence(self, scores: np.ndarray | float, people: float, size: float | None = None) -> np.ndarray:
        """Probability that a face is the person with this score (strangers and enrolled equally likely a priori)."""
        li = self.weight_index(people)
        ln = math.log10(max(people if size is None else size, 1.0))
        a = float(np.interp(ln, self.log10_n, self.conf_a[li]))
        b = float(np.interp(ln, self.log10_n, self.conf_b[li]))
        with np.errstate(divide="ignore"):
            z = np.clip(a + b * np.log(np.maximum(np.asarray(scores, np.float64), 1e-300)), -60.0, 60.0)
        return 1.0 / (1.0 + np.exp(-z))

    def to_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "lambdas": [float(v) for v in self.lambdas],
            "log10_far": [round(float(v), 6) for v in self.log10_far],
            "log10_n": [round(float(v), 6) for v in self.log10_n],
            "log_threshold": [[[round(float(v), 6) for v in row] for row in block] for block in self.log_threshold],
            "chosen": [int(v) for v in self.chosen],
            "confidence": {"a": [[round(float(v), 5) for v in row] for row in self.conf_a],
                           "b": [[round(float(v), 5) for v in row] for row in self.conf_b]},
            "tail_b": self.tail_b,
        }

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> ScoreLaw:
        conf = d["confidence"]
        assert isinstance(conf, dict)
        return cls(
            source=str(d["source"]),
            lambdas=np.asarray(d["lambdas"], np.float64),
            log10_far=np.asarray(d["log10_far"], np.float64),
            log10_n=np.asarray(d["log10_n"], np.float64),
            log_threshold=np.asarray(d["log_threshold"], np.float64),
            chosen=np.asarray(d["chosen"], np.int64),
            conf_a=np.asarray(conf["a"], np.float64),
            conf_b=np.asarray(conf["b"], np.float64),
            tail_b=float(d["tail_b"]),  # type: ignore[arg-type]
        )
