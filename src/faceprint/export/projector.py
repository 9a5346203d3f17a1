"""Files for the TensorBoard embedding projector (and projector.tensorflow.org).

`vecs.tsv` one embedding per line, tab separated, 9 significant digits (exact for float32); `meta.tsv` with a
header row `person<TAB>file` (the projector wants a header exactly when there is more than one column);
`sprite.png` the face crops in a square grid, row-major in the order of the vectors, at most 8192 pixels a side;
`projector_config.pbtxt` tying them together (paths relative to the folder, which is the TensorBoard log dir:
`tensorboard --logdir OUTDIR`, Projector tab).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceprint.errors import FaceprintError
from faceprint.image import load_image
from faceprint.output_paths import make_output_dir
from faceprint.types import Face
from faceprint.viz._tiles import face_thumb
from faceprint.viz.annotate import save_image

__all__ = ["MAX_SPRITE_SIDE", "ProjectorFiles", "face_crops", "read_projector", "sprite_layout", "write_projector"]

MAX_SPRITE_SIDE = 8192
"""The projector refuses sprite images larger than this on either side."""

VECS, META, SPRITE, CONFIG = "vecs.tsv", "meta.tsv", "sprite.png", "projector_config.pbtxt"


@dataclass(frozen=True)
class ProjectorFiles:
    folder: Path
    vectors: Path
    metadata: Path
    sprite: Path | None
    config: Path
    thumb: int
    """Side of one sprite tile in pixels (0 without a sprite)."""


def sprite_layout(n: int, thumb: int) -> tuple[int, int]:
    """(columns, tile side): a square grid of ceil(sqrt(n)) columns, tiles shrunk so the side stays <= 8192 px."""
    cols = max(1, math.ceil(math.sqrt(n)))
    side = min(thumb, MAX_SPRITE_SIDE // cols)
    if side < 1:
        raise ValueError(f"{n} images do not fit in a {MAX_SPRITE_SIDE}-pixel sprite")
    return cols, side


def face_crops(sources: Sequence[str], faces: Sequence[Face | None], size: int) -> list[np.ndarray]:
    """A size x size crop around each face in its source photo, kept within the photo (no black borders that shrink
    the face in its tile); a grey tile where the photo is gone or unreadable."""
    cache: dict[str, np.ndarray | None] = {}
    out = []
    for src, face in zip(sources, faces):
        if src not in cache:
            try:
                cache = {src: load_image(src)}  # consecutive rows often share a photo; keep only the last one
            except (FaceprintError, OSError):
                cache = {src: None}
        image = cache[src]
        out.append(face_thumb(image, face, size, inside=True) if image is not None else np.full((size, size, 3), 128, np.uint8))
    return out


def _clean(field: str) -> str:
    return re.sub(r"[\t\r\n]+", " ", field)


def write_projector(
    folder: str | os.PathLike[str],
    vectors: np.ndarray,
    labels: Sequence[str],
    files: Sequence[str] | None = None,
    thumbs: Sequence[np.ndarray] | None = None,
    tensor_name: str = "faceprint",
) -> ProjectorFiles:
    """Write the projector files for N vectors with their persons (and source files, and square thumbnails)."""
    v = np.asarray(vectors, dtype=np.float32)
    if v.ndim != 2 or len(v) != len(labels):
        raise ValueError(f"{len(labels)} labels for vectors of shape {v.shape}")
    if files is not None and len(files) != len(v):
        raise ValueError(f"{len(files)} file names for {len(v)} vectors")
    out = Path(folder)
    make_output_dir(out)
    np.savetxt(out / VECS, v, fmt="%.9g", delimiter="\t")
    with open(out / META, "w", encoding="utf-8", newline="\n") as f:
        if files is None:  # one column: no header
            f.writelines(_clean(p) + "\n" for p in labels)
        else:
            f.write("person\tfile\n")
            f.writelines(f"{_clean(p)}\t{_clean(s)}\n" for p, s in zip(labels, files))
    sprite_path, side = None, 0
    if thumbs is not None:
        if len(thumbs) != len(v):
            raise ValueError(f"{len(thumbs)} thumbnails for {len(v)} vectors")
        cols, side = sprite_layout(len(v), max(t.shape[0] for t in thumbs))
        sheet = np.zeros((cols * side, cols * side, 3), np.uint8)
        for i, t in enumerate(thumbs):
            if t.shape[:2] != (side, side):
                import cv2

                t = cv2.resize(t, (side, side), interpolation=cv2.INTER_AREA)
            r, c = divmod(i, cols)
            sheet[r * side : (r + 1) * side, c * side : (c + 1) * side] = t
        sprite_path = save_image(sheet, out / SPRITE)
    lines = [
        "embeddings {",
        f'  tensor_name: "{_clean(tensor_name).replace(chr(34), "")}"',
        f"  tensor_shape: {v.shape[0]}",
        f"  tensor_shape: {v.shape[1]}",
        f'  tensor_path: "{VECS}"',
        f'  metadata_path: "{META}"',
    ]
    if sprite_path is not None:
        lines += ["  sprite {", f'    image_path: "{SPRITE}"', f"    single_image_dim: {side}", f"    single_image_dim: {side}", "  }"]
    lines.append("}")
    (out / CONFIG).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ProjectorFiles(out, out / VECS, out / META, sprite_path, out / CONFIG, side)


def _parse_pbtxt(text: str) -> dict[str, list[str]]:
    """The scalar fields of the config as {'embeddings.tensor_path': [...], 'embeddings.sprite.single_image_dim': [...]}."""
    fields: dict[str, list[str]] = {}
    stack: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("{"):
            stack.append(line[:-1].strip())
        elif line == "}":
            stack.pop()
        else:
            key, _, value = line.partition(":")
            fields.setdefault(".".join([*stack, key.strip()]), []).append(value.strip().strip('"'))
    if stack:
        raise ValueError("unbalanced braces in projector config")
    return fields


def read_projector(folder: str | os.PathLike[str]) -> tuple[np.ndarray, list[list[str]], dict[str, list[str]]]:
    """Read the files back as the projector does: (vectors, metadata rows without the header, config fields)."""
    folder = Path(folder)
    config = _parse_pbtxt((folder / CONFIG).read_text(encoding="utf-8"))
    vecs = np.loadtxt(folder / config["embeddings.tensor_path"][0], delimiter="\t", dtype=np.float32, ndmin=2)
    lines = (folder / config["embeddings.metadata_path"][0]).read_text(encoding="utf-8").splitlines()
    rows = [ln.split("\t") for ln in lines]
    if rows and len(rows[0]) > 1:  # a header row comes with more than one column
        rows = rows[1:]
    return vecs, rows, config
