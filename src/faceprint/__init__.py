"""faceprint: FaceNet-style face recognition toolkit.

Layered API: ``load_image`` -> ``create_detector(...).detect`` -> ``align_face`` -> ``create_embedder(...).embed``,
with ``FaceAnalyzer`` doing all of it in one call.
"""

from __future__ import annotations

__version__ = "0.1.0"

from faceprint.errors import (
    FaceprintError,
    ImageError,
    MissingExtra,
    ModelMismatch,
    NoFaceFound,
    NotFittedError,
    UnknownModel,
    WeightsError,
)
from faceprint.types import Embeddings, Face

__all__ = [
    "__version__",
    "Face",
    "Embeddings",
    "FaceprintError",
    "ImageError",
    "MissingExtra",
    "ModelMismatch",
    "NoFaceFound",
    "NotFittedError",
    "UnknownModel",
    "WeightsError",
]
