"""The report of `eval identify --report OUTDIR`: a DET plot (det.png), the confidence's reliability
(reliability.png) and report.md with the sweep's table."""

from __future__ import annotations

from pathlib import Path

from faceprint.evaluate.identification import IdentificationResult
from faceprint.evaluate.open_set import GallerySize

__all__ = ["write_identify_report"]


def sweep_markdown(sweep: list[GallerySize]) -> str:
    """The gallery-size sweep as a markdown table (the one README quotes)."""
    fpirs = list(sweep[0].fnir_at_fpir) if sweep else []
    head = ["people (draws)", "rank-1", *[f"FNIR @ FPIR {100 * x:g}%" for x in fpirs], "threshold (score: d1 / d2 ** lam)",
            "strangers named: expected / measured", "enrolled named right", "confidence ECE"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for p in sweep:
        exp = "n/a" if p.expected_stranger_rate is None else f"{100 * p.expected_stranger_rate:.2f}%"
        cells = [f"{p.people} ({p.draws})", f"{100 * p.rank1:.1f}%", *[f"{100 * p.fnir_at_fpir[x]:.1f}%" for x in fpirs],
                 f"{p.threshold:.4f} (lam {p.score_lambda:g})", f"{exp} / {100 * p.measured_stranger_rate:.2f}%", f"{100 * p.named_right:.1f}%",
                 f"{p.confidence_ece:.3f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_identify_report(folder: Path, result: IdentificationResult, sweep: list[GallerySize], title: str) -> Path:
    """Write det.png and report.md into `folder`; returns report.md's path."""
    from faceprint.viz.det import det_plot, reliability_plot

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    curves = [(f"{p.people} people", *p.det) for p in sweep if len(p.det[0])]
    points = [(f"{p.people}: threshold {p.threshold:.3f}", p.measured_stranger_rate, 1.0 - p.named_right) for p in sweep if p.impostor]
    det = det_plot(curves, folder / "det.png", points, title=f"DET: {title}")
    rel = reliability_plot([(f"{p.people} people (ECE {p.confidence_ece:.3f})", *p.reliability) for p in sweep if len(p.reliability[0])],
                           folder / "reliability.png", title=f"Reliability: {title}")
    md = folder / "report.md"
    dirs = ", ".join(f"DIR @ FAR {x:g} {100 * p.dir:.2f}%" for x, p in result.dir_at_far.items())
    md.write_text(
        f"# Identification: {title}\n\n"
        f"{len(result.people)} people enrolled ({result.n_enrolled} photos), {result.n_genuine} genuine queries, "
        f"{result.n_impostor} stranger queries of {len(result.impostor_people)} people. "
        f"Rank-1 {100 * result.rank1:.2f}%, {dirs}.\n\n"
        "## By gallery size\n\n"
        "FNIR at FPIR x: the share of enrolled people's queries not named right when the threshold names a share x "
        "of strangers. Threshold: the one `identify` uses for the requested stranger rate at that gallery's size; "
        "the last columns say how many strangers it was expected to name and how many it named.\n\n"
        f"{sweep_markdown(sweep)}\n\n"
        f"![DET]({det.name})\n\nDET: FNIR against FPIR per gallery size (first draw); dots: the operating thresholds.\n\n"
        f"![reliability]({rel.name})\n\nReliability of the confidence identify prints (that the face is its nearest "
        "person), genuine and stranger queries weighted equally in each draw (the prior the confidence is defined for); ECE: expected calibration error.\n",
        encoding="utf-8",
    )
    return md
