"""How good a clustering is against the true people: pairwise and BCubed precision / recall / F, and NMI.

A face left alone (label -1) counts as a cluster of its own, as in the clustering literature (Otto, Wang and
Jain 2018; Amigó et al. 2009 for BCubed).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["ClusterScores", "score_clustering", "singletons"]


def singletons(labels: np.ndarray) -> np.ndarray:
    """Labels with every -1 turned into a cluster of its own (new ids after the largest)."""
    out = np.asarray(labels, np.int64).copy()
    alone = np.flatnonzero(out < 0)
    out[alone] = (out.max(initial=-1) + 1) + np.arange(len(alone))
    return out


def _cells(truth: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The non-empty cells of the person x cluster contingency table (sparse: 100k faces alone would make a
    dense one of billions of cells): person index, cluster index and count of each cell, and the sizes of every
    person and every cluster."""
    _, t = np.unique(truth, return_inverse=True)
    _, p = np.unique(pred, return_inverse=True)
    width = int(p.max()) + 1
    keys, counts = np.unique(t.astype(np.int64) * width + p, return_counts=True)
    return keys // width, keys % width, counts.astype(np.float64), np.bincount(t).astype(np.float64), np.bincount(p).astype(np.float64)


@dataclass(frozen=True)
class ClusterScores:
    """Figures of one clustering against the truth (fractions in [0, 1])."""

    pairwise_precision: float
    pairwise_recall: float
    pairwise_f: float
    bcubed_precision: float
    bcubed_recall: float
    bcubed_f: float
    nmi: float
    clusters: int
    """Clusters found (faces left alone not counted)."""
    alone: int
    """Faces left alone."""
    people: int
    faces: int

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def _f(p: float, r: float) -> float:
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def score_clustering(truth: np.ndarray | list[object], labels: np.ndarray) -> ClusterScores:
    """Pairwise P/R/F (over all pairs of faces), BCubed P/R/F (averaged per face) and NMI (arithmetic mean
    normalisation, scikit-learn's default) of `labels` against the true person of each face.

    >>> s = score_clustering(["a", "a", "b"], np.array([0, 0, -1]))
    >>> s.bcubed_f, s.pairwise_f
    (1.0, 1.0)
    """
    labels = np.asarray(labels, np.int64)
    truth_arr = np.asarray([str(t) for t in truth])
    if len(truth_arr) != len(labels):
        raise ValueError("one true person per face is needed")
    n = len(labels)
    if n == 0:
        raise ValueError("no faces to score")
    pred = singletons(labels)
    t_cell, p_cell, cell, size_true, size_pred = _cells(truth_arr, pred)
    pairs_both = float((cell * (cell - 1)).sum() / 2)
    pairs_pred = float((size_pred * (size_pred - 1)).sum() / 2)
    pairs_true = float((size_true * (size_true - 1)).sum() / 2)
    pp = pairs_both / pairs_pred if pairs_pred else 1.0
    pr = pairs_both / pairs_true if pairs_true else 1.0
    # BCubed: each of the n_tc faces of a cell has precision n_tc / |cluster| and recall n_tc / |person|.
    bp = float((cell * cell / size_pred[p_cell]).sum() / n)
    br = float((cell * cell / size_true[t_cell]).sum() / n)
    from sklearn.metrics import normalized_mutual_info_score

    nmi = float(normalized_mutual_info_score(truth_arr, pred))
    return ClusterScores(
        pp, pr, _f(pp, pr), bp, br, _f(bp, br), nmi,
        clusters=int(len(np.unique(labels[labels >= 0]))), alone=int((labels < 0).sum()),
        people=len(size_true), faces=n,
    )
