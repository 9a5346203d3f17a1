"""The model registry: every embedding model as a data record, built by name through one factory."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from faceprint.errors import UnknownModel, WeightsError
from faceprint.models._weights import WeightSpec

if TYPE_CHECKING:
    from faceprint.models.base import Embedder

__all__ = ["ModelSpec", "register_model", "register_resolver", "get_model_spec", "list_models"]


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to turn a detected face into this model's embedding, and to judge its distances."""

    name: str
    input_size: int
    """Side of the square aligned face crop the network takes, in pixels."""
    template: str
    """Name of the alignment template (faceprint.align.templates)."""
    padding: float
    """Extra context around the template, as a fraction of the crop (see AlignmentTemplate.points_array)."""
    preprocess: str
    """How pixels are fed to the network, in words."""
    embedding_dim: int
    metric: str
    """'euclidean' or 'cosine'; larger always means less alike."""
    threshold: float
    """Default verification threshold: distances at or below it mean the same person."""
    weights: WeightSpec | None
    builder: Callable[[ModelSpec], Embedder]
    identify_threshold: float | None = None
    """Open-set identification threshold (nearest enrolled face): stricter than `threshold` because a query is
    compared with every enrolled face, so per-comparison false accepts add up. None means `threshold`."""
    flip_average: bool = False
    """Embed each crop and its mirror image and average the two (test-time augmentation); chosen per model on LFW
    DevTrain, since it costs a second forward pass."""
    jitters: int = 0
    """Also embed this many fixed jittered copies of each crop and average them in (faceprint.models._tta); chosen
    per model on LFW DevTrain, since each costs another forward pass."""
    confidence_slope: float = 10.0
    """Slope of the distance-to-confidence curve (faceprint.recognize.confidence), fitted on LFW DevTrain pairs."""
    weights_sha256: str | None = None
    """sha256 of weights that no WeightSpec describes (a training checkpoint's file)."""
    weights_path: str | None = None
    """The file those weights were read from (a training checkpoint), so a later process can find them again."""
    quantization: str = ""
    """How the network's arithmetic was reduced, when it was (e.g. ``int8-qdq v1, table <12 hex digits>``): part
    of the model's identity, so vectors of an int8 network never mix with its float32 original's. Empty: float32."""
    lfw_accuracy: str = ""
    """Our measured LFW figure and the protocol it came from, for `models list`."""
    description: str = ""

    def __post_init__(self) -> None:
        if self.jitters < 0:
            raise ValueError(f"{self.name}: jitters must be 0 or more, got {self.jitters}")

    @property
    def open_set_threshold(self) -> float:
        """The threshold `identify` uses by default (identify_threshold, else the verification threshold)."""
        return self.threshold if self.identify_threshold is None else self.identify_threshold


_MODELS: dict[str, ModelSpec] = {}
_RESOLVERS: list[Callable[[str], ModelSpec | None]] = []
_RESOLVED: dict[str, ModelSpec] = {}
"""Specs made by resolvers, by resolved name (not listed by list_models: they exist for this process only)."""


def register_resolver(resolver: Callable[[str], ModelSpec | None]) -> None:
    """Add a hook that turns a name that is not registered (e.g. a checkpoint path) into a spec, or returns None."""
    _RESOLVERS.append(resolver)


def register_model(spec: ModelSpec) -> ModelSpec:
    """Add a model to the registry; a duplicate name is an error."""
    if spec.name in _MODELS:
        raise ValueError(f"model {spec.name!r} is already registered")
    _MODELS[spec.name] = spec
    return spec


def get_model_spec(name: str, weights: str | os.PathLike[str] | None = None) -> ModelSpec:
    """The spec of a registered model; unknown names raise UnknownModel listing the choices.

    `weights`: a training checkpoint of that model (timm's ``create_model(name, checkpoint_path=...)``); the spec is
    the model's with the checkpoint's weights and calibration, named ``<name>@<12 hex digits of its sha256>``.

    A spec that a resolver made (a checkpoint path gives ``<base>@<digest>``) is kept under its resolved name for
    the rest of the process, refreshed at every resolution, so that name can be used wherever the path was.
    """
    _load_builtin_models()
    if weights is not None:
        return _with_weights(name, weights)
    if name in _MODELS:
        return _MODELS[name]
    if name in _RESOLVED:
        return _RESOLVED[name]
    spec = _resolve(name)
    if spec is None:
        if "@" in name and name.split("@", 1)[0] in _MODELS:
            raise UnknownModel("model (a trained checkpoint's name: give the checkpoint's path, RUN_DIR/best.pt)", name, list_models())
        raise UnknownModel("model", name, list_models())
    if spec.name not in _MODELS:
        _RESOLVED[spec.name] = spec
    return spec


def _with_weights(name: str, weights: str | os.PathLike[str]) -> ModelSpec:
    """The spec of checkpoint `weights`, which must hold a network of model `name` (or be `name` itself)."""
    from faceprint.models.checkpoint_model import checkpoint_spec

    spec = checkpoint_spec(weights)
    base = spec.name.split("@", 1)[0]
    if name not in (base, spec.name):
        raise WeightsError(f"{weights}: this checkpoint holds a {base} network ({spec.name}), not {name}")
    _RESOLVED[spec.name] = spec
    return spec


def list_models() -> list[str]:
    """Names of all registered models."""
    _load_builtin_models()
    return sorted(_MODELS)


_BUILTIN_MODULES: tuple[str, ...] = (
    "faceprint.models.dlib_resnet",
    "faceprint.models.facenet",
    "faceprint.models.openface",
    "faceprint.models.ensemble",
)


def _load_builtin_models() -> None:
    """Import the modules that register the built-in models (cheap: no weights are read until a model is built)."""
    import importlib

    for module in _BUILTIN_MODULES:
        importlib.import_module(module)


_RESOLVER_MODULES: tuple[str, ...] = ("faceprint.models.arcface_onnx", "faceprint.models.checkpoint_model")


def _resolve(name: str) -> ModelSpec | None:
    """Ask the resolvers (imported on first need) for a spec of an unregistered name."""
    import importlib

    for module in _RESOLVER_MODULES:
        importlib.import_module(module)
    for resolver in _RESOLVERS:
        spec = resolver(name)
        if spec is not None:
            return spec
    return None
