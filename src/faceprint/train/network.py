"""The network a run trains: a registered model's PyTorch network, pretrained, untrained or from a checkpoint."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from faceprint.errors import WeightsError
from faceprint.models import get_model_spec
from faceprint.models.checkpoint_model import find_checkpoint, get_architecture, load_checkpoint
from faceprint.models.torch_embedder import TorchEmbedder

if TYPE_CHECKING:
    from faceprint.models._spec import ModelSpec

__all__ = ["Network", "build_network", "network_from_state"]


@dataclass(frozen=True, eq=False)
class Network:
    """The trained network inside the base model's embedder (its alignment, preprocessing and spec)."""

    base_model: str
    embedder: TorchEmbedder
    init: str
    """Where the weights came from, in words."""

    @property
    def module(self) -> torch.nn.Module:
        return self.embedder.module

    @property
    def spec(self) -> ModelSpec:
        return self.embedder.spec


def _base_of(model: str) -> tuple[str, Path | None]:
    """(registered base model, checkpoint path or None) of a model name that may be a checkpoint path."""
    path = find_checkpoint(model)
    if path is None:
        get_model_spec(model)
        return model, None
    return str(load_checkpoint(path)["base_model"]), path


def network_from_state(base_model: str, state: dict[str, torch.Tensor], device: str | None, init: str) -> Network:
    """The base model's network with the given weights."""
    arch = get_architecture(base_model)
    module = arch.build()
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        raise WeightsError(f"the weights do not fit the {base_model} network: {exc}") from None
    return Network(base_model, arch.wrap(get_model_spec(base_model), module, device), init)


def build_network(model: str, init: str, device: str | None = None, seed: int = 0) -> Network:
    """The network to train.

    Args:
        model: a registered model name, or a checkpoint path (then "pretrained" means the checkpoint's weights).
        init: "pretrained" (the model's weights; WeightsError when they are missing), "scratch" (untrained,
            seeded by `seed`) or the path of a checkpoint of the same base model.
        device: "cpu", "cuda" or None (cuda when available).
    """
    base, model_ckpt = _base_of(model)
    arch = get_architecture(base)
    spec = get_model_spec(base)
    if init == "scratch":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            module = arch.build()
        return Network(base, arch.wrap(spec, module, device), "scratch")
    if init == "pretrained" and model_ckpt is None:
        try:
            embedder = spec.builder(spec)  # our own instance, to be trained
        except WeightsError as exc:
            raise WeightsError(f"{exc}; to train {base} without its pretrained weights use --init scratch") from None
        return Network(base, arch.wrap(spec, embedder.module, device), f"pretrained {base}")
    path = model_ckpt if init == "pretrained" else find_checkpoint(init)
    if path is None:
        raise ValueError(f"--init must be pretrained, scratch or the path of a checkpoint (.pt), got {init!r}")
    ckpt = load_checkpoint(path)
    if ckpt["base_model"] != base:
        raise WeightsError(f"{path} holds a {ckpt['base_model']} network, not {base}")
    return network_from_state(base, ckpt["model_state"], device, f"checkpoint {path} (epoch {ckpt['epoch']})")
