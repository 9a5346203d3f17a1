"""OpenFace nn4.small2.v1 as `openface-nn4.small2-v1`: where its weights are, how they load, and the embedder.

Weights are supplied by the user (no package ships them and nothing is downloaded): either OpenFace's Torch7 file
``nn4.small2.v1.t7`` (md5 c95bfd8cc1adf05210e979ff623013b6 in OpenFace's get-models.sh) or a Keras-OpenFace
per-layer CSV directory. They are looked for, in order, at ``$FACEPRINT_OPENFACE_WEIGHTS`` (a .t7 file or a CSV
directory), ``<cache>/weights/nn4.small2.v1.t7`` and ``<cache>/weights/openface-nn4.small2.v1-csv/`` (cache:
``$FACEPRINT_HOME`` or ``~/.cache/faceprint``), or passed as ``OpenFaceEmbedder(spec, weights=PATH)``. Until a
complete set is found the model is listed as unusable (`weights_available`) and building it raises WeightsError;
`NN4Small2()` itself always builds, untrained, for training.

The two weight formats are read by `faceprint.models._torch7` (the .t7 file) and
`faceprint.models._openface_csv` (the CSV directory); `load_weights` picks the reader and checks that every
tensor of nn4.small2 was filled.

Alignment: ``alignment="openface"`` (the default) finds dlib's 68 landmarks in the face box and aligns as
OpenFace does (`faceprint.align.affine.openface_align`: landmarks 36, 45, 33 onto its mean face, as
nn4.small2.v1 was trained). The 68-point predictor is under the iBUG 300-W licence (no commercial use);
``alignment="5-point"`` uses the detector's five landmarks and the `openface-96` template instead (a similarity
fit, licence-clean, not what the network was trained on).
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from faceprint.align.affine import openface_align
from faceprint.align.dlib_shapes import shape_points
from faceprint.align.templates import OPENFACE_96
from faceprint.errors import WeightsError
from faceprint.models._openface_csv import csv_parameter_map, csv_state_dict, missing_csv_files
from faceprint.models._spec import ModelSpec
from faceprint.models._torch7 import t7_state_dict
from faceprint.models._weights import WeightSpec, cache_dir
from faceprint.models.torch_embedder import TorchEmbedder
from faceprint.types import Face

if TYPE_CHECKING:
    import torch

    from faceprint.models.nn4_small2 import NN4Small2

__all__ = [
    "ALIGNMENTS",
    "CSV_DIRNAME",
    "MODELS",
    "MODEL_NAME",
    "OPENFACE",
    "OPENFACE_WEIGHTS",
    "OpenFaceEmbedder",
    "OpenFaceWeights",
    "T7_FILENAME",
    "T7_MD5",
    "WEIGHTS_ENV",
    "load_openface",
    "load_weights",
    "md5_file",
    "preprocess",
    "weights_available",
    "weights_status",
]

log = logging.getLogger(__name__)

MODEL_NAME = "openface-nn4.small2-v1"
INPUT_SIZE = 96
WEIGHTS_ENV = "FACEPRINT_OPENFACE_WEIGHTS"
T7_FILENAME = "nn4.small2.v1.t7"
T7_MD5 = "c95bfd8cc1adf05210e979ff623013b6"
CSV_DIRNAME = "openface-nn4.small2.v1-csv"
ALIGNMENTS = ("openface", "5-point")


def md5_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex md5 of a file (OpenFace publishes md5 sums for its models)."""
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


# -- where the weights are -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenFaceWeights(WeightSpec):
    """User-supplied OpenFace weights (a .t7 file or a complete CSV directory); `present` means complete."""

    md5: str = T7_MD5
    env_var: str = WEIGHTS_ENV
    csv_dirname: str = CSV_DIRNAME

    def candidates(self) -> list[Path]:
        """Where weights are looked for: the env var's path alone when it is set, else the cache locations."""
        env = os.environ.get(self.env_var)
        if env:
            return [Path(env).expanduser()]
        root = cache_dir() / "weights"
        return [root / self.filename, root / self.csv_dirname]

    def _problem(self, path: Path) -> str | None:
        """Why `path` is not a usable weight set, or None when it is."""
        if path.is_dir():
            missing = missing_csv_files(path)
            if missing:
                return f"{path} lacks {len(missing)} of {len(csv_parameter_map())} CSV files: {', '.join(missing)}"
            return None
        if path.is_file():
            return None if path.stat().st_size > 0 else f"{path} is empty"
        return f"{path} does not exist"

    def locate(self, verify: bool = False) -> Path:
        """The first complete weight set; WeightsError saying what was looked for and what is wrong.

        With `verify`, a .t7 file must have the md5 of OpenFace's published nn4.small2.v1.t7.
        """
        problems = []
        for path in self.candidates():
            problem = self._problem(path)
            if problem is None:
                if verify and path.is_file() and md5_file(path) != self.md5:
                    raise WeightsError(f"{path}: md5 is not that of OpenFace's {self.filename} ({self.md5})")
                return path
            problems.append(problem)
        raise WeightsError(
            f"no complete OpenFace nn4.small2.v1 weights ({'; '.join(problems)}). Set ${self.env_var} to "
            f"OpenFace's {self.filename} or to a complete Keras-OpenFace CSV directory (nothing is downloaded)"
        )

    def status(self) -> str:
        """One line: where the weights are, or why none are usable."""
        try:
            return f"present: {self.locate()}"
        except WeightsError as e:
            return f"missing: {e}"


