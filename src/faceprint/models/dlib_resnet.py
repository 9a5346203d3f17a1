"""dlib's ResNet face descriptor (dlib_face_recognition_resnet_model_v1, 99.38% on LFW), fed with our chips."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from faceprint.models._registry import ModelSpec, register_model
from faceprint.models._weights import WeightSpec
from faceprint.models.base import Embedder

__all__ = ["DlibResNetEmbedder", "DLIB_RESNET_V1"]


@lru_cache(maxsize=4)
def _load_dlib_model(path: str) -> Any:
    import dlib

    return dlib.face_recognition_model_v1(path)


class DlibResNetEmbedder(Embedder):
    """Runs dlib's network on 150x150 chips aligned by faceprint (dlib's own chip geometry)."""

    def __init__(self, spec: ModelSpec, num_jitters: int = 0) -> None:
        super().__init__(spec)
        assert spec.weights is not None
        self._net = _load_dlib_model(str(spec.weights.locate()))
        self.num_jitters = num_jitters

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        out = self._net.compute_face_descriptor(list(batch), self.num_jitters)
        return np.asarray([np.asarray(v) for v in out], dtype=np.float32).reshape(len(batch), -1)


DLIB_RESNET_V1 = register_model(
    ModelSpec(
        name="dlib-resnet-v1",
        input_size=150,
        template="dlib-chip-150",
        padding=0.0,
        preprocess="RGB uint8 150x150 chip (dlib's face-chip geometry, padding 0.25); dlib normalises internally",
        embedding_dim=128,
        metric="euclidean",
        # Calibrated, not guessed: the single best-accuracy threshold on LFW View 1 pairsDevTrain.txt (2,200 pairs),
        # from `faceprint eval pairs ../shared/data/lfw-view1/pairsDevTrain.txt --images ../shared/data/lfw-view1/images`
        # ("best threshold" line). dlib's own documentation suggests 0.6.
        threshold=0.6,
        weights=WeightSpec(
            filename="models/dlib_face_recognition_resnet_model_v1.dat",
            sha256="55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
            package="face_recognition_models",
            license="CC0-1.0",
        ),
        builder=lambda spec: DlibResNetEmbedder(spec),
        lfw_accuracy="",
        description="dlib ResNet-29 metric network, 128-d, trained by Davis King on ~3M faces",
    )
)
