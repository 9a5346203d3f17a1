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
from rich.table import Table
from rich.text import Text

from faceprint.errors import (
    AlreadyEnrolled,
    ApiError,
    DeadlineExceeded,
    EmptyGallery,
    FaceprintError,
    GalleryError,
    GalleryLocked,
    GalleryUnavailable,
    ImageError,
    ImageTooLarge,
    InsufficientData,
    InvalidName,
    InvalidOption,
    MissingExtra,
    ModelMismatch,
    ModelNotInGallery,
    NoClusters,
    NoFaceFound,
    NoImagesFound,
    NotFittedError,
    OutputError,
    PairsFormatError,
    RunConflict,
    SampleDataError,
    StaleClassifier,
    StaleEmbeddings,
    UnknownCluster,
    UnknownModel,
    UnknownPerson,
    VideoError,
    VideoTooLarge,
    WeightsError,
)

if TYPE_CHECKING:
    from faceprint.evaluate.labelled import LabelledEmbeddings

UsageError: type[Exception] = typer.BadParameter.__mro__[1]
"""Click's UsageError as Typer bundles it (Typer exports only its subclass BadParameter): what an option error
raises; the root command prints it as one `error:` line and exits 3."""

# Markup off: user data (names, file names, error messages) is printed as it is, never read as Rich markup; our own
# styles go through `styled`. When stdout is not a terminal, lines never wrap (a pipe to grep sees whole names).
console = Console(soft_wrap=True, markup=False, width=None if sys.stdout.isatty() else 100_000)
err_console = Console(stderr=True, soft_wrap=True, markup=False, width=None if sys.stderr.isatty() else 100_000)


class Exit(IntEnum):
    """Process exit codes. 0/1 are verdicts (verify: same / different); 2 and up are failures."""

    OK = 0
    DIFFERENT = 1
    BAD_INPUT = 2
    """An image is unreadable or has no face, a pairs file is malformed, a name is empty: the message says which."""
    USAGE = 3
    """Unknown model or option value, an option out of range, options that conflict."""
    MISSING = 4
    """Weights or an optional dependency are missing."""
    ERROR = 5
    """Any other failure (an operating-system error outside the checked paths)."""
    GALLERY = 6
    """The gallery is corrupt, unusable or cannot be opened or created."""
    LOCKED = 7
    EMPTY_GALLERY = 8
    UNKNOWN_PERSON = 9
    STALE_CLASSIFIER = 10
    NO_IMAGES = 11
    MODEL_NOT_IN_GALLERY = 12
    RUN_CONFLICT = 13
    """train: the run folder holds a run with other settings."""
    OUTPUT = 14
    """An output file or folder cannot be written."""


EXIT_CODES: tuple[tuple[type[FaceprintError], Exit], ...] = (
    # Most specific first: the first class an error is an instance of gives its code.
    (ImageTooLarge, Exit.BAD_INPUT),
    (ImageError, Exit.BAD_INPUT),
    (NoFaceFound, Exit.BAD_INPUT),
    (PairsFormatError, Exit.BAD_INPUT),
    (InsufficientData, Exit.BAD_INPUT),
    (InvalidName, Exit.BAD_INPUT),
    (UnknownModel, Exit.USAGE),
    (InvalidOption, Exit.USAGE),
    (ModelMismatch, Exit.USAGE),
    (WeightsError, Exit.MISSING),
    (SampleDataError, Exit.MISSING),
    (MissingExtra, Exit.MISSING),
    (VideoTooLarge, Exit.BAD_INPUT),
    (VideoError, Exit.BAD_INPUT),
    (GalleryLocked, Exit.LOCKED),
    (GalleryUnavailable, Exit.LOCKED),  # the database server is away: like a lock, try again later
    (StaleEmbeddings, Exit.MODEL_NOT_IN_GALLERY),
    (ModelNotInGallery, Exit.MODEL_NOT_IN_GALLERY),
    (NoClusters, Exit.EMPTY_GALLERY),
    (EmptyGallery, Exit.EMPTY_GALLERY),
    (UnknownCluster, Exit.UNKNOWN_PERSON),
    (UnknownPerson, Exit.UNKNOWN_PERSON),
    (StaleClassifier, Exit.STALE_CLASSIFIER),
    (AlreadyEnrolled, Exit.BAD_INPUT),
    (GalleryError, Exit.GALLERY),
    (NoImagesFound, Exit.NO_IMAGES),
    (RunConflict, Exit.RUN_CONFLICT),
    (OutputError, Exit.OUTPUT),
    (NotFittedError, Exit.ERROR),
    (DeadlineExceeded, Exit.ERROR),
    (ApiError, Exit.ERROR),
    (FaceprintError, Exit.BAD_INPUT),
)
"""The one table from error classes to exit codes (the README lists the same)."""


