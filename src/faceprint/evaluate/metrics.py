"""Verification metrics on distances (smaller = more alike): accuracy at a threshold, best threshold, ROC AUC."""

from __future__ import annotations

import numpy as np

__all__ = ["accuracy_at", "best_threshold", "roc_auc"]


def accuracy_at(distances: np.ndarray, same: np.ndarray, threshold: float) -> float:
    """Share of pairs judged right when distance <= threshold means 'same person'."""
    d, s = np.asarray(distances, float), np.asarray(same, bool)
    return float(((d <= threshold) == s).mean()) if len(d) else float("nan")


def best_threshold(distances: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    """The threshold with the highest accuracy on these pairs, and that accuracy.

    Every cut between distinct sorted distances is tried in one pass; the threshold is placed midway between the
    two distances around the best cut (the first one when several are equally good).
    """
    d = np.asarray(distances, dtype=np.float64)
    s = np.asarray(same, dtype=bool)
    if len(d) == 0:
        raise ValueError("no pairs")
    order = np.argsort(d, kind="mergesort")
    d, s = d[order], s[order]
    # Cut k puts the first k pairs (smallest distances) on the 'same' side: correct = same among them + different after.
    same_before = np.concatenate([[0], np.cumsum(s)])
    diff_after = (~s).sum() - np.concatenate([[0], np.cumsum(~s)])
    correct = same_before + diff_after
    # Only cuts between two different distances are realisable.
    valid = np.concatenate([[True], d[1:] > d[:-1], [True]])
    correct = np.where(valid, correct, -1)
    k = int(np.argmax(correct))
    if k == 0:
        thr = d[0] - 1e-6
    elif k == len(d):
        thr = d[-1] + 1e-6
    else:
        thr = (d[k - 1] + d[k]) / 2.0
    return float(thr), float(correct[k] / len(d))


def roc_auc(distances: np.ndarray, same: np.ndarray) -> float:
    """Area under the ROC curve: the chance that a random same pair is closer than a random different pair."""
    d = np.asarray(distances, dtype=np.float64)
    s = np.asarray(same, dtype=bool)
    n_pos, n_neg = int(s.sum()), int((~s).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    # Mann-Whitney U with average ranks for ties; score = -distance.
    order = np.argsort(-d, kind="mergesort")
    ranks = np.empty(len(d), dtype=np.float64)
    sorted_scores = -d[order]
    i = 0
    while i < len(d):
        j = i
        while j + 1 < len(d) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    u = ranks[s].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))
