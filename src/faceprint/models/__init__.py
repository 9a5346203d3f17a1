"""Embedding models: a registry of named models and one factory that builds them."""

from __future__ import annotations

from faceprint.models._registry import ModelSpec, get_model_spec, list_models, register_model
from faceprint.models._weights import WeightSpec, cache_dir
from faceprint.models.base import Embedder

__all__ = ["DEFAULT_MODEL", "Embedder", "ModelSpec", "WeightSpec", "cache_dir", "create_embedder", "get_model_spec", "list_models", "register_model"]

DEFAULT_MODEL = "dlib-resnet-v1"

def create_embedder(name: str = DEFAULT_MODEL) -> Embedder:
    """A new embedder of the model registered under `name` (or a checkpoint path); the caller holds it.

    Nothing is kept by this function: to build a model once and reuse it, hold the embedder (or a FaceAnalyzer),
    or use ``faceprint.analyzers``, which the top-level API shares.
    """
    spec = get_model_spec(name)
    return spec.builder(spec)
