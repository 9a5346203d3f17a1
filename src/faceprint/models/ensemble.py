"""Ensembles of registered models, named ``ensemble:A+B[+C...]`` and usable wherever a model name is.

How the members are combined, and why it is a plain embedding:

* each member's distance is divided by that member's own verification threshold, so 1.0 means "exactly at the
  member's threshold" for every member and the members become comparable;
* an ensemble embedding is the concatenation of its members' vectors, member i scaled by ``1 / (t_i * sqrt(k))``
  (k members, t_i member i's threshold). The Euclidean distance between two such vectors is then exactly

      D = sqrt( (1/k) * sum_i (d_i / t_i)^2 ),

  the quadratic mean of the normalised member distances. It is 1.0 when every member sits at its threshold, so
  the ensemble's default threshold is 1.0 and its decisions are an average of the members' normalised opinions.
  Because D is an ordinary Euclidean distance between fixed vectors, everything built for embeddings works
  unchanged: `Embeddings.distances`, the SQLite gallery, exact and FAISS search, the LFW protocol, classifiers.
  The arithmetic mean of the normalised distances (the other obvious average) is not the distance of any fixed
  embedding, so it could not be stored in a gallery or searched with an index; it is reported beside D in
  issue 4's notes for comparison.
* cosine members are first L2-normalised; for unit vectors ``||a - b|| = sqrt(2 * cosine distance)``, so dividing
  their Euclidean distance by ``sqrt(2 * t)`` gives ``sqrt(d_i / t_i)``: also 1.0 exactly at the member's threshold,
  and that is the term such a member adds to the mean in place of ``d_i / t_i``. (Every registered model is
  Euclidean today.)

Crops: every member needs its own crop (size, template, or facenet's box crop). The ensemble's crop is a square
canvas of side ``sum(member sizes)`` holding the members' crops side by side along the top edge (member i at
columns ``offset_i .. offset_i + size_i``); `embed` cuts them out again, so no member's crop is resampled twice.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from faceprint.errors import UnknownModel
from faceprint.models._names import ENSEMBLE_PREFIX, EnsembleName, ensemble_name, parse_model_name
from faceprint.models._spec import ModelSpec
from faceprint.models.base import Embedder
from faceprint.types import Face

__all__ = ["DEFAULT_ENSEMBLE", "ENSEMBLE_LFW", "PREFIX", "EnsembleEmbedder", "ensemble_name", "ensemble_spec", "parse_ensemble_name"]

PREFIX = ENSEMBLE_PREFIX

DEFAULT_ENSEMBLE = "ensemble:dlib-resnet-v1+facenet-inception-resnet-v1"
"""The ensemble the catalogue lists (the others are made from their names when used)."""

ENSEMBLE_LFW: dict[str, str] = {DEFAULT_ENSEMBLE: "View 1 DevTest 99.20% ± 0.98"}
"""Measured LFW figures of named ensembles, for `models list`."""


def parse_ensemble_name(name: str) -> list[str]:
    """Member names of ``ensemble:A+B+...`` as given (the form is checked by `parse_model_name`)."""
    parsed = parse_model_name(name)
    if not isinstance(parsed, EnsembleName):
        raise UnknownModel("ensemble (ensemble:A+B)", name, [DEFAULT_ENSEMBLE])
    return [m.name for m in parsed.members]


def member_scale(spec: ModelSpec, k: int) -> float:
    """The factor member vectors are multiplied by (after L2 normalisation for cosine members)."""
    t = spec.threshold if spec.metric == "euclidean" else math.sqrt(2.0 * spec.threshold)
    return 1.0 / (t * math.sqrt(k))


def _normalised(spec: ModelSpec, threshold: float) -> float:
    """A threshold of `spec` in the ensemble's units (member distance / member threshold)."""
    if spec.metric == "euclidean":
        return threshold / spec.threshold
    return math.sqrt(threshold / spec.threshold)


