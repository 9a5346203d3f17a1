"""A grid of sample photos per person: one row each, the name on the left (the seed's dataset picture)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from faceprint.errors import FaceprintError
from faceprint.image import load_image
from faceprint.viz._tiles import BACKGROUND, grid, square_thumb, text_block

__all__ = ["face_grid", "grid_size"]

NAME_WIDTH = 180
PAD = 4


def grid_size(n_people: int, per_person: int, thumb: int) -> tuple[int, int]:
    """(width, height) in pixels of a face_grid picture."""
    return NAME_WIDTH + PAD + per_person * (thumb + PAD) + PAD, PAD + n_people * (thumb + PAD)


def face_grid(
    items: Sequence[tuple[str, str | os.PathLike[str]]], per_person: int = 6, max_people: int = 20, thumb: int = 112
) -> np.ndarray:
    """RGB picture: for each of the first `max_people` persons (by name), `per_person` photos spread evenly over
    their sorted photos, as central-square thumbnails. Unreadable photos leave a grey tile; empty cells stay blank."""
    by_person: dict[str, list[str]] = {}
    for person, path in items:
        by_person.setdefault(person, []).append(str(path))
    if not by_person:
        raise ValueError("no photos to lay out")
    people = sorted(by_person)[:max_people]
    rows = []
    for person in people:
        paths = sorted(by_person[person])
        picks = [paths[int(i)] for i in np.unique(np.linspace(0, len(paths) - 1, min(per_person, len(paths))).round())]
        tiles = []
        for path in picks:
            try:
                tiles.append(square_thumb(load_image(path), thumb))
            except FaceprintError:
                tiles.append(np.full((thumb, thumb, 3), 160, np.uint8))
        tiles += [np.full((thumb, thumb, 3), BACKGROUND, np.uint8)] * (per_person - len(tiles))
        faces = grid(tiles, cols=per_person, pad=PAD)[PAD:-PAD, :]  # one row of tiles, outer padding kept left/right
        label = text_block(NAME_WIDTH, thumb, [person, f"{len(paths)} photos"])
        rows.append(np.concatenate([label, faces], axis=1))
    body = grid(rows, cols=1, pad=PAD)
    return np.ascontiguousarray(body[:, PAD:])  # the name column starts at the left edge
