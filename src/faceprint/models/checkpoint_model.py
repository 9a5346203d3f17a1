"""Training checkpoints as models: `RUN_DIR/best.pt` works wherever a model name does.

`faceprint train` writes checkpoints (torch.save of plain dicts and tensors, read back with
``torch.load(weights_only=True)``) that name the registered model whose network they hold (`base_model`). A
model name that is the path of such a file (or of a run directory holding ``best.pt``; `faceprint.models._names`
tells) resolves, through `checkpoint_spec`, to a `ModelSpec` that is the base model's spec with:

* the name ``<base model>@<first 12 hex digits of the file's sha256>``: galleries, caches and embeddings tell
  checkpoints apart by content, so a retrained ``best.pt`` never mixes with embeddings of the old one;
* the verification threshold and confidence slope calibrated on the run's held-out people at that epoch;
* a builder that puts the trained weights into the base model's network and embedder (same alignment and
  preprocessing as the base model).

Trainable networks are listed in `ARCHITECTURES` (PyTorch models only: dlib's ResNet cannot be trained here).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from faceprint.errors import MissingExtra, UnknownModel, WeightsError
from faceprint.models._catalogue import catalogue
from faceprint.models._names import CheckpointName, parse_model_name
from faceprint.models._spec import ModelSpec

if TYPE_CHECKING:
    from torch import nn

    from faceprint.models.torch_embedder import TorchEmbedder

__all__ = [
    "ARCHITECTURES",
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "Architecture",
    "checkpoint_spec",
    "find_checkpoint",
    "get_architecture",
    "load_checkpoint",
]

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "faceprint-checkpoint"
CHECKPOINT_VERSION = 1


@dataclass(frozen=True)
class Architecture:
    """How to build a registered model's network untrained, and how to wrap any weights of it as that model.

    Attributes:
        base_model: the registered model name.
        build: a new, untrained network (PyTorch's default initialisation).
        wrap: (spec, network, device) -> the base model's embedder around this network (its alignment and
            preprocessing), for a trained checkpoint.
    """

    base_model: str
    build: Callable[[], nn.Module]
    wrap: Callable[[ModelSpec, nn.Module, str | None], TorchEmbedder]


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise MissingExtra("torch", "train") from None
    return torch


def _facenet_build() -> nn.Module:
    from faceprint.models.inception_resnet_v1 import InceptionResnetV1

    return InceptionResnetV1()


def _facenet_wrap(spec: ModelSpec, network: nn.Module, device: str | None) -> TorchEmbedder:
    from faceprint.models.facenet import FaceNetEmbedder

    return FaceNetEmbedder(spec, backend="torch", device=device, module=network)  # type: ignore[arg-type]


def _nn4_build() -> nn.Module:
    from faceprint.models.nn4_small2 import NN4Small2

    return NN4Small2()


def _nn4_wrap(spec: ModelSpec, network: nn.Module, device: str | None) -> TorchEmbedder:
    from faceprint.models.openface import OpenFaceEmbedder

    return OpenFaceEmbedder(spec, module=network, device=device)  # type: ignore[arg-type]


ARCHITECTURES: dict[str, Architecture] = {
    "facenet-inception-resnet-v1": Architecture("facenet-inception-resnet-v1", _facenet_build, _facenet_wrap),
    "openface-nn4.small2-v1": Architecture("openface-nn4.small2-v1", _nn4_build, _nn4_wrap),
}


def get_architecture(base_model: str) -> Architecture:
    """The trainable architecture of a registered model; UnknownModel (listing the trainable ones) otherwise."""
    models = catalogue()
    if base_model not in models:
        raise UnknownModel("model", base_model, sorted(models))
    try:
        return ARCHITECTURES[base_model]
    except KeyError:
        raise UnknownModel("trainable model", base_model, sorted(ARCHITECTURES)) from None


# -- reading checkpoints ------------------------------------------------------------------------------------------


def find_checkpoint(name: str | os.PathLike[str]) -> Path | None:
    """The checkpoint file a model name points to: a .pt file, or a run directory's best.pt; None if it is no path.

    A name ending in .pt that does not exist raises WeightsError (it was meant as a checkpoint). The form is
    decided by `faceprint.models._names.parse_model_name`, the one parser of model names.
    """
    parsed = parse_model_name(str(name))
    if not isinstance(parsed, CheckpointName):
        return None
    if not parsed.path.is_file():
        raise WeightsError(f"{parsed.path}: checkpoint file not found")
    return parsed.path


def load_checkpoint(path: str | os.PathLike[str], map_location: str = "cpu", raw: bytes | None = None) -> dict[str, Any]:
    """A checkpoint written by `faceprint train`, as a dict; WeightsError when it is not one or is damaged.

    `raw`: the file's bytes, already read (so that what is loaded is what was hashed); `path` then only names it.
    """
    torch = _torch()
    path = Path(path)
    try:
        data = torch.load(io.BytesIO(raw) if raw is not None else path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise WeightsError(f"{path}: checkpoint file not found") from None
    except Exception as exc:  # torch raises many kinds for a damaged or foreign file
        raise WeightsError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise WeightsError(f"{path}: not a faceprint training checkpoint")
    if data.get("version") != CHECKPOINT_VERSION:
        raise WeightsError(f"{path}: checkpoint version {data.get('version')!r} is not supported (expected {CHECKPOINT_VERSION})")
    for key in ("base_model", "model_state", "config", "epoch", "calibration"):
        if key not in data:
            raise WeightsError(f"{path}: checkpoint lacks {key!r}")
    return data


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise WeightsError(f"{path}: checkpoint file cannot be read ({exc.strerror or exc})") from None


def checkpoint_spec(path: str | os.PathLike[str]) -> ModelSpec:
    """The ModelSpec of a checkpoint file (see the module docstring); reads and hashes the file on every call.

    The registry keeps what it resolved (faceprint.models._registry.RESOLVED), so a path named again is not read
    again while the file is unchanged.
    """
    path = str(Path(path).resolve())
    if not Path(path).is_file():
        raise WeightsError(f"{path}: checkpoint file not found")
    raw = _read(path)  # one read: the name's digest and the calibration come from the same bytes
    digest = hashlib.sha256(raw).hexdigest()
    ckpt = load_checkpoint(path, raw=raw)
    del raw  # the builder reads the file again (checkpoints can be large) and checks it is still these bytes
    base_name = str(ckpt["base_model"])
    arch = get_architecture(base_name)
    base = catalogue()[base_name]
    cal = ckpt["calibration"]
    run = ckpt["config"]
    metrics = ckpt.get("metrics", {})

    def build(spec: ModelSpec) -> TorchEmbedder:
        raw = _read(path)
        if hashlib.sha256(raw).hexdigest() != digest:
            raise WeightsError(
                f"{path} changed after it was read as {spec.name} (a training run rewrote it?); run the command again"
            )
        state = load_checkpoint(path, raw=raw)["model_state"]
        network = arch.build()
        try:
            network.load_state_dict(state)
        except RuntimeError as exc:
            raise WeightsError(f"{path}: weights do not fit the {base.name} network: {exc}") from None
        return arch.wrap(spec, network, None)

    auc = metrics.get("val_auc")
    return dataclasses.replace(
        base,
        name=f"{base.name}@{digest[:12]}",
        threshold=float(cal["threshold"]),
        identify_threshold=None,
        confidence_slope=float(cal["confidence_slope"]),
        flip_average=False,  # its threshold and slope were fitted on single-pass validation embeddings
        jitters=0,
        weights=None,
        weights_sha256=digest,
        weights_path=path,
        builder=build,
        lfw_accuracy="",
        description=(
            f"{base.name} trained by faceprint train ({path}, epoch {ckpt['epoch']}, init {run.get('init')}, "
            f"mining {run.get('mining')}" + (f", held-out AUC {auc:.4f})" if isinstance(auc, float) else ")")
        ),
    )
