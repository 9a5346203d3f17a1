"""What a model is, as plain data: one frozen record per model, which the registry hands out and builders read.

A `ModelSpec` says how a detected face becomes this model's embedding (crop size, alignment template, padding,
preprocessing, test-time augmentation), how its distances are judged (metric, thresholds, confidence slope), which
weights it runs (a `WeightSpec`, or a file's digest and path) and how to build it (`builder`, a function of the
spec). Nothing here registers anything: each model module defines its records as constants, and the catalogue
(`faceprint.models._catalogue`) reads them from the modules' ``MODELS`` tuples.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from faceprint.models._weights import WeightSpec

if TYPE_CHECKING:
    from faceprint.models.base import Embedder

__all__ = ["ModelSpec"]


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to turn a detected face into this model's embedding, and to judge its distances."""

    name: str
    family: str
    """The network family, e.g. ``dlib``, ``facenet``, ``openface``, ``ensemble``, ``onnx`` (for `models list`)."""
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
    members: tuple[ModelSpec, ...] = ()
    """An ensemble's member specs, in order (empty for a single network): its identity and builder read them."""

    def __post_init__(self) -> None:
        if self.jitters < 0:
            raise ValueError(f"{self.name}: jitters must be 0 or more, got {self.jitters}")

    @property
    def open_set_threshold(self) -> float:
        """The threshold `identify` uses by default (identify_threshold, else the verification threshold)."""
        return self.threshold if self.identify_threshold is None else self.identify_threshold
