"""Training checkpoints as models: `RUN_DIR/best.pt` works wherever a model name does.

`faceprint train` writes checkpoints (torch.save of plain dicts and tensors, read back with
``torch.load(weights_only=True)``) that name the registered model whose network they hold (`base_model`). A
model name that is the path of such a file (or of a run directory holding ``best.pt``) resolves, through the
registry's resolver hook, to a `ModelSpec` that is the base model's spec with:

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
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from faceprint.errors import FaceprintError, MissingExtra, UnknownModel, WeightsError
from faceprint.models._registry import ModelSpec, get_model_spec, register_resolver

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
    "resolve_checkpoint",
]

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "faceprint-checkpoint"
CHECKPOINT_VERSION = 1
CHECKPOINT_SUFFIX = ".pt"


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
    from faceprint.models.facenet import DEFAULT_CROP, FaceNetEmbedder, preprocess
    from faceprint.models.torch_embedder import TorchEmbedder

    # FaceNetEmbedder's constructor loads the pretrained weights; build it around our network instead, with the
    # crop it uses by default.
    emb = FaceNetEmbedder.__new__(FaceNetEmbedder)
    TorchEmbedder.__init__(emb, spec, network, preprocess, backend="torch", device=device)
    emb.crop = DEFAULT_CROP
    return emb


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
    get_model_spec(base_model)  # unknown names fail with the list of every model
    try:
        return ARCHITECTURES[base_model]
    except KeyError:
        raise UnknownModel("trainable model", base_model, sorted(ARCHITECTURES)) from None


# -- reading checkpoints ------------------------------------------------------------------------------------------


def find_checkpoint(name: str | os.PathLike[str]) -> Path | None:
    """The checkpoint file a model name points to: a .pt file, or a run directory's best.pt; None if it is no path.

    A name ending in .pt that does not exist raises WeightsError (it was meant as a checkpoint).
    """
    p = Path(name)
    if p.suffix == CHECKPOINT_SUFFIX:
        if not p.is_file():
            raise WeightsError(f"{p}: checkpoint file not found")
        return p
    if p.is_dir() and (p / "best.pt").is_file():
        return p / "best.pt"
    return None


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


@lru_cache(maxsize=8)
def _spec_for(path: str, size: int, mtime_ns: int) -> ModelSpec:
    raw = _read(path)  # one read: the name's digest and the calibration come from the same bytes
    digest = hashlib.sha256(raw).hexdigest()
    ckpt = load_checkpoint(path, raw=raw)
    del raw  # the builder reads the file again (checkpoints can be large) and checks it is still these bytes
    base = get_model_spec(str(ckpt["base_model"]))
    arch = get_architecture(base.name)
    cal = ckpt["calibration"]
    run = ckpt["config"]
    metrics = ckpt.get("metrics", {})

    def build(spec: ModelSpec) -> TorchEmbedder:
        raw = _read(path)
        if hashlib.sha256(raw).hexdigest() != digest:
            _spec_for.cache_clear()  # a rewrite that kept size and mtime: the next resolution must read it again
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


def checkpoint_spec(path: str | os.PathLike[str]) -> ModelSpec:
    """The ModelSpec of a checkpoint file (see the module docstring)."""
    p = Path(path).resolve()
    try:
        st = p.stat()
    except OSError:
        raise WeightsError(f"{path}: checkpoint file not found") from None
    return _spec_for(str(p), st.st_size, st.st_mtime_ns)


def resolve_checkpoint(name: str) -> ModelSpec | None:
    """The registry hook: a checkpoint path (or run directory) as a model spec; None when `name` is not a path."""
    from faceprint.models.ensemble import PREFIX

    if name.startswith(PREFIX):  # `ensemble:A+run/best.pt` ends in .pt too; its members are resolved one by one
        return None
    try:
        path = find_checkpoint(name)
    except FaceprintError:
        raise
    except (OSError, ValueError):
        return None
    return checkpoint_spec(path) if path is not None else None


register_resolver(resolve_checkpoint)
