"""Options shared by the commands that use a gallery."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

GalleryOpt = Annotated[
    Optional[Path],
    typer.Option("--gallery", "-g", help="Gallery file (default: $FACEPRINT_GALLERY or the user data directory)."),
]


def _share(value: float) -> float:
    if not 0.0 < value < 1.0:
        raise typer.BadParameter("the share of strangers named must lie strictly between 0 and 1, e.g. 0.01")
    return value


FarOpt = Annotated[
    float,
    typer.Option("--far", callback=_share, help="Share of strangers (people not enrolled) that may be named as someone; "
                 "the threshold follows from it and the gallery's size."),
]
"""The open-set operating point of the commands that identify (default faceprint.recognize.open_set.DEFAULT_FAR)."""