def exit_code_for(exc: FaceprintError) -> Exit:
    """The exit code of an error: the first row of EXIT_CODES whose class it is an instance of."""
    return next(code for cls, code in EXIT_CODES if isinstance(exc, cls))


def styled(text: str, style: str) -> Text:
    """`text` in a Rich style, never parsed as markup (so it may hold user data)."""
    return Text(text, style=style)


def print_error(message: str, console_: Console | None = None) -> None:
    """One line `error: message` on stderr; the message is printed as it is."""
    (console_ or err_console).print(Text.assemble(("error:", "bold red"), " ", message), highlight=False, soft_wrap=True)


def fail(exc: FaceprintError) -> typer.Exit:
    """Print a one-line error to stderr and return the Exit to raise."""
    print_error(str(exc))
    return typer.Exit(int(exit_code_for(exc)))


def check_threshold(value: float | None) -> float | None:
    """A distance threshold given on the command line: the API's one rule (faceprint.api.check_threshold, a finite
    number >= 0; 0 accepts only identical vectors), reported as an option error (exit 3)."""
    from faceprint.api import check_threshold as rule

    try:
        return rule(value)
    except ValueError:
        raise InvalidOption(f"--threshold must be a finite number >= 0, got {value}") from None


def plural(n: int, singular: str, many: str | None = None) -> str:
    """`n` and the noun in the number it takes: "1 track", "2 tracks", "1 person", "3 people".

    >>> plural(1, "person", "people"), plural(3, "person", "people"), plural(0, "photo")
    ('1 person', '3 people', '0 photos')
    """
    return f"{n:,} {singular if n == 1 else (many or singular + 's')}"


def distinct(a: float, b: float, digits: int = 4) -> tuple[str, str]:
    """`a` and `b` printed with `digits` decimals, or with as many more as it takes to tell them apart."""
    for d in range(digits, 17):
        sa, sb = f"{a:.{d}f}", f"{b:.{d}f}"
        if sa != sb or a == b:
            return sa, sb
    return repr(a), repr(b)


def table(title: str, *columns: str, **kwargs: Any) -> Table:
    """A Rich table whose cells never wrap (names stay whole in a pipe); `--json` is the machine form."""
    t = Table(title=title, **kwargs)
    for col in columns:
        t.add_column(col, no_wrap=True)
    return t


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
    build = lambda: FaceAnalyzer(model=model, detector=detector)  # noqa: E731
    if folder is None:  # stored vectors: nothing to embed, no bar (it would sit at "0/?")
        return load_labelled(folder, gallery, build, model, cache)
    with progress_bar() as bar:
        task = bar.add_task("embedding photos", total=None, visible=False)  # shown once the photos are counted
        data = load_labelled(folder, gallery, build, model, cache,
                             lambda done, total: bar.update(task, completed=done, total=total, visible=True))
        bar.update(task, total=len(data) + len(data.skipped), completed=len(data) + len(data.skipped))
        return data


@contextmanager
def handle_errors() -> Iterator[None]:
    """Turn FaceprintError into a one-line message and its exit code; an OSError outside the checked paths too."""
    try:
        yield
    except FaceprintError as exc:
        raise fail(exc) from None
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print_error(f"{where}{exc.strerror or exc}")
        raise typer.Exit(int(Exit.ERROR)) from None


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


def require_gallery(gallery: str | Path | None) -> None:
    """Raise EmptyGallery (exit 8) when a command that names people finds no gallery at all: nobody is enrolled yet,
    which is an empty gallery, not an unusable one (a PostgreSQL URL is checked when it is opened)."""
    from faceprint.errors import EmptyGallery
    from faceprint.gallery.store import default_gallery_path, is_postgres_url

    where = gallery if gallery is not None else default_gallery_path()
    if not is_postgres_url(str(where)) and not Path(where).exists():
        raise EmptyGallery(f"{where}: no gallery here; enroll someone first (faceprint enroll)")


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
