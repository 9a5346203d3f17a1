"""OpenFace nn4.small2.v1 as `openface-nn4.small2-v1`: weight loaders, OpenFace alignment and the registry entry.

Weights are supplied by the user (no package ships them and nothing is downloaded): either OpenFace's Torch7 file
``nn4.small2.v1.t7`` (md5 c95bfd8cc1adf05210e979ff623013b6 in OpenFace's get-models.sh) or a Keras-OpenFace
per-layer CSV directory. They are looked for, in order, at ``$FACEPRINT_OPENFACE_WEIGHTS`` (a .t7 file or a CSV
directory), ``<cache>/weights/nn4.small2.v1.t7`` and ``<cache>/weights/openface-nn4.small2.v1-csv/`` (cache:
``$FACEPRINT_HOME`` or ``~/.cache/faceprint``), or passed as ``OpenFaceEmbedder(spec, weights=PATH)``. Until a
complete set is found the model is listed as unusable (`weights_available`) and building it raises WeightsError;
`NN4Small2()` itself always builds, untrained, for training.

Keras-OpenFace CSV layout (read from its ``utils.load_weights``): every file is one comma-separated row. A
convolution ``<layer>_w.csv`` holds the Torch kernel in Torch's (= PyTorch's) order, out x in x kh x kw, which
Keras-OpenFace reshapes to that shape and transposes to Keras's kh x kw x in x out; we only reshape. ``dense_w``
is Torch's Linear weight, 128 x 736 (= PyTorch's). Batch norm ``_w``/``_b``/``_m``/``_v`` are gamma, beta,
running mean and running variance. The export also holds ``inception_5a_3x3_conv2_m``/``_v``: byte-identical
copies of ``inception_5a_3x3_bn1_m``/``_v`` (a leftover of the export), which load into the same buffers.

Alignment (OpenFace's ``AlignDlib.align`` with ``OUTER_EYES_AND_NOSE``, as nn4.small2.v1 was trained): dlib's
68 landmarks are found in the face box, and the outer eye corners (36, 45) and the base of the nose (33) are
mapped exactly, by an affine transform, onto OpenFace's min-max normalised mean face scaled to 96x96. The
68-point predictor is under the iBUG 300-W licence (no commercial use); ``alignment="5-point"`` uses the
detector's five landmarks and the `openface-96` template instead (a similarity fit, licence-clean, not what the
network was trained on).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from faceprint.align.templates import OPENFACE_96, OPENFACE_OUTER_EYES_AND_NOSE, openface_template_points
from faceprint.errors import WeightsError
from faceprint.models._registry import ModelSpec, register_model
from faceprint.models._weights import WeightSpec, cache_dir
from faceprint.models.torch_embedder import TorchEmbedder
from faceprint.types import Face

if TYPE_CHECKING:
    import torch

    from faceprint.models.nn4_small2 import NN4Small2

__all__ = [
    "ALIGNMENTS",
    "CSV_DIRNAME",
    "CSV_DUPLICATES",
    "MODEL_NAME",
    "OPENFACE",
    "OPENFACE_WEIGHTS",
    "OpenFaceEmbedder",
    "OpenFaceWeights",
    "T7_FILENAME",
    "T7_MD5",
    "WEIGHTS_ENV",
    "csv_parameter_map",
    "csv_state_dict",
    "load_openface",
    "load_weights",
    "md5_file",
    "missing_csv_files",
    "openface_affine",
    "openface_align",
    "preprocess",
    "t7_state_dict",
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

CSV_DUPLICATES: dict[str, str] = {
    "inception_5a_3x3_conv2_m": "inception_5a_3x3_bn1_m",
    "inception_5a_3x3_conv2_v": "inception_5a_3x3_bn1_v",
}
"""Stray files of the Keras-OpenFace export -> the file they duplicate (optional; must agree with it)."""


# -- the Keras-OpenFace CSV directory --------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _reference_shapes() -> dict[str, tuple[int, ...]]:
    """Shape of every parameter and running statistic of nn4.small2, by state-dict key."""
    from faceprint.models.nn4_small2 import NN4Small2

    return {k: tuple(v.shape) for k, v in NN4Small2().state_dict().items() if not k.endswith("num_batches_tracked")}


def _keras_layer_map() -> dict[str, tuple[str, str]]:
    """Keras-OpenFace layer name -> (NN4Small2 module path, kind conv|bn|dense), derived from the module tree."""
    from faceprint.models.nn4_small2 import NN4Small2

    net = NN4Small2()
    out: dict[str, tuple[str, str]] = {}
    for i, stem in enumerate(("conv1", "conv2", "conv3"), start=1):
        out[stem] = (f"{stem}.conv", "conv")
        out[f"bn{i}"] = (f"{stem}.bn", "bn")
    for block_name, block in net.named_children():
        if not block_name.startswith("inception_"):
            continue
        for column in block.columns:  # type: ignore[union-attr]
            prefix = f"{block_name}_{column}"
            path = f"{block_name}.columns.{column}"
            if column == "pool":
                if hasattr(block.columns["pool"], "proj"):  # type: ignore[index]
                    out[f"{prefix}_conv"] = (f"{path}.proj.conv", "conv")
                    out[f"{prefix}_bn"] = (f"{path}.proj.bn", "bn")
            elif column == "1x1":
                out[f"{prefix}_conv"] = (f"{path}.conv", "conv")
                out[f"{prefix}_bn"] = (f"{path}.bn", "bn")
            else:  # k x k: 1x1 reduce, then the k x k convolution
                out[f"{prefix}_conv1"] = (f"{path}.reduce.conv", "conv")
                out[f"{prefix}_bn1"] = (f"{path}.reduce.bn", "bn")
                out[f"{prefix}_conv2"] = (f"{path}.conv.conv", "conv")
                out[f"{prefix}_bn2"] = (f"{path}.conv.bn", "bn")
    out["dense"] = ("linear", "dense")
    return out


_SUFFIXES = {
    "conv": {"w": "weight", "b": "bias"},
    "dense": {"w": "weight", "b": "bias"},
    "bn": {"w": "weight", "b": "bias", "m": "running_mean", "v": "running_var"},
}


@lru_cache(maxsize=1)
def csv_parameter_map() -> dict[str, str]:
    """Every file stem the complete Keras-OpenFace export holds ("conv1_w") -> NN4Small2 state-dict key.

    224 files: 37 convolutions (weight, bias), 37 batch norms (4 each), the dense layer (2). The duplicates in
    `CSV_DUPLICATES` are not listed.
    """
    out: dict[str, str] = {}
    for layer, (path, kind) in _keras_layer_map().items():
        for suffix, attr in _SUFFIXES[kind].items():
            out[f"{layer}_{suffix}"] = f"{path}.{attr}"
    return out


def missing_csv_files(directory: str | os.PathLike[str]) -> list[str]:
    """File names (``<stem>.csv``) of the complete export that are not in `directory`, sorted."""
    d = Path(directory)
    return sorted(f"{stem}.csv" for stem in csv_parameter_map() if not (d / f"{stem}.csv").is_file())


def _read_csv(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    """One CSV file as float32 of `shape` (row-major); WeightsError when the count or the text is wrong."""
    n = int(np.prod(shape))
    text = path.read_text()
    try:
        values = np.array([v for v in text.replace("\n", ",").split(",") if v.strip()], dtype=np.float64)
    except ValueError as e:
        raise WeightsError(f"{path}: not a comma-separated list of numbers ({e})") from None
    if values.size != n:
        raise WeightsError(f"{path}: {values.size} values, but the layer needs {n} for shape {shape}")
    return values.astype(np.float32).reshape(shape)


def csv_state_dict(directory: str | os.PathLike[str], allow_missing: bool = False) -> dict[str, np.ndarray]:
    """Read a Keras-OpenFace CSV directory into NN4Small2 state-dict arrays, checking every file's size.

    Every ``*.csv`` in the directory must be a file of the export (else WeightsError naming the strangers), and
    each must hold exactly as many values as its parameter. Missing files raise WeightsError naming all of them,
    unless `allow_missing` (then only the files present are returned: for checking a partial export).
    """
    d = Path(directory)
    if not d.is_dir():
        raise WeightsError(f"{d} is not a directory of Keras-OpenFace CSV weights")
    mapping, shapes = csv_parameter_map(), _reference_shapes()
    present = {p.stem: p for p in d.glob("*.csv")}
    strangers = sorted(s for s in present if s not in mapping and s not in CSV_DUPLICATES)
    if strangers:
        raise WeightsError(
            f"{d}: {len(strangers)} CSV file(s) belong to no layer of nn4.small2: "
            + ", ".join(f"{s}.csv" for s in strangers)
        )
    missing = missing_csv_files(d)
    if missing and not allow_missing:
        raise WeightsError(
            f"Keras-OpenFace weights in {d} are incomplete: {len(missing)} of {len(mapping)} files are missing: "
            + ", ".join(missing)
            + ". nn4.small2 needs every layer; supply the complete export or OpenFace's nn4.small2.v1.t7"
        )
    state: dict[str, np.ndarray] = {}
    for stem, key in mapping.items():
        if stem in present:
            state[key] = _read_csv(present[stem], shapes[key])
    for stem, original in CSV_DUPLICATES.items():
        if stem in present:
            key = mapping[original]
            copy = _read_csv(present[stem], shapes[key])
            if key in state and not np.array_equal(copy, state[key]):
                raise WeightsError(f"{present[stem]} should duplicate {original}.csv but differs from it")
            state.setdefault(key, copy)
    return state


# -- the Torch7 file ---------------------------------------------------------------------------------------------

_T7_KINDS = {
    "nn.SpatialConvolution": "conv",
    "nn.SpatialConvolutionMM": "conv",
    "cudnn.SpatialConvolution": "conv",
    "nn.SpatialBatchNormalization": "bn",
    "cudnn.SpatialBatchNormalization": "bn",
    "nn.Linear": "linear",
}


def _typename(obj: Any) -> str:
    name = obj.torch_typename() if hasattr(obj, "torch_typename") else type(obj).__name__
    return name.decode() if isinstance(name, bytes) else str(name)


def _field(obj: Any, key: str) -> Any:
    """A field of a torchfile TorchObject or table (keys are bytes unless strings were decoded); None when absent.

    torchfile turns an empty Lua table into an empty list, so a module without fields holds a list.
    """
    table = getattr(obj, "_obj", obj)
    if not isinstance(table, dict):
        return None
    return table[key] if key in table else table.get(key.encode())


def _children(obj: Any) -> list[Any]:
    """Sub-modules of a Torch container in order (`modules` list, or a decorator's single `module`)."""
    mods = _field(obj, "modules")
    if mods is None:
        single = _field(obj, "module")
        return [] if single is None else [single]
    if isinstance(mods, dict):  # a table the list heuristic did not turn into a list
        return [mods[k] for k in sorted(mods)]
    return list(mods)


def _t7_layers(obj: Any, path: str = "") -> Iterator[tuple[str, str, Any]]:
    """(kind, tree path, module) of every conv, batch norm and linear layer, depth first in module order."""
    name = _typename(obj)
    here = f"{path}/{name}"
    kind = _T7_KINDS.get(name)
    if kind is not None:
        yield kind, here, obj
        return
    if _field(obj, "weight") is not None:
        raise WeightsError(f"{here}: a layer with weights that nn4.small2 does not have")
    for i, child in enumerate(_children(obj)):
        yield from _t7_layers(child, f"{here}[{i}]")


def _array(value: Any, what: str) -> np.ndarray:
    if value is None:
        raise WeightsError(f"{what} is missing")
    return np.ascontiguousarray(np.asarray(value, dtype=np.float32))


def _t7_conv(obj: Any, where: str, conv: Any) -> dict[str, np.ndarray]:
    out_ch, in_ch = conv.out_channels, conv.in_channels
    kh, kw = conv.kernel_size
    geometry = {
        "nOutputPlane": out_ch,
        "nInputPlane": in_ch,
        "kH": kh,
        "kW": kw,
        "dH": conv.stride[0],
        "dW": conv.stride[1],
        "padH": conv.padding[0],
        "padW": conv.padding[1],
    }
    for key, want in geometry.items():
        got = _field(obj, key)
        if got is None and key in ("padH", "padW"):
            got = _field(obj, "padding") or 0  # nn before 2015 had one `padding`
        if got is not None and int(got) != int(want):
            raise WeightsError(f"{where}: {key} = {got}, nn4.small2 has {want} here")
    w = _array(_field(obj, "weight"), f"{where} weight")
    if w.size != out_ch * in_ch * kh * kw or w.shape[0] != out_ch:
        raise WeightsError(f"{where}: weight of shape {w.shape}, nn4.small2 needs ({out_ch}, {in_ch}, {kh}, {kw})")
    bias = _field(obj, "bias")
    b = _array(bias, f"{where} bias") if bias is not None else np.zeros(out_ch, np.float32)
    if b.shape != (out_ch,):
        raise WeightsError(f"{where}: bias of shape {b.shape}, nn4.small2 needs ({out_ch},)")
    # SpatialConvolutionMM stores (out, in*kh*kw) in old nn versions: same memory order as (out, in, kh, kw).
    return {"weight": w.reshape(out_ch, in_ch, kh, kw), "bias": b}


def _t7_bn(obj: Any, where: str, bn: Any) -> dict[str, np.ndarray]:
    n = bn.num_features
    mean = _array(_field(obj, "running_mean"), f"{where} running_mean")
    eps = float(_field(obj, "eps") or 1e-5)
    if _field(obj, "running_var") is not None:
        var = _array(_field(obj, "running_var"), f"{where} running_var")
    elif _field(obj, "running_std") is not None:  # nn before 2016 stored 1 / sqrt(var + eps)
        std = _array(_field(obj, "running_std"), f"{where} running_std").astype(np.float64)
        var = (1.0 / np.square(std) - eps).astype(np.float32)
    else:
        raise WeightsError(f"{where}: neither running_var nor running_std")
    var = (var.astype(np.float64) + eps - bn.eps).astype(np.float32)  # same denominator under our eps
    weight, bias = _field(obj, "weight"), _field(obj, "bias")
    out = {
        "weight": _array(weight, f"{where} weight") if weight is not None else np.ones(n, np.float32),
        "bias": _array(bias, f"{where} bias") if bias is not None else np.zeros(n, np.float32),
        "running_mean": mean,
        "running_var": var,
    }
    for k, v in out.items():
        if v.shape != (n,):
            raise WeightsError(f"{where}: {k} of shape {v.shape}, nn4.small2 needs ({n},)")
    return out


def _t7_linear(obj: Any, where: str, linear: Any) -> dict[str, np.ndarray]:
    w = _array(_field(obj, "weight"), f"{where} weight")
    b = _array(_field(obj, "bias"), f"{where} bias")
    want = (linear.out_features, linear.in_features)
    if w.shape != want or b.shape != (want[0],):
        raise WeightsError(f"{where}: weight {w.shape} and bias {b.shape}, nn4.small2 needs {want} and ({want[0]},)")
    return {"weight": w, "bias": b}


def t7_state_dict(source: str | os.PathLike[str] | Any) -> dict[str, np.ndarray]:
    """Map an OpenFace Torch7 model (a .t7 path, or the object torchfile.load returned) onto NN4Small2.

    The Torch module tree is walked depth first; its convolution, batch-norm and linear layers must match
    NN4Small2's one for one, in order, kind, geometry (kernel, stride, padding) and shape.
    """
    import torch.nn as nn

    from faceprint.models.nn4_small2 import NN4Small2

    if isinstance(source, (str, os.PathLike)):
        obj = _load_t7(Path(source))
    else:
        obj = source
    layers = list(_t7_layers(obj))
    targets = list(NN4Small2().parameter_layers())
    if len(layers) != len(targets):
        raise WeightsError(
            f"the Torch model has {len(layers)} conv/batch-norm/linear layers, nn4.small2 has {len(targets)}"
        )
    state: dict[str, np.ndarray] = {}
    for (kind, where, obj_layer), (name, module) in zip(layers, targets):
        if isinstance(module, nn.Conv2d) and kind == "conv":
            params = _t7_conv(obj_layer, where, module)
        elif isinstance(module, nn.BatchNorm2d) and kind == "bn":
            params = _t7_bn(obj_layer, where, module)
        elif isinstance(module, nn.Linear) and kind == "linear":
            params = _t7_linear(obj_layer, where, module)
        else:
            raise WeightsError(f"{where}: a {kind} layer where nn4.small2 has {type(module).__name__} ({name})")
        state.update({f"{name}.{k}": v for k, v in params.items()})
    return state


def _load_t7(path: Path) -> Any:
    try:
        import torchfile
    except ImportError as e:  # pragma: no cover - depends on the environment
        from faceprint.errors import MissingExtra

        raise MissingExtra("torchfile", "torch") from e
    try:
        return torchfile.load(str(path))
    except Exception as e:  # torchfile raises bare struct/Value errors on corrupt files
        raise WeightsError(f"{path}: not a readable Torch7 file ({type(e).__name__}: {e})") from None


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

    p = Path(path)
    if p.is_dir():
        state = csv_state_dict(p)
    elif p.is_file():
        state = t7_state_dict(p)
        if md5_file(p) != T7_MD5:
            log.warning("%s is not OpenFace's published %s (md5 differs); every layer matched, loading it", p, T7_FILENAME)
    else:
        raise WeightsError(f"{p} does not exist")
    expected = _reference_shapes()
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


# -- alignment and the embedder ---------------------------------------------------------------------------------


def openface_affine(shape68: np.ndarray, size: int = INPUT_SIZE) -> np.ndarray:
    """OpenFace's 2x3 affine matrix: 68-point landmarks 36, 45, 33 exactly onto its mean face at size x size."""
    pts = np.asarray(shape68, dtype=np.float64).reshape(68, 2)
    idx = list(OPENFACE_OUTER_EYES_AND_NOSE)
    src = pts[idx].astype(np.float32)
    dst = openface_template_points(OPENFACE_OUTER_EYES_AND_NOSE, size).astype(np.float32)
    (ax, ay), (bx, by) = src[1] - src[0], src[2] - src[0]
    if abs(float(ax * by - ay * bx)) < 1e-6:
        raise ValueError("the eye corners and the nose are collinear: cannot align")
    return cv2.getAffineTransform(src, dst)


def openface_align(image: np.ndarray, shape68: np.ndarray, size: int = INPUT_SIZE) -> np.ndarray:
    """OpenFace's aligned face (size x size x 3 uint8) from an RGB image and the face's 68 dlib landmarks."""
    return cv2.warpAffine(image, openface_affine(shape68, size), (size, size), flags=cv2.INTER_LINEAR)


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
        self._landmarker: Any = None

    def shape68(self, image: np.ndarray, face: Face) -> np.ndarray:
        """dlib's 68 landmarks (68, 2) of a detected face (iBUG 300-W model, non-commercial licence)."""
        if self._landmarker is None:
            from faceprint.detect.dlib_hog import DlibHOGDetector

            self._landmarker = DlibHOGDetector(landmarks="68")
        return self._landmarker.shape68(image, face)

    def align(self, image: np.ndarray, face: Face) -> np.ndarray:
        """The face as OpenFace aligns it (or by its five landmarks with alignment="5-point")."""
        if self.alignment == "5-point":
            return super().align(image, face)
        return openface_align(image, self.shape68(image, face), self.spec.input_size)


OPENFACE = register_model(
    ModelSpec(
        name=MODEL_NAME,
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
)
