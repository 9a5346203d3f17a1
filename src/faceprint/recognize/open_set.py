"""Open-set thresholds that keep their meaning as the gallery grows.

A stranger is named when their nearest enrolled face lies within the threshold. Each enrolled face is another
chance of that, so a threshold chosen for a per-*comparison* false-accept rate lets through ever more strangers
as the gallery grows. Here the user asks for a per-*query* rate (the share of strangers named as someone,
`far`, NIST FRVT's FPIR) and the threshold follows from the gallery's size:

1. The model's **impostor distribution** F(d): the share of different-person comparisons at or below distance d,
   measured on every pair of different people among the LFW View 1 DevTrain photos (about 5.9 million pairs;
   `bench/impostors.py` derives it and ships it as ``faceprint/recognize/data/<model>.json``). Below the rates the
   pairs can resolve, a fitted tail takes over (a power law, log F = a + b log d: the extreme-value form of a
   minimum bounded below by 0).
2. A stranger's best distance over N enrolled faces falls within t with probability 1 - (1 - F(t))^n_eff, where
   n_eff = N ** e. The comparisons of one query are not independent (a face that looks like many looks like
   many), so n_eff < N, the more so the higher the rate. The exponent e(N, rate) is measured on DevTrain: for
   galleries of N faces drawn from the other people's DevTrain photos, the share of DevTrain strangers named at
   a threshold is computed exactly (hypergeometric, averaged over every DevTrain photo as the stranger), and e
   solves 1 - (1 - F(t))^(N^e) = that share; a small table over N and the rate, interpolated in logs and held
   constant beyond its largest N (see bench/impostors.py).
3. Solving for t gives the threshold for the gallery's current number of enrolled faces; `identify` recomputes it
   on every call, so enrolling or removing people moves it.

`faceprint calibrate` measures the same distribution on the user's labelled photos and stores it in the gallery;
the threshold then comes from their population (with the model's size exponent, which needs far more people
than a user has to measure).
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass, field
from collections.abc import Sequence
from importlib import resources
from typing import Protocol

import numpy as np

from faceprint.recognize.score_law import ScoreLaw, check_far

__all__ = [
    "DEFAULT_FAR",
    "GallerySettings",
    "ImpostorDistribution",
    "OpenSetThreshold",
    "fit_impostor_distribution",
    "gallery_impostors",
    "impostor_data_file",
    "model_impostors",
    "open_set_threshold",
    "store_gallery_impostors",
    "threshold_setting",
]

log = logging.getLogger(__name__)

DEFAULT_FAR = 0.01
"""The default share of strangers a gallery may name as someone (per query, whatever the gallery's size)."""

_GRID_STEP = 0.05
"""Spacing of the stored distance table in log10(rate)."""


@dataclass(frozen=True, eq=False)
class ImpostorDistribution:
    """How often different people come out within a distance, per comparison and per query of a gallery.

    `log10_rate[i]` is log10 of the share of different-person comparisons at or below `distance[i]`; both
    ascending. Below the table's first point (about ten pairs in `n_pairs`) the rate follows the tail fit's slope,
    `log10 F = tail_a + tail_b * log10 d` fitted on rates between `tail_fit_range`, drawn through that first point
    so that the two join.
    """

    model: str
    source: str
    n_pairs: int
    log10_rate: np.ndarray
    distance: np.ndarray
    tail_a: float
    tail_b: float
    tail_fit_range: tuple[float, float]
    exponent_log10_far: np.ndarray = field(default_factory=lambda: np.array([-3.0, 0.0]))
    """Axis of the exponent table: log10 of the share of strangers named."""
    exponent_log10_n: np.ndarray = field(default_factory=lambda: np.array([0.0, 6.0]))
    """Axis of the exponent table: log10 of the number of enrolled faces."""
    exponent: np.ndarray = field(default_factory=lambda: np.ones((2, 2)))
    """n_eff = N ** exponent[far, N] (all ones: independent comparisons, the cautious choice)."""
    photo_exponent: float = 1.0
    """A person's K enrolled photos count as K ** photo_exponent faces: a stranger close to one photo of someone
    tends to be close to their others, so more photos of one person add less risk than more people (1.0: as many)."""
    score_law: ScoreLaw | None = None
    """How the score identify decides on (nearest / second-nearest person, faceprint.recognize.score_law) names
    strangers at each gallery size; None: decide on the nearest-face distance with the law above."""

    def __post_init__(self) -> None:
        if len(self.log10_rate) != len(self.distance) or len(self.distance) < 2:
            raise ValueError("an impostor distribution needs matching rate and distance tables of at least 2 points")
        if np.any(np.diff(self.log10_rate) <= 0) or np.any(np.diff(self.distance) < 0):
            raise ValueError("the impostor distribution's tables must ascend")
        if self.exponent.shape != (len(self.exponent_log10_far), len(self.exponent_log10_n)):
            raise ValueError("the exponent table must be (far axis, size axis)")
        if np.any(self.exponent <= 0.0) or np.any(self.exponent > 1.0):
            raise ValueError("size exponents must lie in (0, 1]")

    @property
    def resolution(self) -> float:
        """The smallest per-comparison rate the measured pairs resolve (1 / n_pairs; the table stops at 10 / n_pairs)."""
        return 1.0 / self.n_pairs

    def _curve(self) -> tuple[np.ndarray, np.ndarray]:
        """The table with tied distances merged (each keeps its highest rate): strictly ascending in both."""
        last = np.append(np.diff(self.distance) > 0, True)
        return self.distance[last], self.log10_rate[last]

    def comparison_rate(self, threshold: float) -> float:
        """Share of different-person comparisons at or below `threshold` (from the tail fit below the table)."""
        t = float(threshold)
        if t <= 0.0:
            return 0.0
        dist, rate = self._curve()
        if t < dist[0]:
            return float(10.0 ** (rate[0] + self.tail_b * (math.log10(t) - math.log10(dist[0]))))
        return float(10.0 ** np.interp(t, dist, rate))

    def threshold_at_rate(self, rate: float) -> float:
        """The distance at which a share `rate` of different-person comparisons is accepted (inverse of comparison_rate)."""
        if not 0.0 < rate <= 1.0:
            raise ValueError(f"a per-comparison rate lies in (0, 1], got {rate}")
        lr = math.log10(rate)
        dist, rates = self._curve()
        if lr < rates[0]:
            return float(dist[0] * 10.0 ** ((lr - rates[0]) / self.tail_b))
        return float(np.interp(lr, rates, dist))

    def gallery_size(self, photos_per_person: Sequence[int]) -> float:
        """The gallery's size in faces as strangers meet them: sum over people of K ** photo_exponent."""
        k = np.asarray(photos_per_person, np.float64)
        return float(np.sum(k[k > 0] ** self.photo_exponent))

    def effective_comparisons(self, n_faces: float, far: float) -> float:
        """How many independent comparisons N enrolled faces are worth to a stranger at a share `far` named."""
        n = max(float(n_faces), 1.0)
        return n ** _interp2(self.exponent, self.exponent_log10_far, self.exponent_log10_n, math.log10(far), math.log10(n))

    def stranger_rate(self, threshold: float, n_faces: float) -> float:
        """Expected share of strangers named as someone at `threshold` in a gallery of `n_faces` enrolled faces."""
        if n_faces <= 0:
            return 0.0
        log_miss = math.log1p(-min(self.comparison_rate(threshold), 1.0 - 1e-16))
        if log_miss == 0.0:
            return 0.0
        f = -math.expm1(n_faces * log_miss)  # independent comparisons; the exponent depends on the rate itself,
        for _ in range(8):  # so iterate (it changes slowly with the rate: a few steps settle it)
            f = -math.expm1(self.effective_comparisons(n_faces, max(f, 1e-12)) * log_miss)
        return float(f)

    def threshold_for(self, far: float, n_faces: float) -> float:
        """The distance threshold that names a share `far` of strangers in a gallery of `n_faces` enrolled faces."""
        check_far(far)
        n_eff = self.effective_comparisons(n_faces, far)
        return self.threshold_at_rate(-math.expm1(math.log1p(-far) / n_eff))

    def to_dict(self) -> dict[str, object]:
        return {
            "model": self.model,
            "source": self.source,
            "n_pairs": self.n_pairs,
            "log10_rate": [round(float(v), 4) for v in self.log10_rate],
            "distance": [round(float(v), 6) for v in self.distance],
            "tail": {"a": self.tail_a, "b": self.tail_b, "fit_log10_rates": list(self.tail_fit_range)},
            "size_exponent": {
                "log10_far": [float(v) for v in self.exponent_log10_far],
                "log10_n": [float(v) for v in self.exponent_log10_n],
                "exponent": [[round(float(v), 4) for v in row] for row in self.exponent],
            },
            "photo_exponent": self.photo_exponent,
            **({"score_law": self.score_law.to_dict()} if self.score_law is not None else {}),
        }

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> ImpostorDistribution:
        tail = d["tail"]
        assert isinstance(tail, dict)
        return cls(
            model=str(d["model"]),
            source=str(d["source"]),
            n_pairs=int(d["n_pairs"]),  # type: ignore[arg-type]
            log10_rate=np.asarray(d["log10_rate"], np.float64),
            distance=np.asarray(d["distance"], np.float64),
            tail_a=float(tail["a"]),
            tail_b=float(tail["b"]),
            tail_fit_range=(float(tail["fit_log10_rates"][0]), float(tail["fit_log10_rates"][1])),
            **_exponent_fields(d.get("size_exponent")),
            photo_exponent=float(d.get("photo_exponent", 1.0)),  # type: ignore[arg-type]
            score_law=ScoreLaw.from_dict(d["score_law"]) if isinstance(d.get("score_law"), dict) else None,  # type: ignore[arg-type]
        )


def _interp2(table: np.ndarray, x_axis: np.ndarray, y_axis: np.ndarray, x: float, y: float) -> float:
    """Bilinear interpolation in a (x, y) table, clamped at its edges."""
    col = np.array([np.interp(y, y_axis, row) for row in table])
    return float(np.interp(x, x_axis, col))


def _exponent_fields(d: object) -> dict[str, np.ndarray]:
    if d is None:
        return {}
    assert isinstance(d, dict)
    return {
        "exponent_log10_far": np.asarray(d["log10_far"], np.float64),
        "exponent_log10_n": np.asarray(d["log10_n"], np.float64),
        "exponent": np.asarray(d["exponent"], np.float64),
    }


def fit_impostor_distribution(
    different_person_distances: np.ndarray,
    model: str,
    source: str,
    tail_fit: tuple[float, float] | None = None,
) -> ImpostorDistribution:
    """The distance table and tail fit of a set of different-person distances.

    The table holds the empirical quantiles at log10 rates from ten pairs' worth (10 / number of pairs) up to 1, in
    steps of 0.05. The tail is a least-squares line of log10 rate on log10 distance through the empirical points
    with rates in `tail_fit` (default: from 10 pairs' worth, 10/n, up to 1000 times that), where each point still
    rests on at least ten pairs.
    """
    d = np.sort(np.asarray(different_person_distances, np.float64))
    n = len(d)
    if n < 100:
        raise ValueError(f"an impostor distribution needs at least 100 different-person distances, got {n}")
    if d[0] <= 0.0:
        d = d[d > 0.0]  # identical photos of two people cannot be fitted on a log scale
        n = len(d)
    lo_rate = math.log10(10.0 / n)
    fit = tail_fit if tail_fit is not None else (lo_rate, min(lo_rate + 3.0, -0.5))
    start = math.ceil(lo_rate / _GRID_STEP) * _GRID_STEP  # below ten pairs a quantile is noise: the tail takes over
    grid = np.round(np.arange(start, 0.0 + 1e-9, _GRID_STEP), 6)
    # the distance at rate r: the ceil(r * n)-th smallest distance (at least one pair is accepted at it)
    ranks = np.clip(np.ceil(10.0**grid * n - 1e-9).astype(np.int64), 1, n)
    dist = d[ranks - 1]
    rates = np.arange(1, n + 1) / n
    sel = (np.log10(rates) >= fit[0]) & (np.log10(rates) <= fit[1])
    if sel.sum() < 10:
        raise ValueError("too few different-person distances in the tail to fit")
    # thin the points evenly in log rate so the dense upper end of the range does not dominate the fit
    idx = np.flatnonzero(sel)
    keep = np.unique(np.round(np.logspace(math.log10(idx[0] + 1), math.log10(idx[-1] + 1), 200)).astype(np.int64) - 1)
    b, a = np.polyfit(np.log10(d[keep]), np.log10(rates[keep]), 1)
    return ImpostorDistribution(model, source, n, grid, np.maximum.accumulate(dist), float(a), float(b), (float(fit[0]), float(fit[1])))


def impostor_data_file(model: str) -> str:
    """The name of a model's shipped impostor data file inside faceprint/recognize/data."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", model) + ".json"


def model_impostors(model: str) -> ImpostorDistribution | None:
    """The impostor distribution shipped for a model (measured on LFW View 1 DevTrain), or None if none ships.

    The one place that maps a model name onto its shipped data file.
    """
    ref = resources.files("faceprint.recognize").joinpath("data", impostor_data_file(model))
    if not ref.is_file():
        return None
    return ImpostorDistribution.from_dict(json.loads(ref.read_text(encoding="utf-8")))


@dataclass(frozen=True)
class OpenSetThreshold:
    """The threshold an identification runs at, what it applies to, and what it means for strangers."""

    threshold: float
    source: str
    """'--threshold' (set by the user), 'gallery calibration' / 'LFW DevTrain' (from an impostor distribution) or
    'calibrated threshold' / 'model default' (a fixed distance, no distribution known)."""
    n_faces: int
    """Enrolled faces."""
    effective_faces: float
    """The gallery's size as strangers meet it (ImpostorDistribution.gallery_size; n_faces without a distribution)."""
    far: float | None = None
    """The requested share of strangers named (None when the threshold was given)."""
    stranger_rate: float | None = None
    """The expected share of strangers named at `threshold` in this gallery (None without a distribution)."""
    comparison_rate: float | None = None
    """The per-comparison false-accept rate at `threshold` (for a distance threshold)."""
    score_lambda: float = 0.0
    """The threshold applies to d1 / d2 ** score_lambda (faceprint.recognize.score_law); 0: to the distance d1."""
    score_law: ScoreLaw | None = field(default=None, compare=False, repr=False)
    """The law the threshold came from, which also calibrates the confidence (None: the model's distance logistic)."""
    people: int = 0
    """Enrolled people."""

    def to_dict(self) -> dict[str, object]:
        return {
            "threshold": self.threshold,
            "threshold_source": self.source,
            "threshold_applies_to": self.score_name(),
            "enrolled_faces": self.n_faces,
            "effective_faces": self.effective_faces,
            "far": self.far,
            "expected_stranger_rate": self.stranger_rate,
            "comparison_rate": self.comparison_rate,
        }

    def score_name(self) -> str:
        """What the threshold applies to, in words short enough for a table."""
        if self.score_lambda == 0.0:
            return "distance"
        if self.score_lambda == 1.0:
            return "distance / second person's distance"
        return f"distance / second person's distance ** {self.score_lambda:g}"

    def confidence(self, scores: np.ndarray) -> np.ndarray | None:
        """The calibrated probability for these scores (None when the threshold did not come from a score law)."""
        if self.score_law is None:
            return None
        return self.score_law.confidence(scores, self.people, self.effective_faces)

    def describe(self) -> str:
        """One line for people: the threshold and the share of strangers it names."""
        what = "" if self.score_lambda == 0.0 else f" on {self.score_name()}"
        text = f"threshold {self.threshold:.3f}{what} ({self.source})"
        if self.stranger_rate is not None:
            text += f", expected stranger rate {100 * self.stranger_rate:.2g}% with {self.n_faces} enrolled faces"
        else:
            text += ", stranger rate unknown (no impostor distribution for this model)"
        return text


def open_set_threshold(
    photos_per_person: Sequence[int],
    far: float = DEFAULT_FAR,
    impostors: ImpostorDistribution | None = None,
    fixed: float | None = None,
    fallback: float | None = None,
    fallback_source: str = "model default",
) -> OpenSetThreshold:
    """Choose the threshold for a gallery with these numbers of enrolled photos per person.

    Args:
        photos_per_person: enrolled faces of each person (the gallery's size and make-up).
        far: the share of strangers that may be named as someone (per query).
        impostors: the impostor distribution to derive the threshold from (the gallery's own, else the model's).
        fixed: a threshold set by the user; wins over everything, its stranger rate is still reported.
        fallback: the fixed threshold to use when there is no distribution (a calibrated or the model's default).
        fallback_source: how to describe `fallback`.

    With a distribution that carries a score law (the shipped ones) and at least two people enrolled, the
    threshold applies to the score of faceprint.recognize.score_law; a fixed threshold, a gallery's own
    calibration and a single enrolled person use the nearest-face distance.

    >>> open_set_threshold([1] * 10, fixed=0.5).threshold
    0.5
    """
    check_far(far)
    n_faces = int(np.sum(photos_per_person))
    size = impostors.gallery_size(photos_per_person) if impostors is not None else float(n_faces)
    if fixed is not None:
        if impostors is None:
            return OpenSetThreshold(float(fixed), "--threshold", n_faces, size)
        return OpenSetThreshold(float(fixed), "--threshold", n_faces, size, None, impostors.stranger_rate(fixed, size), impostors.comparison_rate(fixed))
    if impostors is None:
        if fallback is None:
            raise ValueError("no impostor distribution and no fallback threshold")
        log.warning("no impostor distribution for this model: using the fixed threshold %.4f; the share of strangers "
                    "it names is not known and grows with the gallery", fallback)
        return OpenSetThreshold(float(fallback), fallback_source, n_faces, size)
    law = impostors.score_law
    people = int(np.count_nonzero(np.asarray(photos_per_person)))
    if law is not None and people >= 2:
        thr = law.threshold_for(far, people, size)
        lam = law.weight(people)
        return OpenSetThreshold(thr, impostors.source, n_faces, size, far, law.stranger_rate(thr, people, size),
                                impostors.comparison_rate(thr) if lam == 0.0 else None, lam, law, people)
    thr = impostors.threshold_for(far, size)
    return OpenSetThreshold(thr, impostors.source, n_faces, size, far, impostors.stranger_rate(thr, size), impostors.comparison_rate(thr))


class GallerySettings(Protocol):
    """What open-set thresholds need of a gallery: its settings, keyed by what they were derived from
    (faceprint.gallery.store's stores are such, a layer above)."""

    def data_key(self, kind: str, model: str) -> str: ...

    def get_setting(self, key: str) -> str | None: ...

    def set_setting(self, key: str, value: str) -> None: ...


def threshold_setting(gallery: GallerySettings, model: str) -> str:
    """The gallery setting `identify` reads its calibrated threshold from (faceprint.recognize.images.threshold_for):
    keyed by the model's identity, so a threshold calibrated on an older pipeline's vectors is not applied to new ones."""
    return gallery.data_key("threshold", model)


def _gallery_key(gallery: GallerySettings, model: str) -> str:
    return gallery.data_key("impostors", model)  # by the model's identity, as every derived setting


def gallery_impostors(gallery: GallerySettings, model: str) -> ImpostorDistribution | None:
    """The impostor distribution `faceprint calibrate` stored in this gallery for a model, or None.

    With store_gallery_impostors, the one place that knows where a gallery keeps it.
    """
    raw = gallery.get_setting(_gallery_key(gallery, model))
    return None if raw is None else ImpostorDistribution.from_dict(json.loads(raw))


def store_gallery_impostors(gallery: GallerySettings, dist: ImpostorDistribution) -> str:
    """Keep a measured impostor distribution in the gallery, for `dist.model`; returns the setting's key."""
    key = _gallery_key(gallery, dist.model)
    gallery.set_setting(key, json.dumps(dist.to_dict()))
    return key
