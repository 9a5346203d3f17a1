"""Contact sheets of annotated `identify` output: one picture per input folder, every photo a captioned tile."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from faceprint.errors import FaceprintError
from faceprint.image import load_image
from faceprint.viz._tiles import caption_strip, fit_thumb, grid
from faceprint.viz.annotate import GREEN, RED, draw_faces, save_image

if TYPE_CHECKING:
    from faceprint.recognize.images import FaceResult

__all__ = ["annotate_results", "contact_sheet", "write_contact_sheets"]

CAPTION = 22


def annotate_results(image: np.ndarray, results: Sequence[FaceResult]) -> np.ndarray:
    """The photo with each identified face boxed and labelled as `identify --annotate` draws it (green: named,
    red: UNKNOWN)."""
    drawn = [r for r in results if r.face is not None and r.match is not None]
    return draw_faces(
        image, [r.face for r in drawn], [r.match.label() for r in drawn], [RED if r.match.unknown else GREEN for r in drawn]  # type: ignore[misc, union-attr]
    )


def _summary(results: Sequence[FaceResult]) -> tuple[str, tuple[int, int, int]]:
    if any(r.error for r in results):
        return "unreadable", RED
    names = [r.match.person or "UNKNOWN" for r in results if r.match is not None]
    if not names:
        return "no face", (90, 90, 90)
    return ", ".join(names), RED if "UNKNOWN" in names else (20, 120, 50)


def contact_sheet(tiles: Sequence[tuple[np.ndarray, str, tuple[int, int, int]]], thumb: int = 240, cols: int | None = None) -> np.ndarray:
    """Photos fitted into thumb x thumb squares with a caption each, in a near-square grid (ceil(sqrt(n)) columns)."""
    if not tiles:
        raise ValueError("no photos for a contact sheet")
    cols = cols or math.ceil(math.sqrt(len(tiles)))
    cells = [np.concatenate([fit_thumb(img, thumb), caption_strip(thumb, text, CAPTION, color)], axis=0) for img, text, color in tiles]
    return grid(cells, cols=cols)


def write_contact_sheets(
    results: Sequence[FaceResult], out_dir: str | os.PathLike[str], thumb: int = 240, per_sheet: int = 100
) -> list[Path]:
    """One contact sheet per folder of the identified photos, `contact_sheet_<folder>.jpg` (numbered `_2`, `_3`...
    beyond `per_sheet` photos). Each tile is the annotated photo captioned with its file name and the verdicts."""
    by_image: dict[str, list[FaceResult]] = {}
    for r in results:
        by_image.setdefault(r.image, []).append(r)
    by_folder: dict[Path, list[str]] = {}
    for image in by_image:
        by_folder.setdefault(Path(image).resolve().parent, []).append(image)
    out = Path(out_dir)
    written: list[Path] = []
    used: set[str] = set()
    for folder, images in by_folder.items():
        stem = re.sub(r"[^\w.-]+", "_", folder.name) or "root"
        name, k = stem, 1
        while name in used:
            k += 1
            name = f"{stem}-{k}"
        used.add(name)
        for page, start in enumerate(range(0, len(images), per_sheet), start=1):
            tiles = []
            for image in images[start : start + per_sheet]:
                res = by_image[image]
                text, color = _summary(res)
                try:  # shrunk at once: a page of 100 full-size 24 MP photos would hold 7 GB
                    picture = fit_thumb(annotate_results(load_image(image), res), thumb)
                except FaceprintError:
                    picture = np.full((thumb, thumb, 3), 160, np.uint8)
                tiles.append((picture, f"{Path(image).name}: {text}", color))
            suffix = "" if page == 1 else f"_{page}"
            written.append(save_image(contact_sheet(tiles, thumb), out / f"contact_sheet_{name}{suffix}.jpg"))
    return written