class EnsembleEmbedder(Embedder):
    """Embeds with every member and concatenates the members' threshold-scaled vectors (see the module docstring)."""

    def __init__(self, spec: ModelSpec, members: list[Embedder]) -> None:
        super().__init__(spec)
        self.members = members
        self.offsets = np.cumsum([0] + [m.spec.input_size for m in members[:-1]]).tolist()
        self.scales = [member_scale(m.spec, len(members)) for m in members]

    def _canvas(self, parts: list[np.ndarray]) -> np.ndarray:
        s = self.spec.input_size
        canvas = np.zeros((s, s, 3), np.uint8)
        for part, off in zip(parts, self.offsets):
            canvas[: part.shape[0], off : off + part.shape[1]] = part
        return canvas

    def align(self, image: np.ndarray, face: Face) -> np.ndarray:
        """Each member's own crop of the face, side by side on one canvas."""
        return self._canvas([m.align(image, face) for m in self.members])

    def center_crop(self, image: np.ndarray, fraction: float = 0.5) -> np.ndarray:
        """Each member's central-region crop, side by side on one canvas."""
        return self._canvas([m.center_crop(image, fraction) for m in self.members])

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        parts = []
        for m, off, scale in zip(self.members, self.offsets, self.scales):
            s = m.spec.input_size
            v = m.embed(np.ascontiguousarray(batch[:, :s, off : off + s])).vectors.astype(np.float32)
            if m.spec.metric == "cosine":
                v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
            parts.append(v * np.float32(scale))
        return np.concatenate(parts, axis=1)


def _build(spec: ModelSpec) -> EnsembleEmbedder:
    """Each member by its own spec's builder (a checkpoint member's refuses a file rewritten since it was read)."""
    return EnsembleEmbedder(spec, [m.builder(m) for m in spec.members])


def ensemble_spec(members: Sequence[ModelSpec]) -> ModelSpec:
    """The record of the ensemble of `members` (resolved specs, in order), named by their resolved names.

    A checkpoint member given by path therefore appears as ``<base>@<digest>``, so a retrained checkpoint makes
    another ensemble, never one that mixes with the old. The same spec always gives an equal record.
    """
    if len(members) < 2:
        raise UnknownModel("ensemble (at least two distinct models joined by '+')", ensemble_name([m.name for m in members]), [DEFAULT_ENSEMBLE])
    canonical = ensemble_name([m.name for m in members])
    if len({m.name for m in members}) != len(members):
        raise UnknownModel("ensemble (distinct models: two of these are the same weights)", canonical, [DEFAULT_ENSEMBLE])
    k = len(members)
    return ModelSpec(
        name=canonical,
        family="ensemble",
        input_size=sum(m.input_size for m in members),
        template=members[0].template,
        padding=0.0,
        preprocess="the members' own crops side by side on one canvas; each member preprocesses its own",
        embedding_dim=sum(m.embedding_dim for m in members),
        metric="euclidean",
        # 1.0: every member exactly at its own threshold (see the module docstring)
        threshold=1.0,
        # where every member sits at its own open-set threshold, in the same quadratic mean
        identify_threshold=math.sqrt(sum(_normalised(m, m.open_set_threshold) ** 2 for m in members) / k),
        # d(confidence)/d(distance) scales with the distance unit: at the threshold, d(term)/d(d_i) is 1/t_i for a
        # Euclidean member and 1/(2 t_i) for a cosine one, so member slope x t_i (or x 2 t_i), averaged
        confidence_slope=sum(m.confidence_slope * m.threshold * (1 if m.metric == "euclidean" else 2) for m in members) / k,
        weights=None,
        builder=_build,
        flip_average=False,  # mirroring the canvas would swap the members' crops; members flip their own
        lfw_accuracy=ENSEMBLE_LFW.get(canonical, ""),
        description="ensemble: " + ", ".join(m.name for m in members) + " (threshold-normalised distances)",
        members=tuple(members),
    )
