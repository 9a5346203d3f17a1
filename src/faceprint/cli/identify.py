"""`faceprint identify` and `faceprint fit-classifier`: recognise faces against the gallery."""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from rich.text import Text

from faceprint.cli._common import (
    plural,
    Exit,
    check_threshold,
    console,
    distinct,
    err_console,
    handle_errors,
    print_error,
    print_json,
    progress_bar,
    require_gallery,
    stored_model_name,
    styled,
)
from faceprint.cli._gallery_opts import FarOpt, GalleryOpt, ThresholdOpt
from faceprint.cli.gallery import WaitOpt
from faceprint.detect import DEFAULT_DETECTOR
from faceprint.models import DEFAULT_MODEL
from faceprint.recognize.open_set import DEFAULT_FAR

CSV_FIELDS = ["image", "status", "box", "person", "unknown", "closest", "distance", "score", "confidence", "candidates", "error"]
"""One row per face; `status` says what a row is (identified, unknown, no face, error), so a photo without a face is
a row that says so, not a blank one; `candidates` lists the top-k people as `person:distance` separated by `;`."""


def _status(row: dict[str, object]) -> str:
    if row["error"]:
        return "error"
    if row["box"] is None:
        return "no face"
    return "unknown" if row["unknown"] else "identified"



def identify(
    paths: Annotated[list[Path], typer.Argument(help="Photos or folders of photos.")],
    gallery: GalleryOpt = None,
    model: Annotated[str, typer.Option("--model", "-m", help="Embedding model (the gallery must hold its embeddings).")] = DEFAULT_MODEL,
    far: FarOpt = DEFAULT_FAR,
    threshold: ThresholdOpt = None,
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, help="How many candidate people to list per face.")] = 3,
    classifier: Annotated[Optional[str], typer.Option(help="Use a fitted classifier: knn, svm or linear (see fit-classifier).")] = None,
    stale: Annotated[str, typer.Option(help="A classifier fitted before the gallery last changed: refit (and store) it, or refuse (exit 10).")] = "refit",
    index: Annotated[str, typer.Option(help="Search: exact; faiss (approximate above 50,000 faces; the index is stored beside the gallery); milvus (a milvus-lite file beside the gallery, approximate above 100,000 faces); or milvus://HOST:PORT (a Milvus server; pip install faceprint[milvus]).")] = "exact",
    annotate: Annotated[Optional[Path], typer.Option(help="Write annotated copies into this folder.")] = None,
    detector: Annotated[str, typer.Option(help="Face detector: yunet, mtcnn or dlib-hog.")] = DEFAULT_DETECTOR,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list, one object per face.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV, one row per face.")] = False,
    wait: WaitOpt = 10.0,
) -> None:
    """Name every face in every photo, or call it UNKNOWN and say whom it resembles."""
    from faceprint.api import Gallery
    from faceprint.errors import InvalidOption, UnknownModel
    from faceprint.output_paths import annotated_name, check_output_dir
    from faceprint.gallery.milvus_index import is_milvus_spec
    from faceprint.gallery.identify import build_identifier
    from faceprint.recognize import identify_images
    from faceprint.gallery.classifier_store import classifier_status, load_classifier
    from faceprint.recognize.classifiers import CLASSIFIER_KINDS
    from faceprint.recognize.images import expand_paths
    from faceprint.viz import draw_faces, save_image
    from faceprint.viz.annotate import GREEN, RED

    used_names: set[str] = set()

    def annotate_one(path: str, image, results) -> None:
        bar.advance(task)
        if annotate is None or image is None:
            return
        faces = [r.face for r in results if r.face is not None]
        labels = [r.match.label() for r in results if r.face is not None and r.match is not None]
        colors = [GREEN if not r.match.unknown else RED for r in results if r.face is not None and r.match is not None]
        save_image(draw_faces(image, faces, labels, colors), annotate / annotated_name(path, used_names, "_identified.jpg"))

    with handle_errors():
        # Cheap checks first, so that bad input fails before the model is loaded.
        if as_json and as_csv:
            raise InvalidOption("give --json or --csv, not both")
        check_threshold(threshold)
        if annotate is not None:
            check_output_dir(annotate, "--annotate folder")
        model = stored_model_name(model, known="@" not in model)  # a checkpoint's base@digest: by the gallery's record
        if index not in ("exact", "faiss") and not is_milvus_spec(index):
            raise UnknownModel("index", index, ["exact", "faiss", "milvus", "milvus://HOST:PORT"])
        if stale not in ("refit", "refuse"):
            raise UnknownModel("--stale value", stale, ["refit", "refuse"])
        if classifier is not None and classifier not in CLASSIFIER_KINDS:
            raise UnknownModel("classifier", classifier, list(CLASSIFIER_KINDS))
        files = expand_paths(paths)
        require_gallery(gallery)
        with Gallery(gallery, model=model, detector=detector, timeout=wait, create=False) as g:
            model, store = g.model, g.store
            store.require_model(model)  # raises EmptyGallery or ModelNotInGallery, naming the models that are there
            if classifier is not None:
                status = classifier_status(store, model, classifier)
                if status == "stale" and stale == "refuse":
                    load_classifier(store, model, classifier, stale="refuse")  # raises StaleClassifier (exit 10)
                if status == "stale":
                    err_console.print(f"note: the {classifier} classifier was fitted before the gallery last changed; "
                                      "refitting it and storing the new one", highlight=False)
            analyzer = g.analyzer
            ident = build_identifier(store, analyzer, threshold=threshold, classifier=classifier, index=index, far=far)
            try:
                with progress_bar() as bar:
                    task = bar.add_task("identifying", total=len(files))
                    results = identify_images(files, analyzer, ident, top_k=top_k, on_image=annotate_one)
            finally:
                if hasattr(ident.index, "close"):
                    ident.index.close()  # a Milvus connection (and milvus-lite's server on 127.0.0.1)
            if annotate is not None:
                from faceprint.viz.sheet import write_contact_sheets

                write_contact_sheets(results, annotate)
    point = ident.operating_point  # build_identifier always says how it chose the threshold
    assert point is not None
    rows = [{**r.to_dict(), "threshold": point.threshold, "threshold_applies_to": point.score_name(),
             "expected_stranger_rate": point.stranger_rate} for r in results]
    if as_json:
        print_json(rows)
    elif as_csv:
        w = csv.DictWriter(sys.stdout, fieldnames=CSV_FIELDS, extrasaction="ignore")
        w.writeheader()
        for row in rows:
            cands = ";".join(f"{c['person']}:{c['distance']:.4f}" for c in row["candidates"])
            w.writerow({**row, "status": _status(row), "candidates": cands,
                        "box": " ".join(f"{v:g}" for v in row["box"]) if row["box"] else ""})
    else:
        for r in results:
            if r.error:
                print_error(r.error)
            elif r.face is None:
                console.print(f"{r.image}: no face found", highlight=False)
            else:
                x1, y1, x2, y2 = (int(v) for v in r.face.box)
                style = "red" if r.match.unknown else "green"
                m = r.match
                decided = m.score if m.score is not None else m.distance  # what the threshold applies to
                shown, _ = distinct(decided, ident.threshold, 3)  # never "0.526" against threshold "0.526"
                values = f"distance {shown}" if m.score is None else f"distance {m.distance:.3f}, score {shown}"
                console.print(Text.assemble(f"{r.image} [{x1},{y1},{x2},{y2}]: ", styled(m.describe(), style),
                                            f" ({values})"), highlight=False)
                if top_k > 1 and len(m.candidates) > 1:  # the -k people nearest, as --json lists them
                    console.print("    candidates: " + ", ".join(f"{c.person} {c.distance:.3f}" for c in m.candidates),
                                  highlight=False, style="dim")
        how = f", classifier {classifier}" if classifier else ""
        how += f", {index} search" if index != "exact" else ""
        console.print(f"{point.describe()}, model {model}{how}", highlight=False, style="dim")
    raise typer.Exit(int(Exit.BAD_INPUT if any(r.error for r in results) else Exit.OK))


