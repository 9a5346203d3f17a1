"""`faceprint gallery ...`: look after a gallery file itself (as opposed to the people in it)."""

from __future__ import annotations

from typing import Annotated

import typer

from faceprint.cli._common import console, handle_errors, print_json, progress_bar, stored_model_name
from faceprint.cli._gallery_opts import GalleryOpt
from faceprint.cli.gallery import WaitOpt
from faceprint.models import DEFAULT_MODEL

gallery_app = typer.Typer(help="Look after a gallery file: bring vectors of an older pipeline up to date.", no_args_is_help=True)


@gallery_app.command()
def reembed(
    gallery: GalleryOpt = None,
    model: Annotated[str, typer.Option("--model", "-m", help="The model whose stored vectors to bring up to date.")] = DEFAULT_MODEL,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    wait: WaitOpt = 10.0,
) -> None:
    """Re-embed faces whose vectors an older version of the model's pipeline made (other weights, alignment or
    test-time settings), from their source photos and the face found at enrolment. Faces whose photo is gone or
    changed keep their old vector and are listed."""
    from faceprint.analyzer import FaceAnalyzer
    from faceprint.gallery import Gallery
    from faceprint.gallery.reembed import reembed as run_reembed

    with handle_errors():
        model = stored_model_name(model)
        with Gallery(gallery, timeout=wait, create=False) as g:
            analyzer = FaceAnalyzer(model=model)
            with progress_bar() as bar:
                task = bar.add_task("re-embedding", total=None)
                report = run_reembed(g, analyzer, on_face=lambda done, total: bar.update(task, completed=done, total=total))
    if as_json:
        print_json(report.to_dict())
        return
    console.print(f"{report.model}: {report.stale} stale faces, {report.updated} re-embedded, {len(report.failed)} could not be", highlight=False, markup=False)
    for face_id, source, reason in report.failed:
        console.print(f"  face {face_id} ({source}): {reason}", highlight=False, markup=False)
