"""Where an enrolled face's photo is: one stored form for every engine, and one rule to find it again.

Enrolment stores a photo's **absolute** path (symbolic links resolved), whichever engine ran and whichever folder
it ran from, so `gallery reembed` finds the photo wherever it runs. Galleries written before this rule hold paths
relative to the folder `enroll` ran from; those are looked for beside the gallery file and in the current folder,
and only a file whose sha256 is the one recorded at enrolment is taken.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

__all__ = ["find_source", "stored_source"]


def stored_source(path: str | os.PathLike[str]) -> str:
    """The form a photo's path is stored in: absolute, resolved (the same for the local and the Ray engine)."""
    return str(Path(path).expanduser().resolve())


def find_source(source: str, sha256: str, gallery_path: str | os.PathLike[str] | None = None) -> tuple[Path | None, str | None]:
    """(the photo's path, its bytes' problem) for a stored source: the path when a readable file with the recorded
    sha256 is found, else None and why (the first reason met: unreadable, or changed since enrolment).

    A relative source (an older gallery) is tried beside the gallery file, then in the current folder.
    """
    stored = Path(source)
    if stored.is_absolute():
        candidates = [stored]
    else:
        candidates = ([Path(gallery_path).resolve().parent / stored] if gallery_path is not None else []) + [Path.cwd() / stored]
    reason: str | None = None
    for path in candidates:
        try:
            data = path.read_bytes()
        except OSError as exc:
            reason = reason or f"source photo cannot be read ({exc.strerror or exc})"
            continue
        if hashlib.sha256(data).hexdigest() == sha256:
            return path, None
        reason = "source photo changed since it was enrolled"
    return None, reason
