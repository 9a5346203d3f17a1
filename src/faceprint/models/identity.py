"""What a model *is*, computed in one place: the identity record that caches, galleries and side data key on.

Two embeddings are comparable only when the same weights saw the same crops the same way. The record holds
everything that decides that: the model's resolved name, its weights' sha256, every pipeline setting that changes
the vectors (alignment template, padding, input size, preprocessing, test-time mirroring and jitter, an
ensemble's members, int8 quantisation and its calibration table), and IDENTITY_VERSION, bumped when faceprint's own detection or alignment code changes the
crops. Its `key` (``<name>#<12 hex digits>``) changes when any of them does.

Thresholds and other judgements of distances (verification threshold, confidence slope) are not part of it: they
read the vectors, they do not change them.

>>> model_identity("dlib-resnet-v1").key                 # doctest: +SKIP
'dlib-resnet-v1#3f1c0a9b2e47'
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from faceprint.models._registry import get_model_spec
from faceprint.models._spec import ModelSpec
from faceprint.models._tta import JITTER_SEED

__all__ = ["IDENTITY_VERSION", "ModelIdentity", "model_identity"]

IDENTITY_VERSION = 2
"""Bump when detection or alignment code changes the crops a model sees (every stored vector becomes stale)."""


@dataclass(frozen=True)
class ModelIdentity:
    """A model's identity record: name, weights digest, vector-changing settings and version."""

    name: str
    """The resolved model name (a checkpoint's is ``<base>@<12 hex digits of its file's sha256>``)."""
    weights_sha256: str | None
    """sha256 of the weight file, when faceprint knows it (None for an ensemble, whose members carry theirs)."""
    settings: dict[str, Any] = field(default_factory=dict)
    """Every pipeline setting that changes the vectors, JSON-plain."""
    version: int = IDENTITY_VERSION
    metric: str = "euclidean"
    """How the vectors are compared (not hashed: it follows from the model)."""
    weights_path: str | None = None
    """Where a checkpoint's weights were read from, so that a later process can build it again (not hashed)."""

    @property
    def digest(self) -> str:
        body = json.dumps([self.name, self.weights_sha256, self.settings, self.version], sort_keys=True)
        return hashlib.sha256(body.encode()).hexdigest()

    @property
    def key(self) -> str:
        """``<name>#<first 12 hex digits of the record's sha256>``: what caches and galleries store vectors under."""
        return f"{self.name}#{self.digest[:12]}"

    def to_json(self) -> str:
        return json.dumps(
            {
                "name": self.name,
                "weights_sha256": self.weights_sha256,
                "settings": self.settings,
                "version": self.version,
                "metric": self.metric,
                "weights_path": self.weights_path,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> ModelIdentity:
        d = json.loads(text)
        return cls(d["name"], d.get("weights_sha256"), d.get("settings", {}), int(d.get("version", 0)), d.get("metric", "euclidean"), d.get("weights_path"))


def model_identity(model: str | ModelSpec) -> ModelIdentity:
    """The identity record of a model name (registered name, checkpoint path, ensemble) or spec."""
    s = get_model_spec(model) if isinstance(model, str) else model
    settings: dict[str, Any] = {
        "template": s.template,
        "padding": s.padding,
        "input_size": s.input_size,
        "preprocess": s.preprocess,
        "embedding_dim": s.embedding_dim,
        "flip_average": s.flip_average,
    }
    if s.jitters:
        settings["jitters"] = [s.jitters, JITTER_SEED]
    if s.quantization:  # only when set, so float32 models keep the keys their stored vectors have
        settings["quantization"] = s.quantization
    if s.members:  # an ensemble: its members' identities, in order
        settings["members"] = [model_identity(m).key for m in s.members]
    weights = s.weights_sha256 or (s.weights.sha256 if s.weights is not None else None)
    return ModelIdentity(s.name, weights, settings, IDENTITY_VERSION, s.metric, s.weights_path)
