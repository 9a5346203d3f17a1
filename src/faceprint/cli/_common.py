"""What every command shares: consoles, exit codes, the mapping from typed errors to them, JSON output."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from faceprint.errors import FaceprintError, ImageError, MissingExtra, NoFaceFound, UnknownModel, WeightsError

if TYPE_CHECKING:
    from faceprint.evaluate.labelled import LabelledEmbeddings

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


class Exit(IntEnum):
    """Process exit codes. 0/1 are verdicts (verify: same / different); 2 and up are failures."""

    OK = 0
    DIFFERENT = 1
    BAD_INPUT = 2
    """An image is unreadable or has no face, a pairs file is malformed: the message names the file."""
    USAGE = 3
    """Unknown model or option value."""
    MISSING = 4
    """Weights or an optional dependency are missing."""
    ERROR = 5


def exit_code_for(exc: FaceprintError) -> Exit:
    if isinstance(exc, (ImageError, NoFaceFound)):
        return Exit.BAD_INPUT
    if isinstance(exc, UnknownModel):
        return Exit.USAGE
    if isinstance(exc, (WeightsError, MissingExtra)):
        return Exit.MISSING
    return getattr(exc, "exit_code", Exit.BAD_INPUT)


def fail(exc: FaceprintError) -> typer.Exit:
    """Print a one-line error to stderr and return the Exit to raise."""
    err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
    return typer.Exit(int(exit_code_for(exc)))


def stored_model_name(name: str, known: bool = True) -> str:
    """The name a model's embeddings and settings are stored under in a gallery: a checkpoint path (or an ensemble
    with one) becomes ``<base>@<digest>``, so a command finds what an earlier one stored for the same weights.

    `known=False` passes a name faceprint cannot build through unchanged, for work on stored embeddings alone.
    """
    from faceprint.models import get_model_spec

    try:
        return get_model_spec(name).name
    except UnknownModel:
        if known:
            raise
        return name


def labelled_embeddings(
    folder: Path | None, gallery: Path | None, model: str, detector: str, cache: bool
) -> LabelledEmbeddings:
    """Embeddings with person labels, behind a progress bar: of identity folders DIR/<person>/<images> (embedded
    with `model` and `detector`), or the gallery's stored embeddings of `model` (which need no network)."""
    from faceprint.analyzer import FaceAnalyzer
    from faceprint.evaluate.labelled import load_labelled

    model = stored_model_name(model, known=folder is not None)
    with progress_bar() as bar:
        task = bar.add_task("embedding photos", total=None)
        return load_labelled(folder, gallery, lambda: FaceAnalyzer(model=model, detector=detector), model, cache,
                             lambda done, total: bar.update(task, completed=done, total=total))


@contextmanager
def handle_errors() -> Iterator[None]:
    """Turn FaceprintError into a one-line message and its exit code."""
    try:
        yield
    except FaceprintError as exc:
        raise fail(exc) from None


def _clean(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return _clean(obj.item())
    return obj


def print_json(obj: Any) -> None:
    """One JSON document on stdout (NaN/inf become null)."""
    sys.stdout.write(json.dumps(_clean(obj), indent=2) + "\n")
    sys.stdout.flush()


def progress_bar() -> Progress:
    """A progress bar on stderr, so stdout stays clean for --json."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=False,
    )
