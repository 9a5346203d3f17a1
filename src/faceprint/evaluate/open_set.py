"""Open-set identification as the 1:N benchmarks report it, over galleries of growing size.

NIST FRVT 1:N's terms: FPIR (false positive identification rate) is the share of strangers (people not
enrolled) that are named as someone; FNIR (false negative identification rate) the share of enrolled people's
queries that are not named right (wrong person, or UNKNOWN). FNIR at FPIR x = 1 - DIR at FAR x, with the threshold
set on the strangers' best open-set scores (faceprint.recognize.score_law) as in faceprint.evaluate.identification.

`sweep_gallery_sizes` draws galleries of 10, 100, 1,000 ... enrolled people from one identification split
(seeded; several draws for the small sizes, whose figures are averaged), keeps the genuine queries of the people
drawn and every stranger query, and reports for each size the FNIR at each FPIR, the score and threshold
`identify` would use for the requested stranger rate (open_set_threshold, for that gallery's people and faces), the
share of strangers it actually names there (the check that the rate asked for is the rate delivered) and the
calibration of the confidence identify prints.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from faceprint.evaluate.identification import IdentificationSplit, dir_at_far
from faceprint.evaluate.labelled import LabelledEmbeddings
from faceprint.recognize.identifier import person_min_distances
from faceprint.recognize.open_set import DEFAULT_FAR, ImpostorDistribution, open_set_threshold
from faceprint.recognize.score_law import open_set_scores
from faceprint.types import pairwise_distances

__all__ = ["DEFAULT_FPIRS", "DEFAULT_SIZES", "GallerySize", "det_curve", "parse_sizes", "reliability", "sweep_gallery_sizes"]

DEFAULT_FPIRS: tuple[float, ...] = (3e-3, 1e-2, 1e-1)
DEFAULT_SIZES: tuple[int | None, ...] = (10, 100, 1000, None)
"""Gallery sizes in people; None means every person the split enrols."""


def parse_sizes(text: str) -> tuple[int | None, ...]:
    """'10,100,all' -> (10, 100, None); ValueError on anything else."""
    out: list[int | None] = []
    for part in text.split(","):
        part = part.strip().lower()
        if part == "all":
            out.append(None)
        elif part.isdigit() and int(part) >= 2:
            out.append(int(part))
        else:
            raise ValueError(f"gallery sizes are whole numbers of people (at least 2) or 'all', got {part!r}")
    return tuple(out)


def det_curve(genuine_best: np.ndarray, genuine_ok: np.ndarray, impostor_best: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(FPIR, FNIR) at every threshold that changes either: a DET curve, thresholds ascending.

    >>> det_curve(np.array([0.1, 0.4]), np.array([True, True]), np.array([0.2, 0.5]))[1].tolist()
    [1.0, 0.5, 0.5, 0.0, 0.0]
    """
    g = np.asarray(genuine_best, np.float64)
    ok = np.asarray(genuine_ok, bool)
    imp = np.asarray(impostor_best, np.float64)
    thr = np.concatenate([[-np.inf], np.unique(np.concatenate([g, imp]))])
    fpir = np.searchsorted(np.sort(imp), thr, side="right") / max(len(imp), 1)
    hits = np.sort(g[ok])
    fnir = 1.0 - np.searchsorted(hits, thr, side="right") / max(len(g), 1)
    return fpir, fnir


