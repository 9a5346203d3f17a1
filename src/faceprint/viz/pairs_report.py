"""The verification report of `eval pairs --report OUTDIR`: PNG plots, `report.md` beside them and a
self-contained `report.html` with the same figures embedded."""

from __future__ import annotations

import base64
import html
import os
from dataclasses import dataclass
from pathlib import Path

from faceprint.evaluate.lfw import VerificationMetrics
from faceprint.evaluate.pairs_run import PairsEvaluation
from faceprint.output_paths import make_output_dir

__all__ = ["PairsReport", "write_pairs_report"]

FIGURES = {
    "roc.png": "ROC (FAR on a log axis, TAR axis from just below the lowest TAR shown); squares: TAR at each target FAR, cross-validated over the 10 folds",
    "distances.png": "Distances of same-person and different-person pairs with the best threshold",
    "threshold.png": "Accuracy and F1 against the distance threshold",
}


@dataclass(frozen=True)
class PairsReport:
    folder: Path
    markdown: Path
    html: Path
    figures: list[Path]


def _rows(ev: PairsEvaluation, m: VerificationMetrics, default_threshold: float | None) -> list[tuple[str, str]]:
    r = ev.result
    rows = [
        ("pairs", f"{r.n_pairs} ({int(ev.same.sum())} same, {int((~ev.same).sum())} different)"),
        ("images embedded", str(ev.n_images)),
        (f"accuracy ({len(r.fold_accuracies)} folds)", f"{100 * r.accuracy_mean:.2f}% ± {100 * r.accuracy_std:.2f} (std), ± {100 * r.accuracy_sem:.2f} (s.e.)"),
        ("AUC", f"{m.auc:.4f}"),
        ("EER (all pairs)", f"{100 * m.eer:.2f}% at distance {m.eer_threshold:.4f}"),
        ("EER (per fold)", f"{100 * m.eer_fold_mean:.2f}% ± {100 * m.eer_fold_std:.2f}"),
    ]
    for far, t in m.tar_at_far.items():
        note = f"; below the resolution 1/{t.train_negatives}: no false accept allowed" if t.below_resolution else ""
        rows.append(
            (f"TAR @ FAR {far:g}", f"{100 * t.tar_mean:.2f}% ± {100 * t.tar_std:.2f} (measured FAR {100 * t.far_mean:.2f}% ± {100 * t.far_std:.2f}{note})")
        )
    rows.append(("best threshold (all pairs)", f"{r.threshold:.4f} ({100 * r.accuracy_at_threshold:.2f}%)"))
    if default_threshold is not None:
        rows.append(("model's default threshold", f"{default_threshold:.4f}"))
    rows.append(("images without a face", f"{len(ev.no_face)} (central region used)"))
    return rows


PROTOCOL = (
    "10-fold protocol: each fold's accuracy threshold is the best-accuracy threshold of the other nine folds; "
    "each fold's TAR@FAR threshold is the largest distance whose false-accept rate on the other nine folds' "
    "different-person pairs is at most the target, and TAR and FAR are measured on the held-out fold. "
    "Mean ± population std over folds. AUC and EER are threshold-free and use all pairs."
)


def write_pairs_report(
    ev: PairsEvaluation, metrics: VerificationMetrics, folder: str | os.PathLike[str], default_threshold: float | None = None
) -> PairsReport:
    """Write roc.png, distances.png, threshold.png, report.md and report.html into `folder`."""
    from faceprint.viz.plots import distance_histogram, roc_plot, threshold_sweep_plot

    out = Path(folder)
    make_output_dir(out)
    name = Path(ev.pairs_file).name
    thr = ev.result.threshold
    points = {far: t.tar_mean for far, t in metrics.tar_at_far.items()}
    others = {"model default": default_threshold} if default_threshold is not None else None
    figures = [
        roc_plot(metrics.roc_far, metrics.roc_tar, out / "roc.png", auc=metrics.auc, eer=metrics.eer, points=points, title=f"ROC: {name}, {ev.model}"),
        distance_histogram(ev.distances, ev.same, out / "distances.png", threshold=thr, other_thresholds=others, threshold_label="best threshold"),
        threshold_sweep_plot(ev.distances, ev.same, out / "threshold.png", threshold=thr),
    ]
    rows = _rows(ev, metrics, default_threshold)
    title = f"Verification report: {name}, {ev.model}"
    md = [f"# {title}", "", PROTOCOL, "", "| measure | value |", "| --- | --- |"]
    md += [f"| {k} | {v} |" for k, v in rows]
    md.append("")
    for fig in figures:
        md += [f"![{FIGURES[fig.name]}]({fig.name})", "", f"*{FIGURES[fig.name]}*", ""]
    md_path = out / "report.md"
    md_path.write_text("\n".join(md), encoding="utf-8")
    body = [f"<h1>{html.escape(title)}</h1>", f"<p>{html.escape(PROTOCOL)}</p>", "<table>"]
    body += [f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows]
    body.append("</table>")
    for fig in figures:
        data = base64.b64encode(fig.read_bytes()).decode("ascii")
        caption = html.escape(FIGURES[fig.name])
        body.append(f'<figure><img src="data:image/png;base64,{data}" alt="{caption}"><figcaption>{caption}</figcaption></figure>')
    style = (
        "body{font-family:sans-serif;max-width:900px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}"
        "img{max-width:100%}figcaption{color:#555;font-style:italic}"
    )
    html_path = out / "report.html"
    html_path.write_text(
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>{style}</style></head>'
        f"<body>\n" + "\n".join(body) + "\n</body></html>\n",
        encoding="utf-8",
    )
    return PairsReport(out, md_path, html_path, figures)
