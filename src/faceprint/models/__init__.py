"""Embedding models: a catalogue of model records, one parser of model names, and one factory that builds them."""

from __future__ import annotations

import os

from faceprint.models._names import ModelName, parse_model_name
from faceprint.models._registry import get_model_spec, list_models
from faceprint.models._spec import ModelSpec
from faceprint.models._weights import WeightSpec, cache_dir
from faceprint.models.base import Embedder
from faceprint.models.quantize import int8_is_fast

__all__ = [
    "DEFAULT_CLUSTER_MODEL",
    "DEFAULT_MODEL",
    "Embedder",
    "ModelName",
    "ModelSpec",
    "WeightSpec",
    "cache_dir",
    "create_embedder",
    "get_model_spec",
    "list_models",
    "parse_model_name",
]

DEFAULT_MODEL = "dlib-resnet-v1-int8" if int8_is_fast() else "dlib-resnet-v1"
"""The model used when none is named: dlib's ResNet, int8 on CPUs with 8-bit dot-product instructions (VNNI; the
int8 network embeds 2.3x faster there at the same LFW DevTrain accuracy), float32 elsewhere. FACEPRINT_INT8=0/1
overrides the detection. Chosen on DevTrain and speed: docs/speed.md."""

DEFAULT_CLUSTER_MODEL = "facenet-inception-resnet-v1-int8" if int8_is_fast() else "facenet-inception-resnet-v1"
"""The model `faceprint cluster` and `eval cluster` use when none is named and no gallery fixes one: FaceNet clusters
the 12 LFW View 1 DevTrain collections of `bench/cluster_variants.py` at mean BCubed F 0.980 against dlib's 0.954,
for about 3 times the embedding time (docs/clustering.md). With a gallery, `cluster` keeps the gallery's model
(`faceprint.cluster.saved.gallery_cluster_model`), so its people, its stored clusters and the service stay on one."""

def create_embedder(name: str = DEFAULT_MODEL, weights: str | os.PathLike[str] | None = None) -> Embedder:
    """A new embedder of the model `name` means (faceprint.models._names); the caller holds it.

    `weights`: a training checkpoint of that model (``RUN_DIR/best.pt``) to build it with instead of its pretrained
    weights. (A checkpoint's path alone, as the command line takes it, works as `name` too.)

    Nothing is kept by this function: to build a model once and reuse it, hold the embedder (or a FaceAnalyzer),
    or use ``faceprint.analyzers``, which the top-level API shares.
    """
    spec = get_model_spec(name, weights)
    return spec.builder(spec)