def reliability(
    confidence: np.ndarray, correct: np.ndarray, bins: int = 10, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Reliability of a confidence: per equal-width bin the mean confidence, the share correct and the count (the
    summed weight), and the expected calibration error (the count-weighted mean gap). `weights` per query, e.g.
    to give strangers and enrolled people the prior a confidence is defined for (default: one each).

    >>> round(reliability(np.array([0.05, 0.15, 0.95, 0.95]), np.array([0, 0, 1, 0]), bins=2)[3], 6)
    0.275
    """
    c = np.asarray(confidence, np.float64)
    y = np.asarray(correct, np.float64)
    w = np.ones_like(c) if weights is None else np.asarray(weights, np.float64)
    which = np.minimum((c * bins).astype(np.int64), bins - 1)
    count = np.bincount(which, w, bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_c = np.bincount(which, c * w, bins) / count
        share = np.bincount(which, y * w, bins) / count
    used = count > 0
    ece = float(np.sum(count[used] * np.abs(mean_c[used] - share[used])) / max(count.sum(), 1.0))
    return mean_c, share, count, ece


@dataclass(frozen=True)
class GallerySize:
    """The open-set figures of galleries of one size (averaged over `draws` draws)."""

    people: int
    faces: float
    draws: int
    genuine: int
    impostor: int
    rank1: float
    fnir_at_fpir: dict[float, float]
    far: float | None
    threshold: float
    """The operating threshold (mean over draws): from the impostor distribution for `far`, or the fixed one."""
    expected_stranger_rate: float | None
    measured_stranger_rate: float
    named_right: float
    """Share of genuine queries named as the right person at the operating threshold (1 - FNIR there)."""
    det: tuple[np.ndarray, np.ndarray]
    """The DET curve of the first draw."""
    confidence_ece: float = float("nan")
    """Expected calibration error of the printed confidence (that the face is its nearest person) over every
    genuine and stranger query of every draw, at the operating threshold."""
    reliability: tuple[np.ndarray, np.ndarray, np.ndarray] = (np.zeros(0), np.zeros(0), np.zeros(0))
    """Per confidence bin: mean confidence, share of queries that are the nearest person, weight (strangers and
    enrolled weighted equally)."""
    score_lambda: float = 0.0
    """The weight of the second person in the score the threshold applied to (0: the distance; mean over draws)."""

    def to_dict(self) -> dict[str, object]:
        return {
            "people": self.people,
            "faces": self.faces,
            "draws": self.draws,
            "genuine_queries": self.genuine,
            "impostor_queries": self.impostor,
            "rank1": self.rank1,
            "fnir_at_fpir": {repr(k): v for k, v in self.fnir_at_fpir.items()},
            "far": self.far,
            "threshold": self.threshold,
            "score_lambda": self.score_lambda,
            "expected_stranger_rate": self.expected_stranger_rate,
            "measured_stranger_rate": self.measured_stranger_rate,
            "named_right": self.named_right,
            "confidence_ece": self.confidence_ece,
        }


def _draws(size: int, total: int) -> int:
    """More draws for small galleries, so that their figures rest on enough queries."""
    if size >= total:
        return 1
    return int(min(20, max(1, round(2000 / size))))


def sweep_gallery_sizes(
    data: LabelledEmbeddings,
    split: IdentificationSplit,
    impostors: ImpostorDistribution | None,
    far: float | None = 0.01,
    sizes: Sequence[int | None] = DEFAULT_SIZES,
    fpirs: Sequence[float] = DEFAULT_FPIRS,
    fixed_threshold: float | None = None,
    seed: int = 0,
    slope: float | None = None,
) -> list[GallerySize]:
    """Open-set figures for galleries of each size drawn from `split`'s enrolled people (see the module docstring).

    Each drawn gallery runs at the operating point `identify` would choose for it (open_set_threshold: the score
    and threshold for `far` at its size and make-up), or at `fixed_threshold` on the distance when given. FNIR at
    FPIR and the DET curve are over that gallery's score. Sizes above the number of enrolled people are dropped;
    None stands for all of them. The reliability of identify's confidence (its score law's, else the distance
    logistic with the model's `slope`) is measured with genuine and stranger queries weighted equally in each
    draw: the prior the confidence is defined for.
    """
    from faceprint.recognize.confidence import distance_to_confidence

    if fixed_threshold is None and (impostors is None or far is None):
        raise ValueError("give a fixed threshold, or an impostor distribution and a stranger rate")
    ids, _ = data.label_ids()
    enrol_ids = ids[split.enrol]
    people = np.unique(enrol_ids)
    g_vec, i_vec = data.vectors[split.genuine], data.vectors[split.impostor]
    g_all = pairwise_distances(g_vec, data.vectors[split.enrol], data.metric)
    i_all = pairwise_distances(i_vec, data.vectors[split.enrol], data.metric) if len(i_vec) else np.zeros((0, len(split.enrol)))
    g_ids = ids[split.genuine]
    rng = np.random.default_rng(seed)
    out: list[GallerySize] = []
    for size in sizes:
        n = len(people) if size is None or size >= len(people) else int(size)
        if size is not None and size > len(people):
            continue
        draws = _draws(n, len(people))
        acc: dict[str, list[float]] = {k: [] for k in ("faces", "rank1", "thr", "exp", "meas", "right", "gen", "imp", "lam")}
        fnirs: dict[float, list[float]] = {x: [] for x in fpirs}
        det: tuple[np.ndarray, np.ndarray] | None = None
        conf: list[np.ndarray] = []
        right: list[np.ndarray] = []
        weight: list[np.ndarray] = []
        for _ in range(draws):
            chosen = people if n == len(people) else np.sort(rng.choice(people, n, replace=False))
            cols = np.isin(enrol_ids, chosen)
            rows = np.isin(g_ids, chosen)
            if not rows.any():
                continue
            g_d, pids = person_min_distances(g_all[rows][:, cols], enrol_ids[cols])
            i_d, _ = person_min_distances(i_all[:, cols], enrol_ids[cols])
            col = {int(p): j for j, p in enumerate(pids)}
            truth = np.array([col[int(p)] for p in g_ids[rows]])
            nearest = np.argmin(g_d, axis=1)
            ok = nearest == truth
            photos = np.unique(enrol_ids[cols], return_counts=True)[1]
            point = open_set_threshold(photos, far if far is not None else DEFAULT_FAR, impostors, fixed=fixed_threshold)
            thr, lam = point.threshold, point.score_lambda
            g_best = open_set_scores(g_d, lam).min(axis=1)
            i_best = open_set_scores(i_d, lam).min(axis=1) if len(i_d) else np.zeros(0)
            acc["faces"].append(int(cols.sum()))
            acc["rank1"].append(float(ok.mean()))
            acc["thr"].append(thr)
            acc["lam"].append(lam)
            acc["exp"].append(point.stranger_rate if point.stranger_rate is not None else float("nan"))
            acc["meas"].append(float((i_best <= thr).mean()) if len(i_best) else float("nan"))
            acc["right"].append(float((ok & (g_best <= thr)).mean()))
            acc["gen"].append(int(rows.sum()))
            acc["imp"].append(len(i_best))
            for x in fpirs:
                if len(i_best):
                    fnirs[x].append(1.0 - dir_at_far(g_best, ok, i_best, x)[0])
            if det is None and len(i_best):
                det = det_curve(g_best, ok, i_best)
            calibrated = point.confidence(np.concatenate([g_best, i_best]))
            if calibrated is None and slope is not None:
                g_dist, i_dist = g_d.min(axis=1), i_d.min(axis=1) if len(i_d) else np.zeros(0)
                calibrated = distance_to_confidence(np.concatenate([g_dist, i_dist]), thr, slope)
            if calibrated is not None and len(i_best):
                conf.append(calibrated)
                right.append(np.concatenate([ok, np.zeros(len(i_best), bool)]))
                weight.append(np.concatenate([np.full(len(ok), 0.5 / len(ok)), np.full(len(i_best), 0.5 / len(i_best))]))
        if not acc["rank1"]:
            continue
        exp = float(np.mean(acc["exp"]))
        rel = reliability(np.concatenate(conf), np.concatenate(right), weights=np.concatenate(weight)) if conf else None
        out.append(
            GallerySize(
                people=n,
                faces=float(np.mean(acc["faces"])),
                draws=len(acc["rank1"]),
                genuine=int(np.sum(acc["gen"])),
                impostor=int(np.sum(acc["imp"])),
                rank1=float(np.mean(acc["rank1"])),
                fnir_at_fpir={x: float(np.mean(v)) if v else float("nan") for x, v in fnirs.items()},
                far=None if fixed_threshold is not None else far,
                threshold=float(np.mean(acc["thr"])),
                expected_stranger_rate=None if np.isnan(exp) else exp,
                measured_stranger_rate=float(np.mean(acc["meas"])),
                named_right=float(np.mean(acc["right"])),
                det=det if det is not None else (np.zeros(0), np.zeros(0)),
                confidence_ece=rel[3] if rel is not None else float("nan"),
                reliability=rel[:3] if rel is not None else (np.zeros(0), np.zeros(0), np.zeros(0)),
                score_lambda=float(np.mean(acc["lam"])),
            )
        )
    return out
