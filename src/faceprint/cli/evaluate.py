"""`faceprint eval ...`: the LFW pairs protocol (with ROC, EER, TAR@FAR and a report) and identification metrics."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.table import Table

from faceprint.cli._common import console, err_console, handle_errors, labelled_embeddings, print_json, progress_bar
from faceprint.detect import DEFAULT_DETECTOR
from faceprint.models import DEFAULT_MODEL

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
    cache: Annotated[bool, typer.Option(help="Reuse embeddings cached by model, path and file stamp.")] = True,
    report: Annotated[Optional[Path], typer.Option("--report", help="Write report.md, report.html and PNG plots into this folder.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """LFW protocol: accuracy, TAR at FAR 0.1/0.01/0.001 (10 folds, thresholds from the other nine), AUC, EER."""
    from faceprint.evaluate.lfw import protocol_folds, read_pairs, verification_metrics
    from faceprint.models import get_model_spec

    with handle_errors():
        ev = embed_pairs(pairs_file, images, model, detector, cache)
        metrics = verification_metrics(ev.distances, ev.same, protocol_folds(read_pairs(pairs_file)))
        written = None
        if report is not None:
            from faceprint.evaluate.report import write_pairs_report

            written = write_pairs_report(ev, metrics, report, default_threshold=get_model_spec(model).threshold)
    r = ev.result
    if as_json:
        out = {**ev.to_dict(), **metrics.to_dict()}
        if written is not None:
            out["report"] = str(written.html)
        print_json(out)
        return
    table = Table(title=f"LFW pairs protocol: {pairs_file.name}, {ev.model}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("pairs", str(r.n_pairs))
    table.add_row("images embedded", str(ev.n_images))
    table.add_row("accuracy (10 folds)", f"{100 * r.accuracy_mean:.2f}% ± {100 * r.accuracy_std:.2f} (std), ± {100 * r.accuracy_sem:.2f} (s.e.)")
    table.add_row("AUC", f"{r.auc:.4f}")
    table.add_row("EER (all pairs)", f"{100 * metrics.eer:.2f}% at distance {metrics.eer_threshold:.4f}")
    for far, t in metrics.tar_at_far.items():
        flag = " *" if t.below_resolution else ""
        table.add_row(f"TAR @ FAR {far:g} (10 folds)", f"{100 * t.tar_mean:.2f}% ± {100 * t.tar_std:.2f} (FAR {100 * t.far_mean:.2f}%){flag}")
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


@eval_app.command("identify")
def eval_identify(
    folder: Annotated[Path, typer.Argument(help="Identity folders: DIR/<person>/<images>.")],
    enroll: Annotated[int, typer.Option("--enroll", "-k", min=1, help="Photos enrolled per person; the rest are queries.")],
    model: Annotated[str, typer.Option("--model", "-m", help="Embedding model.")] = DEFAULT_MODEL,
    detector: Annotated[str, typer.Option(help="Face detector: yunet, mtcnn or dlib-hog.")] = DEFAULT_DETECTOR,
    impostors: Annotated[float, typer.Option(min=0.0, max=0.9, help="Share of persons held out of the gallery as impostors (open set).")] = 0.2,
    seed: Annotated[int, typer.Option(help="Seed of the draw of impostors and enrolled photos.")] = 0,
    threshold: Annotated[Optional[float], typer.Option(help="Operating threshold to report DIR and FAR at (default: the model's).")] = None,
    confusion: Annotated[Optional[Path], typer.Option("--confusion", help="Write a rank-1 confusion-matrix PNG here (up to 50 people).")] = None,
    cache: Annotated[bool, typer.Option(help="Reuse embeddings cached by model, path and file stamp.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Closed-set rank-1/rank-5 and open-set DIR at FAR 0.1/0.01: enrol K photos per person, query the rest.

    A share of the persons is kept out of the gallery; their photos are impostor queries. The threshold at FAR x
    lets at most x of the impostors' best distances through; DIR is the share of genuine queries that are
    rank-1 correct and at or below it.
    """
    from faceprint.evaluate.identification import evaluate_identification
    from faceprint.models import get_model_spec
    from faceprint.viz.plots import CONFUSION_MAX_PEOPLE

    with handle_errors():
        data = labelled_embeddings(folder, None, model, detector, cache)
        spec = get_model_spec(data.model)
        thr = threshold if threshold is not None else spec.open_set_threshold
        res = evaluate_identification(data, enroll, thr, spec.confidence_slope, impostors, seed=seed)
        drawn = None
        if confusion is not None and len(res.people) <= CONFUSION_MAX_PEOPLE:
            from faceprint.viz.plots import confusion_plot

            drawn = confusion_plot(res.confusion, res.people, confusion, title=f"Rank-1 confusion: {folder.name}, {model}, K={enroll}")
    if confusion is not None and drawn is None:
        err_console.print(f"confusion matrix not drawn: {len(res.people)} people enrolled (limit {CONFUSION_MAX_PEOPLE})", highlight=False)
    if as_json:
        print_json({**res.to_dict(), "confusion_image": str(drawn) if drawn else None})
        return
    table = Table(title=f"identification: {folder.name}, {res.model}, {enroll} enrolled per person")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("people enrolled", f"{len(res.people)} ({res.n_enrolled} photos)")
    table.add_row("genuine queries", str(res.n_genuine))
    table.add_row("impostors", f"{len(res.impostor_people)} people, {res.n_impostor} queries")
    if res.too_few:
        table.add_row(f"left out (< {enroll} photos)", f"{len(res.too_few)} people")
    table.add_row("rank-1", f"{100 * res.rank1:.2f}%")
    table.add_row("rank-5", f"{100 * res.rank5:.2f}%" + (" (fewer than 5 people)" if len(res.people) <= 5 else ""))
    for far, p in res.dir_at_far.items():
        flag = f" * (FAR below 1/{res.n_impostor})" if p.below_resolution else ""
        table.add_row(f"DIR @ FAR {far:g}", f"{100 * p.dir:.2f}% (threshold {p.threshold:.4f}){flag}")
    far_text = f", FAR {100 * res.far_at_threshold:.2f}%" if res.n_impostor else ""
    table.add_row(f"at threshold {res.threshold:.4f}", f"DIR {100 * res.dir_at_threshold:.2f}%{far_text}")
    table.add_row("photos without a face", str(len(res.skipped)))
    console.print(table)
    if drawn is not None:
        console.print(f"confusion matrix: {drawn}", highlight=False)
