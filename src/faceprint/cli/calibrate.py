"""`faceprint calibrate`: choose the threshold for a target false-accept rate on your own labelled photos."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from faceprint.cli._common import console, handle_errors, labelled_embeddings, print_json, stored_model_name
from faceprint.cli._gallery_opts import GalleryOpt
from faceprint.detect import DEFAULT_DETECTOR
from faceprint.models import DEFAULT_MODEL


def _far(value: float) -> float:
    if not 0.0 < value < 1.0:
        raise typer.BadParameter("the false-accept rate must lie strictly between 0 and 1, e.g. 1e-3")
    return value


def calibrate(
    folder: Annotated[Path, typer.Argument(help="Labelled photos: DIR/<person>/<images>.")],
    far: Annotated[float, typer.Option("--far", callback=_far, help="Target false-accept rate over different-person pairs.")] = 1e-3,
    gallery: GalleryOpt = None,
    model: Annotated[str, typer.Option("--model", "-m", help="Embedding model.")] = DEFAULT_MODEL,
    detector: Annotated[str, typer.Option(help="Face detector: yunet, mtcnn or dlib-hog.")] = DEFAULT_DETECTOR,
    cache: Annotated[bool, typer.Option(help="Reuse embeddings cached by model, path and file stamp.")] = True,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the threshold without storing it.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Set the gallery's threshold so that at most FAR of all different-person pairs of these photos match.

    Every pair of photos is scored. The threshold is stored in the gallery for the model, and `identify` uses it
    from then on (an explicit --threshold still wins). With N different-person pairs FARs below 1/N cannot be
    measured, and are refused.
    """
    from faceprint.evaluate.calibration import calibrate_threshold, store_threshold, threshold_setting
    from faceprint.gallery import Gallery

    with handle_errors():
        model = stored_model_name(model)
        data = labelled_embeddings(folder, None, model, detector, cache)
        cal = calibrate_threshold(data, far)
        stored_in = None
        if not dry_run:
            with Gallery(gallery) as g:
                store_threshold(g, cal)
                stored_in = g.path
    if as_json:
        print_json({**cal.to_dict(), "gallery": str(stored_in) if stored_in else None, "setting": threshold_setting(model), "skipped": len(data.skipped)})
        return
    tar = "n/a (no same-person pairs)" if cal.n_same == 0 else f"{100 * cal.tar:.2f}% of {cal.n_same} same-person pairs"
    console.print(f"threshold {cal.threshold:.4f} for FAR {far:g} ({model})", highlight=False)
    console.print(f"  FAR {100 * cal.far:.3f}% of {cal.n_different} different-person pairs (resolution 1/{cal.n_different})", highlight=False)
    console.print(f"  TAR {tar}", highlight=False)
    console.print(f"  {cal.n_photos} photos of {cal.n_people} people; {len(data.skipped)} photos without a face skipped", highlight=False)
    if stored_in is not None:
        console.print(f"stored in {stored_in} as {threshold_setting(model)}; identify now uses it", highlight=False)
        console.print(
            "note: identify compares each face with every enrolled person, so its false-accept rate per query grows with the number of people",
            highlight=False,
            style="dim",
        )
