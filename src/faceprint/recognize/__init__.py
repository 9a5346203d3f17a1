"""Recognition: identify faces against a gallery (open set), with optional classifiers on embeddings."""

from faceprint.recognize.confidence import distance_to_confidence
from faceprint.recognize.identifier import Candidate, Identifier, Match
from faceprint.recognize.images import FaceResult, build_identifier, identify_images

__all__ = ["Candidate", "FaceResult", "Identifier", "Match", "build_identifier", "distance_to_confidence", "identify_images"]
