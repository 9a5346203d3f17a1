"""`faceprint gallery ...`: look after a gallery file itself (as opposed to the people in it)."""

from __future__ import annotations

from typing import Annotated

import typer

from faceprint.cli._common import console, handle_errors, print_json, progress_bar, stored_model_name
from faceprint.cli._gallery_opts import GalleryOpt, gallery_arg
from faceprint.cli.gallery import WaitOpt
from faceprint.models import DEFAULT_MODEL

gallery_app = typer.Typer(help="Look after a gallery itself: bring vectors of an older pipeline up to date, copy it between SQLite and PostgreSQL.", no_args_is_help=True)


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


@gallery_app.command("copy")
def copy(
    source: Annotated[str, typer.Argument(help="The gallery to copy: a file or postgresql://user@host:port/db.")],
    destination: Annotated[str, typer.Argument(help="Where to copy it: a file or a PostgreSQL database (created or resumed).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    wait: WaitOpt = 10.0,
) -> None:
    """Copy a gallery between a SQLite file and PostgreSQL (either way) with its API keys, keeping every id, then
    verify the two equal (people, faces, vectors bit for bit, crops, settings, keys). Interrupted: run it again."""
    from faceprint.gallery.store import open_store
    from faceprint.gallery.store.copy import copy_gallery
    from faceprint.service.keys import KeyStore, keys_path

    src_arg, dst_arg = gallery_arg(source), gallery_arg(destination)
    with handle_errors():
        with open_store(src_arg, timeout=wait, create=False) as src, open_store(dst_arg, timeout=wait) as dst:
            src_keys, dst_keys = KeyStore(keys_path(src_arg, None)), KeyStore(keys_path(dst_arg, None))
            try:
                with progress_bar() as bar:
                    task = bar.add_task("copying", total=None)
                    report = copy_gallery(src, dst, keys=(src_keys, dst_keys), on_batch=lambda t, n: bar.update(task, advance=n, description=f"copying {t}"))
            finally:
                src_keys.close()
                dst_keys.close()
    if as_json:
        print_json(report.to_dict())
        return
    rows = ", ".join(f"{n} {t}" for t, n in report.rows.items())
    console.print(f"copied {report.source} -> {report.destination}: {rows}, {report.keys} new keys; verified equal", highlight=False, markup=False)
