"""The training-curves picture of a run: loss and active triplets, held-out AUC, accuracy and rank-1, per epoch."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from faceprint._extras import optional_module
from faceprint._files import atomic_write

__all__ = ["plot_curves"]


def plot_curves(history: Sequence[dict[str, Any]], path: str | os.PathLike[str], title: str = "") -> None:
    """Draw the metrics history (rows of metrics.jsonl) into a PNG, atomically."""
    optional_module("matplotlib").use("Agg", force=False)
    Figure = optional_module("matplotlib.figure", "matplotlib").Figure

    def series(key: str) -> tuple[list[int], list[float]]:
        rows = [r for r in history if isinstance(r.get(key), (int, float))]
        return [r["epoch"] for r in rows], [float(r[key]) for r in rows]

    fig = Figure(figsize=(11, 3.6), dpi=100)
    ax_loss, ax_act, ax_val = fig.subplots(1, 3)
    ax_loss.plot(*series("loss"), marker="o", label="train")
    ax_loss.set_title("triplet loss")
    ax_act.plot(*series("active"), marker="o", color="tab:orange")
    ax_act.set_title("active triplets (share of valid)")
    ax_act.set_ylim(0, 1)
    for key, label in (("val_auc", "AUC"), ("val_accuracy", "pair accuracy"), ("val_rank1", "rank-1")):
        ax_val.plot(*series(key), marker="o", label=label)
    ax_val.set_title("held-out people")
    ax_val.legend(loc="lower right")
    for ax in (ax_loss, ax_act, ax_val):
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png"))
