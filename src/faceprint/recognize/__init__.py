"""Recognition: identify faces against a gallery (open set), with optional classifiers on embeddings."""

from faceprint.recognize.confidence import distance_to_confidence
from faceprint.recognize.identifier import Candidate, Identifier, Match
from faceprint.recognize.images import FaceResult, build_identifier, gallery_threshold, identify_images
from faceprint.recognize.open_set import DEFAULT_FAR, ImpostorDistribution, OpenSetThreshold, model_impostors, open_set_threshold

__all__ = [
    "DEFAULT_FAR",
    "Candidate",
    "FaceResult",
    "Identifier",
    "ImpostorDistribution",
    "Match",
    "OpenSetThreshold",
    "build_identifier",
    "distance_to_confidence",
    "gallery_threshold",
    "identify_images",
    "model_impostors",
    "open_set_threshold",
]
