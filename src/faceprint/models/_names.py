"""The one parser of model names: what kind of model a name means, decided by its form alone.

Every way to name a model, and what `parse_model_name` returns for it:

* ``ensemble:A+B[+C...]`` -> `EnsembleName` (its member names, each parsed the same way; ensembles do not nest);
* ``onnx:PATH`` or ``onnx:NAME`` (a file in ``$FACEPRINT_MODELS``) -> `OnnxFileName`;
* a path ending in ``.pt``, or a directory holding ``best.pt`` (a training run) -> `CheckpointName`;
* ``<registered name>@<12 hex digits>`` or ``onnx:<stem>@<12 hex digits>`` -> `ResolvedName`: the name a
  checkpoint or ONNX file was given when this process read it (it means nothing to a new process);
* anything else -> `RegisteredName` (a catalogue name such as ``dlib-resnet-v1`` or ``dlib-resnet-v1-int8``;
  whether it exists is the registry's question).

The forms do not overlap, so no order of "resolvers" decides what a name is. Only the run-directory form looks
at the disk (is there a ``best.pt``?); a ``.pt`` name that does not exist is still a checkpoint name, and reading
it fails with a WeightsError that names the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from faceprint.errors import UnknownModel

__all__ = [
    "CHECKPOINT_SUFFIX",
    "ENSEMBLE_PREFIX",
    "ONNX_PREFIX",
    "CheckpointName",
    "EnsembleName",
    "ModelName",
    "OnnxFileName",
    "RegisteredName",
    "ResolvedName",
    "ensemble_name",
    "parse_model_name",
]

ENSEMBLE_PREFIX = "ensemble:"
ONNX_PREFIX = "onnx:"
CHECKPOINT_SUFFIX = ".pt"
_RUN_CHECKPOINT = "best.pt"
_DIGEST = re.compile(r"^(?P<base>.+)@[0-9a-f]{12}$")
_ENSEMBLE_FORM = "ensemble:A+B"


@dataclass(frozen=True)
class RegisteredName:
    """A name to look up in the catalogue."""

    name: str


@dataclass(frozen=True)
class EnsembleName:
    """``ensemble:A+B+...``: at least two distinct member names, in order, none an ensemble."""

    members: tuple[ModelName, ...]

    @property
    def name(self) -> str:
        return ensemble_name([m.name for m in self.members])


@dataclass(frozen=True)
class OnnxFileName:
    """``onnx:REF``: an ArcFace-format ONNX file by path, or by name in ``$FACEPRINT_MODELS``."""

    ref: str

    @property
    def name(self) -> str:
        return ONNX_PREFIX + self.ref


@dataclass(frozen=True)
class CheckpointName:
    """A training checkpoint: the ``.pt`` file itself (a run directory is parsed to its ``best.pt``)."""

    path: Path
    name: str
    """The name as given (the path or the run directory)."""


@dataclass(frozen=True)
class ResolvedName:
    """``<base>@<12 hex digits>``: the name this process gave a checkpoint or ONNX file it read."""

    name: str
    base: str
    """The part before ``@``: a registered model (for a checkpoint) or ``onnx:<stem>``."""


ModelName = RegisteredName | EnsembleName | OnnxFileName | CheckpointName | ResolvedName
"""What a model name means (see the module docstring)."""


def ensemble_name(members: list[str]) -> str:
    """The name of the ensemble of `members` (in that order)."""
    return ENSEMBLE_PREFIX + "+".join(members)


def parse_model_name(name: str) -> ModelName:
    """What `name` means, by its form (see the module docstring); UnknownModel for a malformed ensemble.

    >>> parse_model_name("ensemble:dlib-resnet-v1+facenet-inception-resnet-v1").members[1]
    RegisteredName(name='facenet-inception-resnet-v1')
    """
    if not isinstance(name, str) or not name:
        raise UnknownModel("model (a non-empty name)", repr(name), [])
    if name.startswith(ENSEMBLE_PREFIX):
        return _parse_ensemble(name)
    if name.startswith(ONNX_PREFIX):
        match = _DIGEST.match(name)
        return ResolvedName(name, match["base"]) if match else OnnxFileName(name[len(ONNX_PREFIX) :])
    path = Path(name)
    if path.suffix == CHECKPOINT_SUFFIX:
        return CheckpointName(path, name)
    match = _DIGEST.match(name)
    if match:
        return ResolvedName(name, match["base"])
    try:
        if (path / _RUN_CHECKPOINT).is_file():
            return CheckpointName(path / _RUN_CHECKPOINT, name)
    except (OSError, ValueError):  # not a usable path (too long, a NUL byte): it can only be a registered name
        pass
    return RegisteredName(name)


def _parse_ensemble(name: str) -> EnsembleName:
    members = [m.strip() for m in name[len(ENSEMBLE_PREFIX) :].split("+")]
    if len(members) < 2 or any(not m for m in members) or len(set(members)) != len(members):
        raise UnknownModel("ensemble (at least two distinct models joined by '+')", name, [_ENSEMBLE_FORM])
    for m in members:
        if m.startswith(ENSEMBLE_PREFIX):
            raise UnknownModel("ensemble member (ensembles do not nest)", m, [])
    return EnsembleName(tuple(parse_model_name(m) for m in members))
