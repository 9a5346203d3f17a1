"""`faceprint eval ...`: the LFW pairs protocol."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from faceprint.cli._common import console, handle_errors, print_json, progress_bar
from faceprint.models import DEFAULT_MODEL

eval_app = typer.Typer(help="Measure accuracy with standard protocols.", no_args_is_help=True)


@eval_app.command("pairs")
def eval_pairs(
    pairs_file: Annotated[Path, typer.Argument(help="LFW pairs file (pairs.txt, pairsDevTest.txt, ...).")],
    images: Annotated[Path, typer.Option("--images", help="Folder with <Name>/<Name>_NNNN.jpg.")],
    model: Annotated[str, typer.Option("--model", "-m", help="Embedding model.")] = DEFAULT_MODEL,
    detector: Annotated[str, typer.Option(help="Face detector: mtcnn or dlib-hog.")] = "mtcnn",
    cache: Annotated[bool, typer.Option(help="Reuse embeddings cached by model, path and file stamp.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """LFW protocol: accuracy as mean and std over 10 folds (each fold's threshold chosen on the other nine), AUC, best threshold."""
    from faceprint.analyzer import FaceAnalyzer
    from faceprint.cache import EmbeddingCache
    from faceprint.evaluate.pairs_run import run_pairs

    with handle_errors():
        analyzer = FaceAnalyzer(model=model, detector=detector)
        store = EmbeddingCache() if cache else None
        with progress_bar() as bar:
            task = bar.add_task("embedding images", total=None)
            ev = run_pairs(pairs_file, images, analyzer, store, on_image=lambda done, total: bar.update(task, completed=done, total=total))
        if store is not None:
            store.close()
    r = ev.result
    if as_json:
        print_json(ev.to_dict())
        return
    table = Table(title=f"LFW pairs protocol: {pairs_file.name}, {ev.model}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("pairs", str(r.n_pairs))
    table.add_row("images embedded", str(ev.n_images))
    table.add_row("accuracy (10 folds)", f"{100 * r.accuracy_mean:.2f}% ± {100 * r.accuracy_std:.2f} (std), ± {100 * r.accuracy_sem:.2f} (s.e.)")
    table.add_row("AUC", f"{r.auc:.4f}")
    table.add_row("best threshold (all pairs)", f"{r.threshold:.4f} ({100 * r.accuracy_at_threshold:.2f}%)")
    table.add_row("fold thresholds", f"{min(r.fold_thresholds):.4f} .. {max(r.fold_thresholds):.4f}")
    table.add_row("images without a face", f"{len(ev.no_face)} (central region used instead)")
    table.add_row("images with several faces", f"{ev.several_faces} (face nearest the centre used)")
    console.print(table)
    if ev.no_face:
        console.print("no face found in: " + ", ".join(ev.no_face[:20]) + (" ..." if len(ev.no_face) > 20 else ""), highlight=False)
