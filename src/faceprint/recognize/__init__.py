"""Recognition: identify faces against enrolled vectors (open set), with optional classifiers on embeddings.

It knows no gallery store: faceprint.gallery.build_identifier builds an Identifier over a gallery."""

from faceprint.recognize.confidence import distance_to_confidence
from faceprint.recognize.identifier import Candidate, Identifier, Match
from faceprint.recognize.images import FaceResult, gallery_threshold, identify_images
from faceprint.recognize.open_set import DEFAULT_FAR, ImpostorDistribution, OpenSetThreshold, model_impostors, open_set_threshold

__all__ = [
    "DEFAULT_FAR",
    "Candidate",
    "FaceResult",
    "Identifier",
    "ImpostorDistribution",
    "Match",
    "OpenSetThreshold",
    "distance_to_confidence",
    "gallery_threshold",
    "identify_images",
    "model_impostors",
    "open_set_threshold",
]
