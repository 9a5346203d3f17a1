"""The model registry: a model name in, its `ModelSpec` (and a new embedder) out, through one parser.

`get_model_spec` parses the name once (`faceprint.models._names.parse_model_name`) and answers by its kind:

* a registered name: the record in the catalogue (`faceprint.models._catalogue`);
* ``ensemble:A+B``: each member's spec by the same rules, combined by `faceprint.models.ensemble.ensemble_spec`;
* ``onnx:PATH``, a checkpoint path or run directory: the spec read from the file, named by its content;
* a name made from a file earlier in this process (``<base>@<digest>``, ``onnx:<stem>@<digest>``): that spec.

Nothing is registered at import and nothing is written into another module. The one piece of state is `RESOLVED`,
an explicit cache of the specs read from files, so that a resolved name keeps working for the rest of the process
(a gallery stores vectors under it) and a file is not read again while it is unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from faceprint.errors import UnknownModel, WeightsError
from faceprint.models._catalogue import catalogue
from faceprint.models._names import (
    CheckpointName,
    EnsembleName,
    ModelName,
    OnnxFileName,
    RegisteredName,
    ResolvedName,
    parse_model_name,
)
from faceprint.models._spec import ModelSpec
from faceprint.models.arcface_onnx import find_onnx, onnx_model_spec
from faceprint.models.checkpoint_model import checkpoint_spec
from faceprint.models.ensemble import ensemble_spec

__all__ = ["RESOLVED", "ResolvedSpecs", "get_model_spec", "list_models", "spec_of"]


class ResolvedSpecs:
    """The specs this process read from files (checkpoints, ``onnx:`` models), by resolved name and by path.

    A path's entry is reused while the file's size, modification time, change time and inode are those it was
    read at (any write changes the change time), so a rewritten file is read again and named by its new content.
    A builder still checks the bytes it loads against the digest in the name and refuses a file changed since.
    """

    def __init__(self) -> None:
        self._by_name: dict[str, ModelSpec] = {}
        self._by_path: dict[str, tuple[tuple[int, int, int, int], ModelSpec]] = {}

    def from_file(self, path: Path, read: Callable[[Path], ModelSpec]) -> ModelSpec:
        """The spec of the file at `path`, read by `read` unless this cache holds it for the file as it is now."""
        resolved = path.resolve()
        try:
            st = resolved.stat()
        except OSError:
            return read(resolved)  # raises the reader's own "not found" error
        signature = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
        held = self._by_path.get(str(resolved))
        if held is not None and held[0] == signature:
            spec = held[1]
        else:
            spec = read(resolved)
            self._by_path[str(resolved)] = (signature, spec)
        # the name means the file named last: two copies of one checkpoint share a name, and the copy named most
        # recently is the one its name builds from
        self._by_name[spec.name] = spec
        return spec

    def get(self, name: str) -> ModelSpec | None:
        """The spec a file was resolved to under `name` in this process, if any."""
        return self._by_name.get(name)

    def clear(self) -> None:
        """Forget every resolved file (their names stop working until the files are named again)."""
        self._by_name.clear()
        self._by_path.clear()


RESOLVED = ResolvedSpecs()
"""This process's cache of specs read from files (see `ResolvedSpecs`)."""


def get_model_spec(name: str, weights: str | os.PathLike[str] | None = None) -> ModelSpec:
    """The spec a model name means (see the module docstring); UnknownModel listing the choices otherwise.

    `weights`: a training checkpoint of model `name` (timm's ``create_model(name, checkpoint_path=...)``); the
    spec is then the checkpoint's, named ``<name>@<12 hex digits of its sha256>``.

    >>> get_model_spec("dlib-resnet-v1").embedding_dim
    128
    """
    if weights is not None:
        spec = RESOLVED.from_file(Path(weights), checkpoint_spec)
        base = spec.name.split("@", 1)[0]
        if name not in (base, spec.name):
            raise WeightsError(f"{weights}: this checkpoint holds a {base} network ({spec.name}), not {name}")
        return spec
    return spec_of(parse_model_name(name))


def spec_of(parsed: ModelName) -> ModelSpec:
    """The spec of a parsed model name."""
    match parsed:
        case RegisteredName(name=name):
            models = catalogue()
            if name not in models:
                raise UnknownModel("model", name, sorted(models))
            return models[name]
        case EnsembleName(members=members):
            return ensemble_spec([spec_of(m) for m in members])
        case OnnxFileName(ref=ref):
            return RESOLVED.from_file(find_onnx(ref), onnx_model_spec)
        case CheckpointName(path=path):
            return RESOLVED.from_file(path, checkpoint_spec)
        case ResolvedName(name=name, base=base):
            spec = RESOLVED.get(name)
            if spec is not None:
                return spec
            models = catalogue()
            if base in models:
                raise UnknownModel("model (a trained checkpoint's name: give the checkpoint's path, RUN_DIR/best.pt)", name, sorted(models))
            raise UnknownModel("model (a file's name from another process: give the file's path)", name, sorted(models))
    raise TypeError(f"not a parsed model name: {parsed!r}")  # pragma: no cover - the match covers ModelName


def list_models() -> list[str]:
    """Names of the built-in models (the catalogue; names made from files or ``ensemble:`` are not listed)."""
    return sorted(catalogue())
