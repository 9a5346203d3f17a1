"""Contact sheets of clusters: one picture per cluster (largest first), one of the faces left alone and one of the
faces kept out for low quality; each tile a face crop captioned with its face id and photo."""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from faceprint.errors import FaceprintError
from faceprint.image import load_image
from faceprint.types import Face
from faceprint.viz._tiles import caption_strip, face_thumb, grid, text_block
from faceprint.viz.annotate import save_image

__all__ = ["face_sheet", "write_cluster_sheets"]

log = logging.getLogger(__name__)

THUMB = 112
CAPTION = 18


class _Photos:
    """Photos loaded once each while drawing a run's sheets (a group photo gives several tiles)."""

    def __init__(self) -> None:
        self._last: tuple[str, np.ndarray | None] | None = None

    def get(self, path: str) -> np.ndarray | None:
        if self._last is None or self._last[0] != path:
            try:
                img: np.ndarray | None = load_image(path)
            except (FaceprintError, OSError) as exc:
                log.warning("%s: cannot draw it: %s", path, exc)
                img = None
            self._last = (path, img)
        return self._last[1]


def face_sheet(
    faces: Sequence[tuple[str, Face, str]], title: str, photos: _Photos | None = None, thumb: int = THUMB, cols: int | None = None
) -> np.ndarray:
    """A grid of face crops (photo, face, caption) under a title line."""
    if not faces:
        raise ValueError("no faces for a sheet")
    photos = photos or _Photos()
    cells = []
    for path, face, caption in faces:
        img = photos.get(path)
        tile = face_thumb(img, face, thumb) if img is not None else np.full((thumb, thumb, 3), 200, np.uint8)
        cells.append(np.concatenate([tile, caption_strip(thumb, caption, CAPTION)], axis=0))
    cols = cols or max(1, min(10, math.ceil(math.sqrt(len(cells)))))
    body = grid(cells, cols=cols)
    head = text_block(body.shape[1], 26, [title])
    return np.concatenate([head, body], axis=0)


SHEET_NAME = re.compile(r"^(\d{3}_cluster\d+|alone|low_quality)(_\d+)?\.jpg$")
"""The names `write_cluster_sheets` gives its sheets: only files named so are ever removed from the folder."""


def write_cluster_sheets(outcome: object, out_dir: str | os.PathLike[str], per_sheet: int = 100) -> list[Path]:
    """Write `NNN_cluster<id>.jpg` per cluster (NNN = rank by size), `alone.jpg` and `low_quality.jpg` (numbered
    `_2`, `_3`... beyond `per_sheet` faces) into `out_dir`; returns the files written.

    Sheets an earlier run wrote there that this run did not (clusters merged away, named, discarded, or ranked
    differently) are removed, so the folder shows the clusters as they are; other files are left alone."""
    from faceprint.cluster.run import ClusterOutcome

    assert isinstance(outcome, ClusterOutcome)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    photos = _Photos()
    written: list[Path] = []

    def pages(stem: str, title: str, faces: list[tuple[str, Face, str]]) -> None:
        for page, start in enumerate(range(0, len(faces), per_sheet), start=1):
            name = stem if page == 1 else f"{stem}_{page}"
            chunk = faces[start : start + per_sheet]
            written.append(save_image(face_sheet(chunk, title, photos), out / f"{name}.jpg"))

    for rank, (cid, members) in enumerate(outcome.clusters.clusters().items(), start=1):
        faces = [(f.image, f.face, f"#{f.id} {Path(f.image).name}") for f in members]
        pages(f"{rank:03d}_cluster{cid}", f"cluster {cid}: {len(members)} faces", faces)
    alone = outcome.clusters.alone()
    if alone:
        pages("alone", f"left alone: {len(alone)} faces", [(f.image, f.face, f"#{f.id} {Path(f.image).name}") for f in alone])
    low = outcome.collection.rejected
    if low:
        pages("low_quality", f"kept out (low quality): {len(low)} faces", [(f.image, f.face, f"{f.rejected}: {Path(f.image).name}") for f in low])
    current = {p.name for p in written}
    for old in out.iterdir():
        if old.is_file() and SHEET_NAME.match(old.name) and old.name not in current:
            old.unlink()
            log.info("removed the stale sheet %s", old)
    return written
