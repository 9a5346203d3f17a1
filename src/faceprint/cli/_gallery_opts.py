"""Options shared by the commands that use a gallery."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

GalleryOpt = Annotated[
    Optional[Path],
    typer.Option("--gallery", "-g", help="Gallery file (default: $FACEPRINT_GALLERY or the user data directory)."),
]
