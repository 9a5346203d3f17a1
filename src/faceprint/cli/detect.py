"""`faceprint detect IMG...`: boxes and landmarks, optionally drawn on copies."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from rich.text import Text

from faceprint.cli._common import Exit, console, fail, plural, print_error, print_json
from faceprint.detect import DEFAULT_DETECTOR
from faceprint.errors import FaceprintError


def detect(
    images: Annotated[list[Path], typer.Argument(help="Photos or folders of photos to search for faces.")],
    annotate: Annotated[Optional[Path], typer.Option(help="Write a copy of each photo with the faces drawn into this folder.")] = None,
    detector: Annotated[str, typer.Option(help="Face detector: yunet, mtcnn or dlib-hog.")] = DEFAULT_DETECTOR,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON list.")] = False,
) -> None:
    """Find faces: box (x1 y1 x2 y2 pixels), confidence and five landmarks per face. Exit 2 if any image failed."""
    from faceprint.analyzer import detect_scaled
    from faceprint.detect import create_detector
    from faceprint.recognize.images import expand_paths
    from faceprint.image import load_image
    from faceprint.viz import draw_faces, save_image
    from faceprint.viz.annotate import ANNOTATED_MIN_SIDE

    from faceprint.output_paths import annotated_name, check_output_dir

    try:
        if annotate is not None:
            check_output_dir(annotate, "--annotate folder")
        det = create_detector(detector)
        files = expand_paths(images)  # folders as identify and cluster take them
    except FaceprintError as exc:
        raise fail(exc) from None
    results: list[dict[str, object]] = []
    used_names: set[str] = set()
    failed = 0
    for path in files:
        try:
            image = load_image(path)
        except FaceprintError as exc:
            failed += 1
            print_error(str(exc))
            results.append({"image": str(path), "error": str(exc), "faces": []})
            continue
        faces = detect_scaled(det, image)
        entry: dict[str, object] = {"image": str(path), "width": image.shape[1], "height": image.shape[0], "faces": [f.to_dict() for f in faces]}
        if annotate is not None:
            try:
                out = save_image(draw_faces(image, faces, min_side=ANNOTATED_MIN_SIDE), annotate / annotated_name(path, used_names, "_faces.jpg"))
            except FaceprintError as exc:
                raise fail(exc) from None
            entry["annotated"] = str(out)
        results.append(entry)
        if not as_json:
            console.print(Text.assemble((str(path), "bold"), f": {plural(len(faces), 'face')}"), highlight=False)
            for i, f in enumerate(faces):
                x1, y1, x2, y2 = f.box
                console.print(f"  #{i + 1} box=({x1:.0f}, {y1:.0f}, {x2:.0f}, {y2:.0f}) score={f.score:.3f}", highlight=False)
            if annotate is not None:
                console.print(f"  annotated: {entry['annotated']}", highlight=False)
    if as_json:
        print_json(results)
    raise typer.Exit(int(Exit.BAD_INPUT if failed else Exit.OK))
