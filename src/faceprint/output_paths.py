"""Checks on the files and folders a command will write, made before any work so a bad path fails in a second.

Every output option (`--annotate`, `--report`, `--out`, `--log`, an export folder) goes through these: a folder
that cannot be created, a file in the way, no write permission or an unsupported picture format is an
`OutputError` naming the path, never a traceback after minutes of work. Nothing is created here (a failed run
leaves no empty folders behind); the writer creates the folder when it writes.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from pathlib import Path

from faceprint.errors import OutputError

__all__ = ["PICTURE_SUFFIXES", "check_output_dir", "check_output_file", "make_output_dir"]

PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg")
"""Picture formats every writer of faceprint supports (OpenCV and Matplotlib alike)."""


def _writable_ancestor(path: Path, what: str) -> None:
    """The nearest existing ancestor of `path` (or `path` itself) must be a folder we may create files in."""
    probe = path
    while not probe.exists():
        if probe.is_symlink():
            raise OutputError(f"{path}: cannot create the {what}: {probe} is a broken link")
        parent = probe.parent
        if parent == probe:
            break
        probe = parent
    if not probe.is_dir():
        raise OutputError(f"{path}: cannot create the {what}: {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputError(f"{path}: cannot create the {what}: no permission to write in {probe}")


def check_output_dir(path: str | os.PathLike[str], what: str = "output folder") -> Path:
    """Refuse a folder that cannot be written: a file in the way, no permission, a parent that is a file."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path}: cannot use as the {what}: it is a file, not a folder")
    _writable_ancestor(path, what)
    return path


def check_output_file(
    path: str | os.PathLike[str], what: str = "output file", suffixes: Collection[str] | None = None
) -> Path:
    """Refuse a file that cannot be written: a folder in its place, no permission, an unsupported suffix."""
    path = Path(path)
    if path.is_dir():
        example = path / f"out{next(iter(suffixes))}" if suffixes else path / "out.txt"
        raise OutputError(f"{path}: is a folder; give the {what}'s file name, such as {example}")
    if suffixes is not None and path.suffix.lower() not in suffixes:
        got = f"{path.suffix!r}" if path.suffix else "no suffix"
        raise OutputError(f"{path}: unsupported {what} format ({got}); use one of: {', '.join(suffixes)}")
    if path.exists() and not os.access(path, os.W_OK):
        raise OutputError(f"{path}: cannot write the {what}: no permission")
    _writable_ancestor(path.parent, what)
    return path


def make_output_dir(path: str | os.PathLike[str], what: str = "output folder") -> Path:
    """Create the folder (and parents) for writing, as an OutputError when that fails."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(f"{path}: cannot create the {what}: a file is in the way") from None
    except OSError as exc:
        raise OutputError(f"{path}: cannot create the {what}: {exc.strerror or exc}") from None
    return path


def annotated_name(path: str | os.PathLike[str], used: set[str], suffix: str) -> str:
    """A file name for the annotated copy of `path` that no other photo of this run has taken: `<stem><suffix>`, else
    with the parent folder's name (`<folder>_<stem><suffix>`), else numbered, so colA/img.jpg and colB/img.jpg both
    get their own copy. The name is added to `used`.

    >>> used = set()
    >>> annotated_name("a/img.jpg", used, "_x.jpg"), annotated_name("b/img.jpg", used, "_x.jpg")
    ('img_x.jpg', 'b_img_x.jpg')
    """
    p = Path(path)
    names = [f"{p.stem}{suffix}"] + ([f"{p.parent.name}_{p.stem}{suffix}"] if p.parent.name else [])
    n = 2
    while all(name in used for name in names):
        names.append(f"{p.stem}_{n}{suffix}")
        n += 1
    name = next(name for name in names if name not in used)
    used.add(name)
    return name
