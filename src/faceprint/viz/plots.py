"""Metric plots: ROC on a log FAR axis, distance histograms, accuracy and F1 against threshold, confusion matrix.

Each function writes one PNG of a fixed pixel size (the SIZE constants) and returns its path. Needs the `viz`
extra (matplotlib).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from faceprint.evaluate.metrics import accuracy_f1_curve
from faceprint.viz._figure import new_figure, save_figure

__all__ = [
    "CONFUSION_MAX_PEOPLE",
    "CONFUSION_SIZE",
    "HISTOGRAM_SIZE",
    "ROC_SIZE",
    "SWEEP_SIZE",
    "confusion_plot",
    "distance_histogram",
    "roc_plot",
    "threshold_sweep_plot",
]

ROC_SIZE = (800, 600)
HISTOGRAM_SIZE = (800, 500)
SWEEP_SIZE = (800, 500)
CONFUSION_SIZE = (1000, 900)
CONFUSION_MAX_PEOPLE = 50

SAME_COLOR = "#2a9d55"
DIFF_COLOR = "#d1495b"


def roc_floor(far: np.ndarray, tar: np.ndarray, points: Mapping[float, float] | None = None, step: float = 0.05) -> float:
    """The lower end of a ROC's TAR axis: a multiple of `step` just below the lowest TAR the curve shows (from the
    TAR it reaches at FAR 0 on), so a good model's curve (TAR 0.94 to 1) fills the plot instead of a line pressed
    against its top; 0 for a curve that falls low.

    >>> roc_floor(np.array([0.0, 0.0, 0.01, 1.0]), np.array([0.0, 0.94, 0.99, 1.0])), roc_floor(np.array([0.0, 1.0]), np.array([0.2, 1.0]))
    (0.9, 0.0)
    """
    far, tar = np.asarray(far, np.float64), np.asarray(tar, np.float64)
    start = tar[far == 0].max() if np.any(far == 0) else tar.min()
    lowest = min([float(start)] + [float(v) for v in tar[far > 0]] + [float(v) for v in (points or {}).values()])
    low = np.floor((lowest - step / 2) / step) * step
    return float(low) if low >= 0.5 else 0.0


def roc_plot(
    far: np.ndarray,
    tar: np.ndarray,
    out: str | os.PathLike[str],
    auc: float | None = None,
    eer: float | None = None,
    points: Mapping[float, float] | None = None,
    title: str = "ROC",
) -> Path:
    """TAR against FAR with FAR on a log axis; `points` {target FAR: cross-validated TAR} are marked.

    FAR = 0 cannot sit on a log axis: the axis starts at a tenth of the smallest non-zero FAR, where the curve
    begins with the TAR it has at FAR 0. The TAR axis starts just below the lowest TAR drawn (roc_floor), as
    face-recognition papers zoom it, and says so in its label.
    """
    far = np.asarray(far, dtype=np.float64)
    tar = np.asarray(tar, dtype=np.float64)
    positive = far[far > 0]
    floor = positive.min() / 10 if len(positive) else 1e-4
    if points:
        floor = min(floor, min(points) / 2)
    fig = new_figure(*ROC_SIZE)
    ax = fig.add_subplot()
    label = "ROC" + (f" (AUC {auc:.4f})" if auc is not None else "")
    low = roc_floor(far, tar, points)
    start = int(np.flatnonzero(far == 0).max()) if np.any(far == 0) else 0  # from the best TAR at FAR 0 on
    ax.step(np.maximum(far[start:], floor), tar[start:], where="post", color="#1d3557", lw=2, label=label)
    if eer is not None:
        ax.plot([eer], [1 - eer], "o", color="#e76f51", label=f"EER {100 * eer:.2f}%")
    for x, y in (points or {}).items():
        ax.plot([x], [y], "s", color="#2a9d8f")
        ax.annotate(f"TAR {100 * y:.1f}% @ FAR {x:g}", (x, y), textcoords="offset points", xytext=(6, -14), fontsize=9)
    ax.set_xscale("log")
    ax.set_xlim(floor, 1.0)
    ax.set_ylim(low, 1.0 + (1.0 - low) * 0.01)
    ax.set_xlabel("false accept rate (log)")
    ax.set_ylabel("true accept rate" + (f" (axis from {low:.2f})" if low > 0 else ""))
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right")
    return save_figure(fig, out)


def distance_histogram(
    distances: np.ndarray,
    same: np.ndarray,
    out: str | os.PathLike[str],
    threshold: float | None = None,
    other_thresholds: Mapping[str, float] | None = None,
    title: str = "Distances of same-person and different-person pairs",
    bins: int = 50,
    threshold_label: str = "threshold",
) -> Path:
    """Overlaid histograms of same-person and different-person distances with the threshold drawn as a line."""
    d = np.asarray(distances, dtype=np.float64)
    s = np.asarray(same, dtype=bool)
    edges = np.linspace(d.min(), d.max(), bins + 1) if d.max() > d.min() else bins
    fig = new_figure(*HISTOGRAM_SIZE)
    ax = fig.add_subplot()
    ax.hist(d[s], bins=edges, alpha=0.6, color=SAME_COLOR, label=f"same person ({int(s.sum())})")
    ax.hist(d[~s], bins=edges, alpha=0.6, color=DIFF_COLOR, label=f"different people ({int((~s).sum())})")
    if threshold is not None:
        ax.axvline(threshold, color="black", lw=2, label=f"{threshold_label} {threshold:.3f}")
    for (name, value), style in zip((other_thresholds or {}).items(), ("--", ":", "-.")):
        ax.axvline(value, color="#555555", lw=1.5, ls=style, label=f"{name} {value:.3f}")
    ax.set_xlabel("distance")
    ax.set_ylabel("pairs")
    ax.set_title(title)
    ax.legend()
    return save_figure(fig, out)


def threshold_sweep_plot(
    distances: np.ndarray,
    same: np.ndarray,
    out: str | os.PathLike[str],
    threshold: float | None = None,
    title: str = "Accuracy and F1 against the distance threshold",
    steps: int = 400,
) -> Path:
    """Accuracy and F1 of 'same when distance <= t' over a range of t (the seed notebook's threshold plot)."""
    d = np.asarray(distances, dtype=np.float64)
    lo, hi = d.min(), d.max()
    pad = 0.05 * (hi - lo) if hi > lo else 0.05
    t = np.linspace(lo - pad, hi + pad, steps)
    acc, f1 = accuracy_f1_curve(d, same, t)
    fig = new_figure(*SWEEP_SIZE)
    ax = fig.add_subplot()
    ax.plot(t, acc, color="#1d3557", lw=2, label="accuracy")
    ax.plot(t, f1, color="#e76f51", lw=2, label="F1 (same person = positive)")
    if threshold is not None:
        a, f = accuracy_f1_curve(d, same, [threshold])
        ax.axvline(threshold, color="black", lw=1.5, ls="--", label=f"threshold {threshold:.3f}: acc {100 * a[0]:.1f}%, F1 {f[0]:.3f}")
    ax.set_xlabel("distance threshold")
    ax.set_ylabel("score")
    ax.set_ylim(0.0, 1.02)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right")
    return save_figure(fig, out)


def confusion_plot(matrix: np.ndarray, names: Sequence[str], out: str | os.PathLike[str], title: str = "Rank-1 confusion") -> Path:
    """Row-normalised confusion matrix (row = true person, column = answer) for up to CONFUSION_MAX_PEOPLE people.

    Counts are written in the cells when there are at most 20 people.
    """
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape != (len(names), len(names)):
        raise ValueError(f"confusion matrix of shape {m.shape} does not fit {len(names)} names")
    if len(names) > CONFUSION_MAX_PEOPLE:
        raise ValueError(f"a confusion image is drawn for at most {CONFUSION_MAX_PEOPLE} people, got {len(names)}")
    rows = m.sum(axis=1, keepdims=True)
    norm = np.divide(m, rows, out=np.zeros_like(m), where=rows > 0)
    fig = new_figure(*CONFUSION_SIZE)
    ax = fig.add_subplot()
    im = ax.imshow(norm, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(im, ax=ax, fraction=0.046, label="share of the row's queries")
    fs = max(4, min(10, int(400 / max(len(names), 1))))
    ax.set_xticks(range(len(names)), labels=list(names), rotation=90, fontsize=fs)
    ax.set_yticks(range(len(names)), labels=list(names), fontsize=fs)
    if len(names) <= 20:
        for i in range(len(names)):
            for j in range(len(names)):
                if m[i, j]:
                    ax.text(j, i, str(int(m[i, j])), ha="center", va="center", fontsize=fs, color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xlabel("identified as (rank 1)")
    ax.set_ylabel("true person")
    ax.set_title(title)
    return save_figure(fig, out)
