"""Verification metrics on distances (smaller = more alike): accuracy, best threshold, ROC, AUC, EER, TAR at FAR."""

from __future__ import annotations

import numpy as np

__all__ = ["accuracy_at", "accuracy_f1_curve", "best_threshold", "eer", "f1_at", "far_tar_at", "roc_auc", "roc_curve", "tar_at_far", "threshold_at_far"]


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


def roc_curve(distances: np.ndarray, same: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC points of the rule 'same person when distance <= threshold'.

    Args:
        distances: pair distances (smaller = more alike).
        same: True for same-person pairs.

    Returns:
        (far, tar, thresholds), one entry per distinct distance plus a first point (0, 0) at threshold -inf:
        `far[i]` is the share of different-person pairs with distance <= `thresholds[i]`, `tar[i]` the share of
        same-person pairs. Both rise with the threshold.

    >>> far, tar, thr = roc_curve([0.1, 0.2, 0.3, 0.4], [True, False, True, False])
    >>> far.tolist(), tar.tolist()
    ([0.0, 0.0, 0.5, 0.5, 1.0], [0.0, 0.5, 0.5, 1.0, 1.0])
    """
    d = np.asarray(distances, dtype=np.float64)
    s = np.asarray(same, dtype=bool)
    n_pos, n_neg = int(s.sum()), int((~s).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("a ROC curve needs both same-person and different-person pairs")
    order = np.argsort(d, kind="mergesort")
    d, s = d[order], s[order]
    last = np.r_[d[1:] > d[:-1], True]  # the last pair of each run of equal distances
    tp = np.cumsum(s)[last]
    fp = np.cumsum(~s)[last]
    far = np.r_[0.0, fp / n_neg]
    tar = np.r_[0.0, tp / n_pos]
    return far, tar, np.r_[-np.inf, d[last]]


def eer(distances: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    """Equal error rate: where the false-accept rate equals the false-reject rate (1 - TAR).

    The ROC points are joined by straight lines and the crossing of FAR with FRR is interpolated on them.

    Returns:
        (eer, threshold): the rate and the distance threshold at the crossing (interpolated between the two
        neighbouring ROC thresholds).

    >>> eer([0.1, 0.2, 0.3, 0.4], [True, False, True, False])
    (0.5, 0.2)
    """
    far, tar, thr = roc_curve(distances, same)
    diff = (1.0 - tar) - far  # FRR - FAR: from 1 at the first point down to -1 at the last
    i = int(np.argmax(diff <= 0))
    if diff[i] == 0 or i == 0:
        return float(far[i]), float(thr[i])
    t = diff[i - 1] / (diff[i - 1] - diff[i])
    rate = far[i - 1] + t * (far[i] - far[i - 1])
    lo = thr[i - 1] if np.isfinite(thr[i - 1]) else thr[i]
    return float(rate), float(lo + t * (thr[i] - lo))


def threshold_at_far(negative_distances: np.ndarray, far: float) -> float:
    """The largest distance threshold whose false-accept rate on these different-person distances is <= `far`.

    With N negatives at most k = floor(far * N) of them may be accepted, so the threshold lies just below the
    (k+1)-th smallest negative distance. When far * N < 1 (the target is below the resolution 1/N) this is
    just below the smallest negative: zero false accepts. Returns +inf when far >= 1.

    >>> threshold_at_far([0.5, 0.6, 0.7, 0.8], 0.25) < 0.6
    True
    """
    if not 0.0 <= far <= 1.0:
        raise ValueError(f"a false-accept rate lies in [0, 1], got {far}")
    n = np.sort(np.asarray(negative_distances, dtype=np.float64))
    if len(n) == 0:
        raise ValueError("no different-person distances")
    k = int(np.floor(far * len(n) + 1e-9))
    if k >= len(n):
        return float("inf")
    return float(np.nextafter(n[k], -np.inf))


def tar_at_far(distances: np.ndarray, same: np.ndarray, far: float) -> tuple[float, float]:
    """True-accept rate at the largest threshold whose false-accept rate is <= `far`, on one set of pairs.

    Equals the highest TAR among the ROC points with FAR <= `far`. For the cross-validated figure see
    `faceprint.evaluate.lfw.tar_at_far_folds`.

    Returns:
        (tar, threshold)

    >>> tar_at_far([0.1, 0.2, 0.3, 0.4], [True, False, True, False], 0.5)[0]
    1.0
    """
    d = np.asarray(distances, dtype=np.float64)
    s = np.asarray(same, dtype=bool)
    if not s.any():
        raise ValueError("no same-person pairs")
    thr = threshold_at_far(d[~s], far)
    return float((d[s] <= thr).mean()), thr


def far_tar_at(distances: np.ndarray, same: np.ndarray, threshold: float) -> tuple[float, float]:
    """(false-accept rate, true-accept rate) of 'same when distance <= threshold' (nan where a kind is absent)."""
    d = np.asarray(distances, dtype=np.float64)
    s = np.asarray(same, dtype=bool)
    acc = d <= threshold
    far = float(acc[~s].mean()) if (~s).any() else float("nan")
    tar = float(acc[s].mean()) if s.any() else float("nan")
    return far, tar


def f1_at(distances: np.ndarray, same: np.ndarray, threshold: float) -> float:
    """F1 score of 'same when distance <= threshold', same-person pairs being the positive class."""
    d = np.asarray(distances, dtype=np.float64)
    s = np.asarray(same, dtype=bool)
    pred = d <= threshold
    tp = int((pred & s).sum())
    denom = int(pred.sum()) + int(s.sum())
    return 2.0 * tp / denom if denom else float("nan")


def accuracy_f1_curve(distances: np.ndarray, same: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy and F1 of 'same when distance <= t' for every t in `thresholds` (one sort, no loop over t).

    >>> acc, f1 = accuracy_f1_curve([0.1, 0.2, 0.3, 0.4], [True, False, True, False], [0.15, 0.35])
    >>> acc.tolist(), [round(v, 4) for v in f1.tolist()]
    ([0.75, 0.75], [0.6667, 0.8])
    """
    d = np.asarray(distances, dtype=np.float64)
    s = np.asarray(same, dtype=bool)
    t = np.asarray(thresholds, dtype=np.float64)
    tp = np.searchsorted(np.sort(d[s]), t, side="right")
    fp = np.searchsorted(np.sort(d[~s]), t, side="right")
    n_pos, n_neg = int(s.sum()), int((~s).sum())
    acc = (tp + (n_neg - fp)) / max(len(d), 1)
    denom = tp + fp + n_pos
    f1 = np.where(denom > 0, 2.0 * tp / np.maximum(denom, 1), np.nan)
    return acc.astype(np.float64), f1.astype(np.float64)
