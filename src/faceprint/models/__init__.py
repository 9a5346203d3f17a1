"""Embedding models: a registry of named models and one factory that builds them."""

from __future__ import annotations

from faceprint.models._registry import ModelSpec, get_model_spec, list_models, register_model
from faceprint.models._weights import WeightSpec, cache_dir
from faceprint.models.base import Embedder

__all__ = ["DEFAULT_MODEL", "Embedder", "ModelSpec", "WeightSpec", "cache_dir", "create_embedder", "get_model_spec", "list_models", "register_model"]

DEFAULT_MODEL = "dlib-resnet-v1"

_BUILT: dict[str, Embedder] = {}


def create_embedder(name: str = DEFAULT_MODEL) -> Embedder:
    """Build (once per process) the embedder registered under `name`.

    Kept by the resolved spec's name, so a checkpoint path whose file was rewritten (its name carries the file's
    digest) builds the new weights instead of returning the old network.
    """
    spec = get_model_spec(name)
    if spec.name not in _BUILT:
        _BUILT[spec.name] = spec.builder(spec)
    return _BUILT[spec.name]
