"""The Keras-OpenFace per-layer CSV export of OpenFace nn4.small2.v1, read into NN4Small2 state-dict arrays.

Keras-OpenFace CSV layout (read from its ``utils.load_weights``): every file is one comma-separated row. A
convolution ``<layer>_w.csv`` holds the Torch kernel in Torch's (= PyTorch's) order, out x in x kh x kw, which
Keras-OpenFace reshapes to that shape and transposes to Keras's kh x kw x in x out; we only reshape. ``dense_w``
is Torch's Linear weight, 128 x 736 (= PyTorch's). Batch norm ``_w``/``_b``/``_m``/``_v`` are gamma, beta,
running mean and running variance. The export also holds ``inception_5a_3x3_conv2_m``/``_v``: byte-identical
copies of ``inception_5a_3x3_bn1_m``/``_v`` (a leftover of the export), which load into the same buffers.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from faceprint.errors import WeightsError

__all__ = ["CSV_DUPLICATES", "csv_parameter_map", "csv_state_dict", "missing_csv_files"]

CSV_DUPLICATES: dict[str, str] = {
    "inception_5a_3x3_conv2_m": "inception_5a_3x3_bn1_m",
    "inception_5a_3x3_conv2_v": "inception_5a_3x3_bn1_v",
}
"""Stray files of the Keras-OpenFace export -> the file they duplicate (optional; must agree with it)."""


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
    from faceprint.models.nn4_small2 import state_shapes

    d = Path(directory)
    if not d.is_dir():
        raise WeightsError(f"{d} is not a directory of Keras-OpenFace CSV weights")
    mapping, shapes = csv_parameter_map(), state_shapes()
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