OPENFACE_WEIGHTS = OpenFaceWeights(
    filename=T7_FILENAME,
    sha256="",  # OpenFace publishes an md5 only (see `md5`)
    url=None,
    license="Apache-2.0 (OpenFace, CMU); trained on CASIA-WebFace and FaceScrub",
)


def weights_available() -> bool:
    """Whether a complete set of OpenFace weights is supplied (for `models list`): the model is usable."""
    return OPENFACE_WEIGHTS.present()


def weights_status() -> str:
    """`weights_available` with the reason, e.g. which CSV files are missing."""
    return OPENFACE_WEIGHTS.status()


def load_weights(net: NN4Small2, path: str | os.PathLike[str]) -> NN4Small2:
    """Load a .t7 file or a complete CSV directory into `net` (every parameter and running statistic)."""
    import torch

    from faceprint.models.nn4_small2 import state_shapes

    p = Path(path)
    if p.is_dir():
        state = csv_state_dict(p)
    elif p.is_file():
        state = t7_state_dict(p)
        if md5_file(p) != T7_MD5:
            log.warning("%s is not OpenFace's published %s (md5 differs); every layer matched, loading it", p, T7_FILENAME)
    else:
        raise WeightsError(f"{p} does not exist")
    expected = state_shapes()
    if set(state) != set(expected):
        lacking = sorted(set(expected) - set(state))
        raise WeightsError(f"{p}: no weights for {len(lacking)} tensors of nn4.small2: {', '.join(lacking[:8])}")
    tensors = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}
    result = net.load_state_dict(tensors, strict=False)
    unexpected_missing = [k for k in result.missing_keys if not k.endswith("num_batches_tracked")]
    if unexpected_missing or result.unexpected_keys:
        raise WeightsError(f"{p}: state does not fit nn4.small2 ({unexpected_missing}, {result.unexpected_keys})")
    return net


def load_openface(weights: str | os.PathLike[str] | None = None) -> NN4Small2:
    """nn4.small2 with the OpenFace weights (default: `OPENFACE_WEIGHTS.locate()`), in eval mode."""
    from faceprint.models.nn4_small2 import NN4Small2

    path = Path(weights) if weights is not None else OPENFACE_WEIGHTS.locate()
    return load_weights(NN4Small2(), path).eval()


# -- the embedder ------------------------------------------------------------------------------------------------


def preprocess(x: torch.Tensor) -> torch.Tensor:
    """float (N, 96, 96, 3) RGB 0..255 -> (N, 3, 96, 96) in [0, 1], as OpenFace feeds its network."""
    return x.permute(0, 3, 1, 2) / 255.0


class OpenFaceEmbedder(TorchEmbedder):
    """nn4.small2 on OpenFace-aligned 96x96 crops.

    Args:
        spec: the registry record.
        weights: a .t7 file or CSV directory; default `OPENFACE_WEIGHTS.locate()` (WeightsError when none).
        module: an NN4Small2 to use as is instead (e.g. one trained with faceprint); `weights` is then ignored.
        alignment: "openface" (68 landmarks, OpenFace's own) or "5-point" (detector landmarks, `openface-96`).
        backend, device: as in TorchEmbedder.
    """

    def __init__(
        self,
        spec: ModelSpec,
        weights: str | os.PathLike[str] | None = None,
        module: NN4Small2 | None = None,
        alignment: str = "openface",
        backend: str = "torch",
        device: str | None = None,
    ) -> None:
        if alignment not in ALIGNMENTS:
            raise ValueError(f"unknown alignment {alignment!r}; choose one of {', '.join(ALIGNMENTS)}")
        net = module if module is not None else load_openface(weights)
        super().__init__(spec, net, preprocess, backend=backend, device=device)
        self.alignment = alignment

    def shape68(self, image: np.ndarray, face: Face) -> np.ndarray:
        """dlib's 68 landmarks (68, 2) of a detected face (iBUG 300-W model, non-commercial licence)."""
        return shape_points(image, face, "68")

    def align(self, image: np.ndarray, face: Face) -> np.ndarray:
        """The face as OpenFace aligns it (or by its five landmarks with alignment="5-point")."""
        if self.alignment == "5-point":
            return super().align(image, face)
        return openface_align(image, self.shape68(image, face), self.spec.input_size)


OPENFACE = ModelSpec(
    name=MODEL_NAME,
    family="openface",
    input_size=INPUT_SIZE,
    template=OPENFACE_96.name,
    padding=0.0,
    preprocess="RGB in [0, 1], 96x96 OpenFace alignment (dlib 68 landmarks 36, 45, 33 -> mean face, affine)",
    embedding_dim=128,
    metric="euclidean",
    # Not calibrated here (no complete weights): sqrt(0.99), from the squared-L2 threshold of 0.99 usually
    # quoted for OpenFace models. Recalibrate with bench/calibrate.py once weights are supplied.
    threshold=0.995,
    weights=OPENFACE_WEIGHTS,
    builder=lambda spec: OpenFaceEmbedder(spec),
    lfw_accuracy="",
    description="OpenFace nn4.small2.v1 (CMU; 3.7M parameters, 96x96); user-supplied weights ($"
    + WEIGHTS_ENV
    + ")",
)

MODELS = (OPENFACE,)
"""The catalogue entries of this module (faceprint.models._catalogue)."""
