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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from faceprint.evaluate.labelled import InsufficientData, LabelledEmbeddings
from faceprint.recognize.open_set import ImpostorDistribution, fit_impostor_distribution, model_impostors
from faceprint.recognize.score_law import ScoreLaw
from faceprint.types import pairwise_distances

__all__ = [
    "EXPONENT_FARS",
    "EXPONENT_SIZES",
    "StrangerTable",
    "fit_size_exponents",
    "gallery_population",
    "impostor_distribution",
    "SCORE_LAMBDAS",
    "SCORE_SIZES",
    "ScoreLawMeasurement",
    "measure_photo_exponent",
    "measure_score_law",
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


SCORE_LAMBDAS: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
SCORE_SIZES: tuple[int, ...] = (2, 3, 5, 10, 30, 100, 300, 1000)
"""Gallery sizes (people) the score law is measured at, plus the largest the photos allow (80% of their people)."""


def _logistic_fit(x: np.ndarray, y: np.ndarray, w: np.ndarray, iters: int = 50) -> tuple[float, float]:
    """Weighted maximum-likelihood (a, b) of p = 1 / (1 + exp(-(a + b x))), Newton's method with a small ridge."""
    a = b = 0.0
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(a + b * x, -60, 60)))
        g = np.array([np.sum(w * (y - p)), np.sum(w * (y - p) * x)]) - 1e-6 * np.array([a, b])
        h = w * p * (1 - p)
        hess = np.array([[h.sum(), (h * x).sum()], [(h * x).sum(), (h * x * x).sum()]]) + 1e-6 * np.eye(2)
        step = np.linalg.solve(hess, g)
        a, b = a + float(step[0]), b + float(step[1])
        if np.abs(step).max() < 1e-9:
            break
    return a, b


@dataclass(frozen=True)
class ScoreLawMeasurement:
    """What measure_score_law found, for the bench's tables: DIR at each rate per size and weight."""

    law: ScoreLaw
    sizes: list[int]
    dir_at: np.ndarray
    """(lambdas, fars, sizes): share of enrolled people's queries named right at each threshold."""
    queries: list[tuple[int, int]]
    """Per size: (stranger queries, genuine queries) over all draws."""


def measure_score_law(
    distances: np.ndarray,
    labels: Sequence[object],
    tail_b: float,
    source: str,
    fars: Sequence[float] = EXPONENT_FARS,
    sizes: Sequence[int] = SCORE_SIZES,
    lambdas: Sequence[float] = SCORE_LAMBDAS,
    choose_at: float = 0.01,
    seed: int = 0,
    on_size: Callable[[int], None] | None = None,
) -> ScoreLawMeasurement:
    """Measure the score law (faceprint.recognize.score_law) by drawing galleries from labelled photos.

    For each size N (people), seeded draws: N people at random, one random photo each enrolled; the strangers
    are the photos of the people left out (at least 20% of the people are always left out), the genuine queries
    the other photos of the N. Per weight lam, the score thresholds are the strangers' score quantiles at each
    rate; the weight chosen for N names the most genuine queries right at `choose_at` (ties: the smaller lam);
    the confidence is a logistic fit of "the nearest person is right" on ln(score), strangers and genuine queries
    weighted equally.
    """
    lab = np.asarray(labels, dtype=object)
    d = np.asarray(distances, np.float64)
    _, inv = np.unique(lab, return_inverse=True)
    n_people = int(inv.max()) + 1
    photos = [np.flatnonzero(inv == p) for p in range(n_people)]
    top = int(0.8 * n_people)
    sizes = sorted({n for n in sizes if 2 <= n < top} | ({top} if top >= 2 else set()))
    if not sizes or n_people < 10:
        raise InsufficientData("measuring the score law needs photos of at least ten people")
    rng = np.random.default_rng(seed)
    lams = np.asarray(lambdas, np.float64)
    log_thr = np.zeros((len(lams), len(fars), len(sizes)))
    dir_at = np.zeros_like(log_thr)
    conf = np.zeros((2, len(lams), len(sizes)))
    chosen = np.zeros(len(sizes), np.int64)
    queries: list[tuple[int, int]] = []
    for j, n in enumerate(sizes):
        draws = max(1, min(300, 20000 // n))
        s_d: list[np.ndarray] = []
        g_d: list[np.ndarray] = []
        g_ok: list[np.ndarray] = []
        for _ in range(draws):
            perm = rng.permutation(n_people)
            members = perm[:n]
            enrolled = np.array([rng.choice(photos[p]) for p in members])
            strangers = np.concatenate([photos[p] for p in perm[n:]])
            if len(strangers) > 2000:
                strangers = rng.choice(strangers, 2000, replace=False)
            s_d.append(np.sort(d[np.ix_(strangers, enrolled)], axis=1)[:, :2])
            taken = set(enrolled.tolist())
            genuine = np.array([i for p in members for i in photos[p] if i not in taken], dtype=np.int64)
            if len(genuine):
                dg = d[np.ix_(genuine, enrolled)]
                order = np.argsort(dg, axis=1)[:, :2]
                rows = np.arange(len(genuine))
                g_d.append(np.stack([dg[rows, order[:, 0]], dg[rows, order[:, 1]]], axis=1))
                g_ok.append(members[order[:, 0]] == inv[genuine])
        st, gt = np.concatenate(s_d), np.concatenate(g_d) if g_d else np.zeros((0, 2))
        ok = np.concatenate(g_ok) if g_ok else np.zeros(0, bool)
        queries.append((len(st), len(gt)))
        best = (-1.0, 0)
        for li, lam in enumerate(lams):
            s = np.log(st[:, 0]) - lam * np.log(st[:, 1])
            g = np.log(gt[:, 0]) - lam * np.log(gt[:, 1])
            for fi, far in enumerate(fars):
                t = float(np.quantile(s, far))
                log_thr[li, fi, j] = t
                dir_at[li, fi, j] = float(np.mean(ok & (g <= t))) if len(g) else 0.0
            x = np.concatenate([s, g])
            y = np.concatenate([np.zeros(len(s)), ok.astype(np.float64)])
            w = np.concatenate([np.full(len(s), 0.5 / len(s)), np.full(len(g), 0.5 / max(len(g), 1))])
            conf[:, li, j] = _logistic_fit(x, y, w * len(x))
            score = float(np.interp(math.log10(choose_at), np.log10(fars), dir_at[li, :, j]))
            if score > best[0] + 1e-9:
                best = (score, li)
        chosen[j] = best[1]
        if on_size is not None:
            on_size(n)
    log_thr = np.maximum.accumulate(log_thr, axis=1)  # quantiles of one sample ascend; keep it exact for the law
    law = ScoreLaw(source, lams, np.log10(np.asarray(fars, np.float64)), np.log10(np.asarray(sizes, np.float64)),
                   log_thr, chosen, conf[0], conf[1], float(tail_b))
    return ScoreLawMeasurement(law, sizes, dir_at, queries)
