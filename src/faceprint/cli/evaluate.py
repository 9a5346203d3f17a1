"""`faceprint eval ...`: the LFW pairs protocol (with ROC, EER, TAR@FAR and a report) and identification metrics."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from faceprint.cli._common import (
    check_threshold,
    console,
    err_console,
    handle_errors,
    labelled_embeddings,
    plural,
    print_json,
    progress_bar,
    UsageError,
)
from faceprint.cli._common import table as new_table
from faceprint.cli._gallery_opts import FarOpt
from faceprint.detect import DEFAULT_DETECTOR
from faceprint.models import DEFAULT_MODEL
from faceprint.recognize.open_set import DEFAULT_FAR
from faceprint.output_paths import PICTURE_SUFFIXES, check_output_dir, check_output_file

if TYPE_CHECKING:
    from faceprint.evaluate.pairs_run import PairsEvaluation

eval_app = typer.Typer(help="Measure accuracy with standard protocols.", no_args_is_help=True)


def embed_pairs(pairs_file: Path, images: Path, model: str, detector: str, cache: bool) -> PairsEvaluation:
    """Embed every image of a pairs file once (progress bar, optional embedding cache) and score the pairs."""
    from faceprint.analyzer import FaceAnalyzer
    from faceprint.cache import EmbeddingCache
    from faceprint.evaluate.pairs_run import run_pairs

    analyzer = FaceAnalyzer(model=model, detector=detector)
    store = EmbeddingCache() if cache else None
    try:
        with progress_bar() as bar:
            task = bar.add_task("embedding images", total=None)
            return run_pairs(pairs_file, images, analyzer, store, on_image=lambda done, total: bar.update(task, completed=done, total=total))
    finally:
        if store is not None:
            store.close()


@eval_app.command("pairs")
def eval_pairs(
    pairs_file: Annotated[Path, typer.Argument(help="LFW pairs file (pairs.txt, pairsDevTest.txt, ...).")],
    images: Annotated[Path, typer.Option("--images", help="Folder with <Name>/<Name>_NNNN.jpg.")],
    model: Annotated[str, typer.Option("--model", "-m", help="Embedding model.")] = DEFAULT_MODEL,
    detector: Annotated[str, typer.Option(help="Face detector: yunet, mtcnn or dlib-hog.")] = DEFAULT_DETECTOR,
    cache: Annotated[bool, typer.Option(help="Reuse embeddings cached by model, detector, path and content hash.")] = True,
    report: Annotated[Optional[Path], typer.Option("--report", help="Write report.md, report.html and PNG plots into this folder.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """LFW protocol: accuracy, TAR at FAR 0.1/0.01/0.001 (10 folds, thresholds from the other nine), AUC, EER."""
    from faceprint.evaluate.lfw import protocol_folds, read_pairs, verification_metrics
    from faceprint.models import get_model_spec

    with handle_errors():
        if report is not None:
            check_output_dir(report, "--report folder")
        folds = protocol_folds(read_pairs(pairs_file))  # a file too small for the protocol fails before any embedding
        ev = embed_pairs(pairs_file, images, model, detector, cache)
        metrics = verification_metrics(ev.distances, ev.same, folds)
        written = None
        if report is not None:
            from faceprint.viz.pairs_report import write_pairs_report

            written = write_pairs_report(ev, metrics, report, default_threshold=get_model_spec(model).threshold)
    r = ev.result
    if as_json:
        out = {**ev.to_dict(), **metrics.to_dict()}
        if written is not None:
            out["report"] = str(written.html)
        print_json(out)
        return
    table = new_table(f"LFW pairs protocol: {pairs_file.name}, {ev.model}", "measure")
    table.add_column("value", justify="right", no_wrap=True)
    table.add_row("pairs", str(r.n_pairs))
    table.add_row("images embedded", str(ev.n_images))
    table.add_row(f"accuracy ({len(r.fold_accuracies)} folds)", f"{100 * r.accuracy_mean:.2f}% ± {100 * r.accuracy_std:.2f} (std), ± {100 * r.accuracy_sem:.2f} (s.e.)")
    table.add_row("AUC", f"{r.auc:.4f}")
    table.add_row("EER (all pairs)", f"{100 * metrics.eer:.2f}% at distance {metrics.eer_threshold:.4f}")
    for far, t in metrics.tar_at_far.items():
        flag = " *" if t.below_resolution else ""
        table.add_row(f"TAR @ FAR {far:g} ({len(r.fold_accuracies)} folds)", f"{100 * t.tar_mean:.2f}% ± {100 * t.tar_std:.2f} (FAR {100 * t.far_mean:.2f}%){flag}")
    table.add_row("best threshold (all pairs)", f"{r.threshold:.4f} ({100 * r.accuracy_at_threshold:.2f}%)")
    table.add_row("fold thresholds", f"{min(r.fold_thresholds):.4f} .. {max(r.fold_thresholds):.4f}")
    table.add_row("images without a face", f"{len(ev.no_face)} (central region used instead)")
    table.add_row("images with several faces", f"{ev.several_faces} (face nearest the centre used)")
    console.print(table)
    if any(t.below_resolution for t in metrics.tar_at_far.values()):
        n = min(t.train_negatives for t in metrics.tar_at_far.values())
        console.print(f"* target FAR below the resolution 1/{n} of the training folds: those thresholds allow no false accept", highlight=False)
    if ev.no_face:
        console.print("no face found in: " + ", ".join(ev.no_face[:20]) + (" ..." if len(ev.no_face) > 20 else ""), highlight=False)
    if written is not None:
        console.print(f"report: {written.html} (and {written.markdown.name}, {', '.join(f.name for f in written.figures)})", highlight=False)


def sweep_table(sweep: list, derived: bool) -> Any:
    """The gallery-size sweep of `eval identify` as a table."""
    fpirs = list(sweep[0].fnir_at_fpir)
    t = new_table("by gallery size: FNIR @ FPIR x = enrolled people missed when a share x of strangers is named; "
                  "threshold on the score d1 / d2 ** lam (lam 0: the distance)")
    for name in ["people", "rank-1", *[f"FNIR@{100 * x:g}%" for x in fpirs], "threshold", "strangers named exp./meas.", "named right"]:
        t.add_column(name, justify="right", no_wrap=True)
    for p in sweep:
        exp = "n/a" if p.expected_stranger_rate is None else f"{100 * p.expected_stranger_rate:.2f}%"
        t.add_row(
            f"{p.people}" + (f" x{p.draws}" if p.draws > 1 else ""),
            f"{100 * p.rank1:.1f}%",
            *[f"{100 * p.fnir_at_fpir[x]:.1f}%" for x in fpirs],
            f"{p.threshold:.4f}" + (f" lam {p.score_lambda:g}" if derived else " (fixed)"),
            f"{exp} / {100 * p.measured_stranger_rate:.2f}%",
            f"{100 * p.named_right:.1f}%",
        )
    return t


@eval_app.command("identify")
def eval_identify(
    folder: Annotated[Path, typer.Argument(help="Identity folders: DIR/<person>/<images>.")],
    enroll: Annotated[int | None, typer.Option("--enroll", min=1, help="Photos enrolled per person; the rest are queries.  [required]")] = None,
    old_k: Annotated[int | None, typer.Option("-k", hidden=True, min=1, help="Deprecated spelling of --enroll (-k is --top-k).")] = None,
    model: Annotated[str, typer.Option("--model", "-m", help="Embedding model.")] = DEFAULT_MODEL,
    detector: Annotated[str, typer.Option(help="Face detector: yunet, mtcnn or dlib-hog.")] = DEFAULT_DETECTOR,
    impostors: Annotated[float, typer.Option(min=0.0, max=0.9, help="Share of persons held out of the gallery as impostors (open set).")] = 0.2,
    seed: Annotated[int, typer.Option(help="Seed of the draw of impostors and enrolled photos.")] = 0,
    threshold: Annotated[Optional[float], typer.Option(help="Operating threshold to report DIR and FAR at (default: the one --far gives for the gallery's size).")] = None,
    far: FarOpt = DEFAULT_FAR,
    sizes: Annotated[str, typer.Option("--sizes", help="Gallery sizes in people to sweep, e.g. 10,100,1000,all.")] = "10,100,1000,all",
    report: Annotated[Optional[Path], typer.Option("--report", help="Write report.md and a DET plot (det.png) into this folder.")] = None,
    confusion: Annotated[Optional[Path], typer.Option("--confusion", help="Write a rank-1 confusion-matrix PNG here (up to 50 people).")] = None,
    cache: Annotated[bool, typer.Option(help="Reuse embeddings cached by model, detector, path and content hash.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Closed-set rank-1/rank-5, open-set DIR at FAR 0.1/0.01 and FNIR at FPIR 0.3/1/10% over gallery sizes.

    A share of the persons is kept out of the gallery; their photos are impostor (stranger) queries. The threshold
    at FAR x lets at most x of the impostors' best scores through (the open-set score identify uses at this
    gallery's size); DIR is the share of genuine queries that are rank-1 correct and at or below it, FNIR = 1 - DIR
    (NIST FRVT's terms, FPIR = FAR). The sweep draws galleries of each size and checks that the threshold for --far
    names that share of strangers.
    """
    from collections import Counter

    from faceprint.evaluate.identification import evaluate_identification, split_identification
    from faceprint.evaluate.open_set import parse_sizes, sweep_gallery_sizes
    from faceprint.models import get_model_spec
    from faceprint.recognize.open_set import model_impostors, open_set_threshold
    from faceprint.viz.plots import CONFUSION_MAX_PEOPLE

    try:
        size_list = parse_sizes(sizes)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--sizes") from None
    if old_k is not None:
        err_console.print("note: eval identify -k is now --enroll (-k is --top-k in identify)", highlight=False)
        enroll = enroll if enroll is not None else old_k
    if enroll is None:
        raise UsageError("Missing option '--enroll': how many photos to enrol per person")
    with handle_errors():
        check_threshold(threshold)
        if confusion is not None:
            check_output_file(confusion, "confusion picture", PICTURE_SUFFIXES)
        data = labelled_embeddings(folder, None, model, detector, cache)
        spec = get_model_spec(data.model)
        dist = model_impostors(data.model)
        split = split_identification(data.labels, enroll, impostors, seed)
        photos = list(Counter(data.labels[int(i)] for i in split.enrol).values())  # the gallery's make-up
        point = open_set_threshold(photos, far, dist, fixed=threshold, fallback=spec.open_set_threshold)
        thr = point.threshold
        res = evaluate_identification(data, enroll, thr, spec.confidence_slope, impostors, seed=seed, split=split,
                                      score_lambda=point.score_lambda)
        fixed = thr if threshold is not None or dist is None else None  # None: each gallery size gets its own
        sweep = sweep_gallery_sizes(data, split, dist, far, size_list, fixed_threshold=fixed, seed=seed, slope=spec.confidence_slope)
        written = None
        if report is not None:
            from faceprint.viz.identify_report import write_identify_report

            written = write_identify_report(report, res, sweep, title=f"{folder.name}, {res.model}, {enroll} enrolled per person")
        drawn = None
        if confusion is not None and len(res.people) <= CONFUSION_MAX_PEOPLE:
            from faceprint.viz.plots import confusion_plot

            drawn = confusion_plot(res.confusion, res.people, confusion, title=f"Rank-1 confusion: {folder.name}, {model}, K={enroll}")
    if confusion is not None and drawn is None:
        err_console.print(f"confusion matrix not drawn: {plural(len(res.people), 'person', 'people')} enrolled (limit {CONFUSION_MAX_PEOPLE})", highlight=False)
    if as_json:
        print_json({**res.to_dict(), "confusion_image": str(drawn) if drawn else None, "far": far if fixed is None else None,
                    "expected_stranger_rate": point.stranger_rate, "threshold_applies_to": point.score_name(),
                    "gallery_sizes": [p.to_dict() for p in sweep], "report": str(written) if written else None})
        return
    table = new_table(f"identification: {folder.name}, {res.model}, {enroll} enrolled per person", "measure")
    table.add_column("value", justify="right", no_wrap=True)
    table.add_row("people enrolled", f"{len(res.people)} ({plural(res.n_enrolled, 'photo')})")
    table.add_row("genuine queries", str(res.n_genuine))
    table.add_row("impostors", f"{plural(len(res.impostor_people), 'person', 'people')}, {plural(res.n_impostor, 'query', 'queries')}")
    if res.too_few:
        table.add_row(f"left out (< {enroll} photos)", plural(len(res.too_few), "person", "people"))
    table.add_row("rank-1", f"{100 * res.rank1:.2f}%")
    table.add_row("rank-5", f"{100 * res.rank5:.2f}%" + (" (fewer than 5 people)" if len(res.people) <= 5 else ""))
    for far, p in res.dir_at_far.items():
        flag = f" * (FAR below 1/{res.n_impostor})" if p.below_resolution else ""
        table.add_row(f"DIR @ FAR {far:g}", f"{100 * p.dir:.2f}% (threshold {p.threshold:.4f}){flag}")
    far_text = f", FAR {100 * res.far_at_threshold:.2f}%" if res.n_impostor else ""
    how = f"for {100 * far:g}% strangers named" if fixed is None else "fixed"
    expected = f" (expected {100 * point.stranger_rate:.2f}%)" if point.stranger_rate is not None and res.n_impostor else ""
    table.add_row(f"at threshold {res.threshold:.4f} ({how})", f"DIR {100 * res.dir_at_threshold:.2f}%{far_text}{expected}")
    table.add_row("open-set score", point.score_name())
    table.add_row("photos without a face", str(len(res.skipped)))
    console.print(table)
    if sweep:
        console.print(sweep_table(sweep, fixed is None))
    if written is not None:
        console.print(f"report: {written}", highlight=False)
    if drawn is not None:
        console.print(f"confusion matrix: {drawn}", highlight=False)
