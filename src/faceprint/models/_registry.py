"""The model registry: every embedding model as a data record, built by name through one factory."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from faceprint.errors import UnknownModel
from faceprint.models._weights import WeightSpec

if TYPE_CHECKING:
    from faceprint.models.base import Embedder

__all__ = ["ModelSpec", "register_model", "get_model_spec", "list_models"]


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
    confidence_slope: float = 10.0
    """Slope of the distance-to-confidence curve (faceprint.recognize.confidence), fitted on LFW DevTrain pairs."""
    lfw_accuracy: str = ""
    """Our measured LFW figure and the protocol it came from, for `models list`."""
    description: str = ""


_MODELS: dict[str, ModelSpec] = {}


def register_model(spec: ModelSpec) -> ModelSpec:
    """Add a model to the registry; a duplicate name is an error."""
    if spec.name in _MODELS:
        raise ValueError(f"model {spec.name!r} is already registered")
    _MODELS[spec.name] = spec
    return spec


def get_model_spec(name: str) -> ModelSpec:
    """The spec of a registered model; unknown names raise UnknownModel listing the choices."""
    _load_builtin_models()
    try:
        return _MODELS[name]
    except KeyError:
        raise UnknownModel("model", name, list_models()) from None


def list_models() -> list[str]:
    """Names of all registered models."""
    _load_builtin_models()
    return sorted(_MODELS)


def _load_builtin_models() -> None:
    # Importing the module registers its models; it is cheap (no weights are read until a model is built).
    import faceprint.models.dlib_resnet  # noqa: F401