def fit_classifier(
    kind: Annotated[str, typer.Option("--kind", help="knn, svm or linear (a softmax layer on frozen embeddings).")],
    gallery: GalleryOpt = None,
    model: Annotated[str, typer.Option("--model", "-m", help="Embedding model whose gallery embeddings to fit on.")] = DEFAULT_MODEL,
    wait: WaitOpt = 10.0,
) -> None:
    """Fit a classifier on the gallery's embeddings (transfer learning), calibrate it and store it in the gallery."""
    from faceprint.gallery import Gallery
    from faceprint.gallery.classifier_store import fit_from_gallery, save_classifier
    from faceprint.recognize.classifiers import create_classifier

    with handle_errors():
        create_classifier(kind)  # an unknown kind fails before any work (exit 3)
        model = stored_model_name(model, known=False)  # fitting needs only the stored embeddings
        with Gallery(gallery, timeout=wait, create=False) as g:
            clf = fit_from_gallery(g, model, kind)
            save_classifier(g, model, clf)
    cal = f"temperature {clf.temperature_:.3g}" if clf.calibration_ == "temperature" else "not calibrated (too few faces)"
    console.print(f"fitted {kind} on {plural(clf.n_samples_, 'face')} of {plural(len(clf.classes_), 'person', 'people')} in {clf.fit_seconds_:.1f} s "
                  f"({cal}); stored in {g.path}", highlight=False)
