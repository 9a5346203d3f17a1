"""Options shared by the commands that use a gallery."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

def gallery_arg(value: str) -> Path | str:
    """A gallery argument: a ``postgresql://`` URL stays a string (a Path would fold its ``//``), anything else is
    a file path."""
    return value if value.startswith(("postgresql://", "postgres://")) else Path(value)


GalleryOpt = Annotated[
    Optional[Path],
    typer.Option("--gallery", "-g", parser=gallery_arg,
                 help="Gallery file or postgresql://user@host:port/db (default: $FACEPRINT_GALLERY or the user data directory)."),
]


def _share(value: float) -> float:
    from faceprint.recognize.score_law import check_far  # numpy: only when the option is parsed

    try:
        return check_far(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


FarOpt = Annotated[
    float,
    typer.Option("--far", callback=_share, help="Share of strangers (people not enrolled) that may be named as someone; "
                 "the threshold follows from it and the gallery's size."),
]
"""The open-set operating point of the commands that identify (default faceprint.recognize.open_set.DEFAULT_FAR)."""


def _distance(value: float | None) -> float | None:
    from faceprint.cli._common import check_threshold
    from faceprint.errors import InvalidOption

    try:
        return check_threshold(value)
    except InvalidOption as exc:
        raise typer.BadParameter(str(exc).removeprefix("--threshold ")) from None


ThresholdOpt = Annotated[
    float | None,
    typer.Option("--threshold", callback=_distance, help="Distance above which a face is UNKNOWN (a number >= 0); overrides --far."),
]
"""The fixed threshold of the commands that identify: the same check (a number >= 0, exit 3) in each (identify, video)."""
