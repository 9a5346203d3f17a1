"""Open-set identification plots: the DET curve (FNIR against FPIR on log axes, one curve per gallery size) and
the reliability of identify's confidence."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from faceprint.viz._figure import new_figure, save_figure

__all__ = ["DET_SIZE", "RELIABILITY_SIZE", "det_plot", "reliability_plot", "zero_note"]

DET_SIZE = (800, 600)


def zero_note(label: str, fpir: np.ndarray, fnir: np.ndarray) -> str | None:
    """What a DET curve that a log axis cannot show says, in words: FNIR 0 at FPIR 0, or at every FPIR above 0.

    >>> zero_note("4 people", np.array([0.0, 0.0, 0.5]), np.array([1.0, 0.0, 0.0]))[:30]
    '4 people: FNIR 0 at FPIR 0: so'
    >>> zero_note("x", np.array([0.0, 0.1]), np.array([0.2, 0.1])) is None
    True
    """
    fpir, fnir = np.asarray(fpir, np.float64), np.asarray(fnir, np.float64)
    named = fpir > 0
    if len(fnir) and np.any((fpir == 0) & (fnir == 0)):  # a perfect threshold: the curve is the corner of the axes
        return (f"{label}: FNIR 0 at FPIR 0: some thresholds name every enrolled person right\n"
                "and no stranger (the curve runs along both dashed zero lines)")
    if np.any(named) and not np.any(fnir[named] > 0):
        return (f"{label}: FNIR is 0 at every FPIR from {fpir[named].min():.2g} up:\nonce a threshold names "
                "a stranger, no enrolled person is missed (the curve lies on the dashed FNIR 0 line)")
    return None


def det_plot(
    curves: Sequence[tuple[str, np.ndarray, np.ndarray]],
    out: str | os.PathLike[str],
    points: Sequence[tuple[str, float, float]] = (),
    title: str = "Open-set identification (DET)",
) -> Path:
    """FNIR against FPIR, both on log axes; `curves` are (label, fpir, fnir), `points` (label, fpir, fnir) markers.

    Zero rates cannot sit on a log axis: they are drawn on a dashed floor line a tenth below the smallest non-zero
    rate, labelled as zero. A curve whose FNIR is 0 at every FPIR above 0 (every enrolled person named right, as on
    the Avengers) is said so in words on the plot, instead of being left as a corner on the axes that reads as a dot.
    """
    rates = [v for _, f, n in curves for v in (*f, *n) if v > 0] + [v for _, f, n in points for v in (f, n) if v > 0]
    floor = min(rates) / 10 if rates else 1e-4
    fig = new_figure(*DET_SIZE)
    ax = fig.add_subplot()
    ax.axhline(floor, color="grey", lw=1, ls="--")
    ax.axvline(floor, color="grey", lw=1, ls="--")
    ax.annotate("FNIR 0", (1.0, floor), textcoords="offset points", xytext=(-4, 4), ha="right", fontsize=8, color="grey")
    ax.annotate("FPIR 0", (floor, 1.0), textcoords="offset points", xytext=(4, -12), fontsize=8, color="grey")
    notes = []
    for label, fpir, fnir in curves:
        ax.step(np.maximum(fpir, floor), np.maximum(fnir, floor), where="post", lw=2, label=label)
        note = zero_note(label, fpir, fnir)
        if note:
            notes.append(note)
    for label, x, y in points:
        ax.plot([max(x, floor)], [max(y, floor)], "o", color="black")
        ax.annotate(label, (max(x, floor), max(y, floor)), textcoords="offset points", xytext=(6, 4), fontsize=8)
    if notes:
        ax.text(0.5, 0.5, "\n".join(notes), transform=ax.transAxes,
                ha="center", va="center", fontsize=10, bbox={"boxstyle": "round", "facecolor": "#fff8e1", "edgecolor": "#e0a800"})
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(floor / 2, 1.0)
    ax.set_ylim(floor / 2, 1.0)
    ax.set_xlabel("FPIR: strangers named as someone (log)")
    ax.set_ylabel("FNIR: enrolled people not named right (log)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower left")
    return save_figure(fig, out)


RELIABILITY_SIZE = (700, 700)


def reliability_plot(
    curves: Sequence[tuple[str, np.ndarray, np.ndarray, np.ndarray]],
    out: str | os.PathLike[str],
    title: str = "Reliability of the confidence",
) -> Path:
    """Share of queries that are their nearest person against the confidence printed, per bin; `curves` are
    (label, mean confidence, share, count) per gallery size. The diagonal is a calibrated confidence.

    Each bin's marker has an area in proportion to its share of the queries (and says it), and a histogram below
    shows how the queries spread over the bins: a bin of a handful of queries far off the diagonal weighs little in
    the expected calibration error, and the picture must not suggest otherwise.
    """
    fig = new_figure(*RELIABILITY_SIZE)
    ax, hist = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    ax.plot([0, 1], [0, 1], "--", color="grey", lw=1, label="calibrated")
    width = 1.0 / max((len(c[1]) for c in curves), default=10)
    for k, (label, conf, share, count) in enumerate(curves):
        conf, share, count = (np.asarray(v, np.float64) for v in (conf, share, count))
        used = count > 0
        part = count / max(count.sum(), 1e-12)
        line, = ax.plot(conf[used], share[used], "-", lw=1, alpha=0.6)
        ax.scatter(conf[used], share[used], s=20 + 1500 * part[used], color=line.get_color(), alpha=0.7,
                   edgecolors="black", linewidths=0.5, label=label, zorder=3)
        for x, y, q in zip(conf[used], share[used], part[used]):
            ax.annotate(f"{100 * q:.0f}%" if q >= 0.01 else "<1%", (x, y), textcoords="offset points", xytext=(8, -10), fontsize=8)
        centres = (np.arange(len(count)) + 0.5) * width
        shift = (k - (len(curves) - 1) / 2) * width / max(len(curves), 1)
        hist.bar(centres + shift, 100 * part, width=width / max(len(curves), 1), color=line.get_color(), alpha=0.8)
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel("share of queries that are the nearest person")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left")
    hist.set_ylabel("% of queries")
    hist.set_xlabel("confidence printed (that the face is the nearest person); marker area and bars: queries per bin")
    hist.grid(True, axis="y", alpha=0.3)
    return save_figure(fig, out)
