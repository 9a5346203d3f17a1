"""Open-set identification plots: the DET curve (FNIR against FPIR on log axes, one curve per gallery size) and
the reliability of identify's confidence."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from faceprint.viz._figure import new_figure, save_figure

__all__ = ["DET_SIZE", "RELIABILITY_SIZE", "det_plot", "reliability_plot"]

DET_SIZE = (800, 600)


def det_plot(
    curves: Sequence[tuple[str, np.ndarray, np.ndarray]],
    out: str | os.PathLike[str],
    points: Sequence[tuple[str, float, float]] = (),
    title: str = "Open-set identification (DET)",
) -> Path:
    """FNIR against FPIR, both on log axes; `curves` are (label, fpir, fnir), `points` (label, fpir, fnir) markers.

    Zero rates cannot sit on a log axis: they are drawn at a floor a tenth below the smallest non-zero rate.
    """
    rates = [v for _, f, n in curves for v in (*f, *n) if v > 0] + [v for _, f, n in points for v in (f, n) if v > 0]
    floor = min(rates) / 10 if rates else 1e-4
    fig = new_figure(*DET_SIZE)
    ax = fig.add_subplot()
    for label, fpir, fnir in curves:
        ax.step(np.maximum(fpir, floor), np.maximum(fnir, floor), where="post", lw=2, label=label)
    for label, fpir, fnir in points:
        ax.plot([max(fpir, floor)], [max(fnir, floor)], "o", color="black")
        ax.annotate(label, (max(fpir, floor), max(fnir, floor)), textcoords="offset points", xytext=(6, 4), fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(floor, 1.0)
    ax.set_ylim(floor, 1.0)
    ax.set_xlabel("FPIR: strangers named as someone (log)")
    ax.set_ylabel("FNIR: enrolled people not named right (log)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower left")
    return save_figure(fig, out)


RELIABILITY_SIZE = (700, 600)


def reliability_plot(
    curves: Sequence[tuple[str, np.ndarray, np.ndarray, np.ndarray]],
    out: str | os.PathLike[str],
    title: str = "Reliability of the confidence",
) -> Path:
    """Share of queries that are their nearest person against the confidence printed, per bin; `curves` are
    (label, mean confidence, share, count) per gallery size. The diagonal is a calibrated confidence."""
    fig = new_figure(*RELIABILITY_SIZE)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], "--", color="grey", lw=1, label="calibrated")
    for label, conf, share, count in curves:
        used = count > 0
        ax.plot(conf[used], share[used], "o-", lw=1.5, label=label)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence printed (that the face is the nearest person)")
    ax.set_ylabel("share of queries that are the nearest person")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left")
    return save_figure(fig, out)
