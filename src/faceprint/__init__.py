"""faceprint: face recognition in one import.

One call per task; each takes a path, bytes, a binary file object, a PIL image or an RGB numpy array:

* ``verify(img1, img2)`` -> Verification: are two photos the same person (``same``, ``distance``, ``threshold``)?
* ``detect(img)`` -> list of Face: boxes, scores and five landmarks, largest first.
* ``embed(img)`` -> list of FaceEmbedding: every face with its embedding ``vector``.
* ``Gallery(path)``: enrol people (``enroll(name, images)``) and name faces or call them UNKNOWN (``identify``).
* ``load_image``, ``FaceAnalyzer`` (detector + model in one object), ``list_models()``.

Networks are built once per process and reused, in ``faceprint.analyzers``.

>>> import faceprint
>>> faceprint.verify("a.jpg", "b.jpg").same           # doctest: +SKIP
True

Below this: ``faceprint.detect`` / ``align`` / ``models`` / ``gallery`` / ``recognize`` / ``evaluate`` modules.
"""

from __future__ import annotations

from faceprint._version import __version__
from faceprint.analyzer import FaceAnalyzer
from faceprint.api import Analyzers, Gallery, Verification, analyzers, detect, embed, verify
from faceprint.errors import (
    FaceprintError,
    GalleryError,
    ImageError,
    InvalidName,
    MissingExtra,
    ModelMismatch,
    NoFaceFound,
    NotFittedError,
    UnknownModel,
    UnknownPerson,
    WeightsError,
)
from faceprint.image import load_image
from faceprint.models import list_models
from faceprint.recognize.images import FaceResult
from faceprint.types import Embeddings, Face, FaceEmbedding

__all__ = [
    "__version__",
    "verify",
    "detect",
    "embed",
    "Gallery",
    "load_image",
    "FaceAnalyzer",
    "list_models",
    "analyzers",
    "Analyzers",
    "Verification",
    "Face",
    "FaceEmbedding",
    "FaceResult",
    "Embeddings",
    "FaceprintError",
    "GalleryError",
    "ImageError",
    "InvalidName",
    "MissingExtra",
    "ModelMismatch",
    "NoFaceFound",
    "NotFittedError",
    "UnknownModel",
    "UnknownPerson",
    "WeightsError",
]
