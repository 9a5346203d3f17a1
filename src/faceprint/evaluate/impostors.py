"""Measure a model's impostor distribution on labelled photos: what `bench/impostors.py` ships for each model and
what `faceprint calibrate` stores in a gallery (see faceprint.recognize.open_set for how identify uses it).

Two measurements on photos of many people:

* every different-person pair's distance: the per-comparison distribution F(d) and its tail fit;
* the exact share of strangers a gallery of N faces would name at a threshold, when the gallery is N photos drawn
  at random from the other people's photos: for a stranger photo q with M_q other-person photos, k_q(t) of them
  within t, the chance that none of the N drawn is within t is C(M_q - k_q, N) / C(M_q, N). Averaged over every
  photo as the stranger, it needs no simulation and keeps the dependence between one stranger's comparisons that
  an independence formula misses. The size exponent e solves 1 - (1 - F(t))^(N^e) = that share.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from faceprint.evaluate.labelled import InsufficientData, LabelledEmbeddings
from faceprint.recognize.open_set import ImpostorDistribution, fit_impostor_distribution, model_impostors
from faceprint.types import pairwise_distances

__all__ = [
    "EXPONENT_FARS",
    "EXPONENT_SIZES",
    "StrangerTable",
    "fit_size_exponents",
    "gallery_population",
    "impostor_distribution",
    "measure_photo_exponent",
    
]

EXPONENT_FARS: tuple[float, ...] = (1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1)
EXPONENT_SIZES: tuple[int, ...] = (3, 10, 30, 100, 300, 1000, 3000)


class StrangerTable:
    """Every photo's sorted distances to the photos of other people, for exact gallery stranger rates."""

    def __init__(self, distances: np.ndarray, labels: Sequence[object]) -> None:
        lab = np.asarray(labels, dtype=object)
        d = np.asarray(distances, np.float64).copy()
        other = lab[:, None] != lab[None, :]
        iu = np.triu_indices(len(lab), k=1)
        self._different = np.sort(d[iu][other[iu]])
        d[~other] = np.inf
        self.sorted_rows = np.sort(d, axis=1)
        self.counts = other.sum(axis=1)
        # every row in one ascending array, row q shifted by q * span, so that one searchsorted counts all rows
        finite_max = float(self.sorted_rows[np.isfinite(self.sorted_rows)].max(initial=0.0))
        self._span = finite_max + 2.0
        shifted = np.where(np.isfinite(self.sorted_rows), self.sorted_rows, finite_max + 1.0)
        self._flat = (shifted + self._span * np.arange(len(lab))[:, None]).ravel()
        if self.counts.max(initial=0) < 2:
            raise InsufficientData("measuring stranger rates needs photos of at least three people")
        top = int(self.counts.max())
        self._lfact = np.array([math.lgamma(x + 1.0) for x in range(top + 1)])

    @property
    def max_gallery(self) -> int:
        """The largest gallery that can be drawn for every photo (its fewest other-person photos)."""
        return int(self.counts.min())

    def different_person_distances(self) -> np.ndarray:
        """Every different-person pair's distance once, ascending."""
        return self._different

    def stranger_rate(self, threshold: float, n_faces: int) -> float:
        """Share of strangers named at `threshold` by a gallery of `n_faces` photos of other people (exact mean)."""
        if not 1 <= n_faces <= self.max_gallery:
            raise ValueError(f"galleries of 1 to {self.max_gallery} photos can be drawn here, not {n_faces}")
        m = self.counts
        q = np.arange(len(m))
        width = self.sorted_rows.shape[1]
        k = np.searchsorted(self._flat, q * self._span + min(threshold, self._span - 1.5), side="right") - q * width
        free = m - k
        lf = self._lfact
        ok = free >= n_faces
        fm = np.where(ok, free, n_faces)  # placeholder where no all-miss draw exists
        log_miss = lf[fm] - lf[fm - n_faces] - lf[m] + lf[m - n_faces]
        miss = np.where(ok, np.exp(log_miss), 0.0)
        return float(1.0 - miss.mean())

    def threshold_for(self, far: float, n_faces: int, iters: int = 40) -> float:
        """The largest threshold whose exact stranger rate at `n_faces` is at most `far` (bisection)."""
        lo, hi = 0.0, self._span - 2.0
        for _ in range(iters):
            mid = 0.5 * (lo + hi)
            if self.stranger_rate(mid, n_faces) > far:
                hi = mid
            else:
                lo = mid
        return lo


