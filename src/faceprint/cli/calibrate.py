"""`faceprint calibrate`: choose the threshold for a target false-accept rate on your own labelled photos."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from faceprint.cli._common import console, err_console, handle_errors, labelled_embeddings, print_json, stored_model_name, plural
from faceprint.cli._gallery_opts import GalleryOpt
from faceprint.detect import DEFAULT_DETECTOR
from faceprint.models import DEFAULT_MODEL


def _far(value: float) -> float:
    if not 0.0 < value < 1.0:
        raise typer.BadParameter("the false-accept rate must lie strictly between 0 and 1, e.g. 1e-3")
    return value


def calibrate(
    folder: Annotated[Path, typer.Argument(help="Labelled photos: DIR/<person>/<images>.")],
    far: Annotated[float, typer.Option("--pair-far", callback=_far, help="Target false-accept rate per different-person pair (one comparison), for the single stored threshold.")] = 1e-3,
    old_far: Annotated[float | None, typer.Option("--far", hidden=True, callback=lambda v: v if v is None else _far(v), help="Deprecated spelling of --pair-far (--far is identify's share of strangers).")] = None,
    gallery: GalleryOpt = None,
    model: Annotated[str, typer.Option("--model", "-m", help="Embedding model.")] = DEFAULT_MODEL,
    detector: Annotated[str, typer.Option(help="Face detector: yunet, mtcnn or dlib-hog.")] = DEFAULT_DETECTOR,
    cache: Annotated[bool, typer.Option(help="Reuse embeddings cached by model, detector, path and content hash.")] = True,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the threshold without storing it.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Learn how different people's distances fall on these photos, and store it in the gallery for `identify`.

    Every pair of photos is scored. Stored in the gallery for the model: the impostor distribution of all
    different-person pairs, from which `identify` sets its threshold for the share of strangers it may name
    (`identify --far`) at the gallery's size; and the threshold at which at most --pair-far of the different-person
    pairs match (one comparison). With N different-person pairs FARs below 1/N cannot be measured, and are refused.
    """
    from faceprint.evaluate.calibration import calibrate_threshold, store_threshold
    from faceprint.evaluate.impostors import gallery_population
    from faceprint.evaluate.labelled import InsufficientData
    from faceprint.gallery import Gallery
    from faceprint.recognize.open_set import store_gallery_impostors

    if old_far is not None:
        err_console.print("note: calibrate --far is now --pair-far (a rate per pair; --far is identify's share of "
                          "strangers per query)", highlight=False)
        far = old_far
    with handle_errors():
        model = stored_model_name(model)
        data = labelled_embeddings(folder, None, model, detector, cache)
        cal = calibrate_threshold(data, far)
        try:
            population = gallery_population(data, f"calibrate {folder.name}: {cal.n_photos} photos of {cal.n_people} people")
        except InsufficientData as exc:  # the single threshold above still stands
            population, why = None, str(exc)
        stored_in = key = setting = None
        if not dry_run:
            with Gallery(gallery) as g:
                setting = store_threshold(g, cal)
                key = store_gallery_impostors(g, population) if population is not None else None
                stored_in = g.path
    strangers = {n: population.threshold_for(0.01, n) for n in (10, 100, 1000)} if population is not None else {}
    if as_json:
        print_json({**cal.to_dict(), "gallery": str(stored_in) if stored_in else None, "setting": setting,
                    "impostors_setting": key, "threshold_for_1pct_strangers": {str(n): t for n, t in strangers.items()},
                    "skipped": len(data.skipped)})
        return
    tar = "n/a (no same-person pairs)" if cal.n_same == 0 else f"{100 * cal.tar:.2f}% of {cal.n_same} same-person pairs"
    console.print(f"threshold {cal.threshold:.4f} for FAR {far:g} ({model})", highlight=False)
    console.print(f"  FAR {100 * cal.far:.3f}% of {cal.n_different} different-person pairs (resolution 1/{cal.n_different})", highlight=False)
    console.print(f"  TAR {tar}", highlight=False)
    console.print(f"  {plural(cal.n_photos, 'photo')} of {plural(cal.n_people, 'person', 'people')}; {plural(len(data.skipped), 'photo')} without a face skipped", highlight=False)
    if population is None:
        console.print(f"  no impostor distribution stored: {why}", highlight=False)
    else:
        console.print("  identify's threshold for 1% of strangers named, from these photos' impostor distribution: "
                      + ", ".join(f"{t:.4f} with {n} faces enrolled" for n, t in strangers.items()), highlight=False)
    if stored_in is not None and key is not None:
        console.print(f"stored in {stored_in} ({key}, {setting}); identify now sets its threshold "
                      "from this distribution for the gallery's size (identify --far)", highlight=False)
    elif stored_in is not None:
        console.print(f"stored in {stored_in} as {setting}; identify now uses it", highlight=False)
