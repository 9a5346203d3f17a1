"""Matplotlib without global state: figures of an exact pixel size, drawn on the Agg canvas (no display needed)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from faceprint._extras import optional_module
from faceprint.errors import OutputError
from faceprint.output_paths import PICTURE_SUFFIXES, check_output_file, make_output_dir

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["new_figure", "save_figure", "require"]

DPI = 100


def require(module: str, extra: str = "viz") -> None:
    """MissingExtra naming the extra to install when an optional package of the pictures is absent."""
    optional_module(module, "scikit-learn" if module == "sklearn" else None, extra)


def new_figure(width_px: int, height_px: int) -> Figure:
    """A figure that saves to exactly width_px x height_px pixels (never saved with a tight bounding box)."""
    require("matplotlib")
    from matplotlib.figure import Figure

    return Figure(figsize=(width_px / DPI, height_px / DPI), dpi=DPI, layout="constrained")


def save_figure(fig: Figure, path: str | os.PathLike[str]) -> Path:
    """Render on the Agg canvas and write the file (format from the suffix), creating the folder."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    path = Path(path)
    check_output_file(path, "picture", PICTURE_SUFFIXES)
    make_output_dir(path.parent)
    FigureCanvasAgg(fig)
    try:
        fig.savefig(path, dpi=DPI, format=path.suffix.lower().lstrip(".").replace("jpg", "jpeg"))
    except OSError as exc:
        raise OutputError(f"{path}: could not write the picture: {exc.strerror or exc}") from None
    return path