def fit_size_exponents(
    dist: ImpostorDistribution,
    table: StrangerTable,
    fars: Sequence[float] = EXPONENT_FARS,
    sizes: Sequence[int] = EXPONENT_SIZES,
) -> ImpostorDistribution:
    """`dist` with the exponent table measured on `table`'s photos (sizes above its largest drawable gallery dropped)."""
    sizes = [n for n in sizes if n <= table.max_gallery]
    if not sizes:
        raise InsufficientData("too few photos of other people to measure how the stranger rate grows")
    exps = np.ones((len(fars), len(sizes)))
    for i, f in enumerate(fars):
        for j, n in enumerate(sizes):
            t = table.threshold_for(f, n)
            p = dist.comparison_rate(t)
            if 0.0 < p < 1.0:
                n_eff = math.log1p(-f) / math.log1p(-p)
                exps[i, j] = min(max(math.log(max(n_eff, 1.0)) / math.log(n), 0.05), 1.0)
    return replace(
        dist,
        exponent_log10_far=np.log10(np.asarray(fars, np.float64)),
        exponent_log10_n=np.log10(np.asarray(sizes, np.float64)),
        exponent=exps,
    )


def measure_photo_exponent(
    distances: np.ndarray, labels: Sequence[object], dist: ImpostorDistribution, rates: Sequence[float] = (1e-3, 1e-4),
    photos: Sequence[int] = (2, 4), draws: int = 3, seed: int = 0,
) -> float:
    """How much K photos of one person add for a stranger: the g in K_eff = K ** g, averaged over `rates` and `photos`.

    For every person with at least K photos and every photo of someone else as the stranger, K_eff is the rate at
    which the nearest of K drawn photos is within t, divided by the rate for one of them (t at each per-comparison
    `rates`). Seeded draws of K photos per person.
    """
    lab = np.asarray(labels, dtype=object)
    d = np.asarray(distances, np.float64)
    people, counts = np.unique(lab, return_counts=True)
    rng = np.random.default_rng(seed)
    gs: list[float] = []
    for rate in rates:
        t = dist.threshold_at_rate(rate)
        for k in photos:
            multi = single = 0.0
            for p in people[counts >= k]:
                cols = np.flatnonzero(lab == p)
                rows = d[lab != p]
                for _ in range(draws):
                    sub = rows[:, rng.choice(cols, k, replace=False)]
                    multi += float((sub.min(axis=1) <= t).sum())
                    single += float((sub[:, 0] <= t).sum())
            if single >= 10 and multi > single:
                gs.append(math.log(multi / single) / math.log(k))
    if not gs:
        raise InsufficientData("too few people with several photos to measure what more photos of one person add")
    return float(min(max(np.mean(gs), 0.0), 1.0))


def impostor_distribution(
    vectors: np.ndarray,
    labels: Sequence[object],
    metric: str,
    model: str,
    source: str,
    size_law: bool = True,
) -> tuple[ImpostorDistribution, StrangerTable]:
    """The impostor distribution of these labelled photos (with the size exponents measured on them if `size_law`)."""
    if len(set(labels)) < 2:
        raise InsufficientData(f"an impostor distribution needs photos of at least two people; found {len(set(labels))}")
    d = pairwise_distances(np.asarray(vectors, np.float32), np.asarray(vectors, np.float32), metric)
    table = StrangerTable(d, labels)
    neg = table.different_person_distances()
    if len(neg) < 100:
        raise InsufficientData(f"{len(neg)} different-person pairs are too few to describe strangers; give photos of more people")
    dist = fit_impostor_distribution(neg, model, source)
    if size_law:
        dist = fit_size_exponents(dist, table)
    return dist, table


def gallery_population(data: LabelledEmbeddings, source: str) -> ImpostorDistribution:
    """The impostor distribution of a user's labelled photos, as `faceprint calibrate` stores it.

    The per-comparison distribution comes from these photos. How the stranger rate grows with the gallery needs
    thousands of people to measure, so it is the model's (LFW DevTrain) when one ships, else measured here.
    """
    shipped = model_impostors(data.model)
    dist, _ = impostor_distribution(data.vectors, data.labels, data.metric, data.model, source, size_law=shipped is None)
    if shipped is None:
        return dist
    return replace(dist, exponent_log10_far=shipped.exponent_log10_far, exponent_log10_n=shipped.exponent_log10_n,
                   exponent=shipped.exponent)
