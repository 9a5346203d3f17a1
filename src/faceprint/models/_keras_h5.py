"""facenet's Keras 2 HDF5 model file (``facenet_keras.h5``) read into a state_dict for `InceptionResnetV1`.

The file is read with h5py (the ``facenet`` extra; no TensorFlow). Every Keras layer that holds weights is mapped
onto one module of the network by `keras_layer_map`, its configuration checked against that module, and every
array checked for shape after the layout change, so a file of another network fails with the layer's name.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from faceprint.errors import WeightsError
from faceprint.models.inception_resnet_v1 import BatchNorm1dNoScale, BatchNorm2dNoScale, InceptionResnetV1, TFConv2d

__all__ = ["keras_h5_state_dict", "keras_layer_map"]


def _conv_units(prefix: str, names: list[str]) -> dict[str, str]:
    """Keras conv+BN layers of one block, by Keras suffix, -> torch BasicConv2d paths under `prefix`."""
    return {k: f"{prefix}.{t}" for k, t in zip(names[::2], names[1::2])}


_BLOCK35 = [
    "Branch_0_Conv2d_1x1", "branch0",
    "Branch_1_Conv2d_0a_1x1", "branch1.0", "Branch_1_Conv2d_0b_3x3", "branch1.1",
    "Branch_2_Conv2d_0a_1x1", "branch2.0", "Branch_2_Conv2d_0b_3x3", "branch2.1", "Branch_2_Conv2d_0c_3x3", "branch2.2",
]  # fmt: skip
_BLOCK17 = [
    "Branch_0_Conv2d_1x1", "branch0",
    "Branch_1_Conv2d_0a_1x1", "branch1.0", "Branch_1_Conv2d_0b_1x7", "branch1.1", "Branch_1_Conv2d_0c_7x1", "branch1.2",
]  # fmt: skip
_BLOCK8 = [
    "Branch_0_Conv2d_1x1", "branch0",
    "Branch_1_Conv2d_0a_1x1", "branch1.0", "Branch_1_Conv2d_0b_1x3", "branch1.1", "Branch_1_Conv2d_0c_3x1", "branch1.2",
]  # fmt: skip
_MIXED_6A = [
    "Branch_0_Conv2d_1a_3x3", "branch0",
    "Branch_1_Conv2d_0a_1x1", "branch1.0", "Branch_1_Conv2d_0b_3x3", "branch1.1", "Branch_1_Conv2d_1a_3x3", "branch1.2",
]  # fmt: skip
_MIXED_7A = [
    "Branch_0_Conv2d_0a_1x1", "branch0.0", "Branch_0_Conv2d_1a_3x3", "branch0.1",
    "Branch_1_Conv2d_0a_1x1", "branch1.0", "Branch_1_Conv2d_1a_3x3", "branch1.1",
    "Branch_2_Conv2d_0a_1x1", "branch2.0", "Branch_2_Conv2d_0b_3x3", "branch2.1", "Branch_2_Conv2d_1a_3x3", "branch2.2",
]  # fmt: skip


def keras_layer_map() -> dict[str, tuple[str, str]]:
    """Every Keras layer that holds weights -> (torch module path, kind), kind one of conv, bn, dense.

    A conv+BN unit ``X`` of facenet is the Keras layers ``X`` (conv kernel) and ``X_BatchNorm``; the residual
    up-projections ``Block*_N_Conv2d_1x1`` are convolutions with bias and no batch norm.
    """
    units: dict[str, str] = {
        "Conv2d_1a_3x3": "conv2d_1a",
        "Conv2d_2a_3x3": "conv2d_2a",
        "Conv2d_2b_3x3": "conv2d_2b",
        "Conv2d_3b_1x1": "conv2d_3b",
        "Conv2d_4a_3x3": "conv2d_4a",
        "Conv2d_4b_3x3": "conv2d_4b",
    }
    plain: dict[str, str] = {}  # residual up-projection convs, with bias
    blocks = [("Block35", "repeat_1", 5, _BLOCK35), ("Block17", "repeat_2", 10, _BLOCK17), ("Block8", "repeat_3", 5, _BLOCK8)]
    for kname, tname, count, table in blocks:
        for i in range(1, count + 1):
            prefix = f"{tname}.{i - 1}"
            for k, t in _conv_units(prefix, table).items():
                units[f"{kname}_{i}_{k}"] = t
            plain[f"{kname}_{i}_Conv2d_1x1"] = f"{prefix}.conv2d"
    for k, t in _conv_units("block8", _BLOCK8).items():  # the sixth Block8, without activation
        units[f"Block8_6_{k}"] = t
    plain["Block8_6_Conv2d_1x1"] = "block8.conv2d"
    for k, t in _conv_units("mixed_6a", _MIXED_6A).items():
        units[f"Mixed_6a_{k}"] = t
    for k, t in _conv_units("mixed_7a", _MIXED_7A).items():
        units[f"Mixed_7a_{k}"] = t

    out: dict[str, tuple[str, str]] = {}
    for k, t in units.items():
        out[k] = (f"{t}.conv", "conv")
        out[f"{k}_BatchNorm"] = (f"{t}.bn", "bn")
    for k, t in plain.items():
        out[k] = (t, "conv")
    out["Bottleneck"] = ("last_linear", "dense")
    out["Bottleneck_BatchNorm"] = ("last_bn", "bn")
    return out


# Keras weight name (after "layer/") -> torch parameter or buffer name, per kind; transposes are applied below.
_KERAS_TO_TORCH: dict[str, dict[str, str]] = {
    "conv": {"kernel:0": "weight", "bias:0": "bias"},
    "dense": {"kernel:0": "weight"},
    "bn": {"beta:0": "bias", "moving_mean:0": "running_mean", "moving_variance:0": "running_var"},
}


def _h5_layers(path: str | os.PathLike[str]) -> Iterator[tuple[str, dict[str, Any], dict[str, np.ndarray]]]:
    """(layer name, Keras layer config, {weight name: array}) for every layer of a Keras 2 HDF5 model file."""
    try:
        import h5py
    except ImportError as e:  # pragma: no cover - depends on the environment
        from faceprint.errors import MissingExtra

        raise MissingExtra("h5py", "facenet") from e
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise WeightsError(f"{path}: not a readable HDF5 file ({e})") from e
    with f:
        group = f["model_weights"] if "model_weights" in f else f
        raw = f.attrs.get("model_config")
        if raw is None:
            raise WeightsError(f"{path}: no model_config attribute; not a whole Keras model file")
        config = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        layer_cfg = {layer["name"]: layer for layer in config["config"]["layers"]}
        for name in (n.decode() if isinstance(n, bytes) else str(n) for n in group.attrs["layer_names"]):
            g = group[name]
            weights = {}
            for wname in (w.decode() if isinstance(w, bytes) else str(w) for w in g.attrs["weight_names"]):
                short = wname.split("/", 1)[1] if wname.startswith(name + "/") else wname
                weights[short] = np.asarray(g[wname], dtype=np.float32)
            yield name, layer_cfg.get(name, {"class_name": "?", "config": {}}), weights


def _check_config(layer: str, kind: str, cfg: dict[str, Any], module: nn.Module) -> None:
    """The Keras layer's hyper-parameters must be the ones the torch module was built with."""
    c = cfg.get("config", {})
    cls = cfg.get("class_name")
    if kind == "conv":
        if cls != "Conv2D" or not isinstance(module, TFConv2d):
            raise WeightsError(f"Keras layer {layer}: {cls} does not map onto a convolution")
        want = {
            "kernel_size": list(module.kernel_size),
            "strides": list(module.stride),
            "padding": module.tf_padding,
            "use_bias": module.bias is not None,
            "dilation_rate": [1, 1],
            "activation": "linear",
        }
        got = {k: c.get(k) for k in want}
        if got != want:
            raise WeightsError(f"Keras layer {layer}: config {got} does not match the network's {want}")
    elif kind == "bn":
        if cls != "BatchNormalization" or not isinstance(module, (BatchNorm2dNoScale, BatchNorm1dNoScale)):
            raise WeightsError(f"Keras layer {layer}: {cls} does not map onto a batch norm")
        if c.get("scale", True) or not c.get("center", False):
            raise WeightsError(f"Keras layer {layer}: expected batch norm with center=True, scale=False, got {c}")
        momentum = module.momentum if module.momentum is not None else -1.0  # (None: a cumulative average)
        if not math.isclose(c.get("epsilon", -1), module.eps) or not math.isclose(1.0 - c.get("momentum", -1), momentum):
            raise WeightsError(f"Keras layer {layer}: epsilon/momentum {c.get('epsilon')}/{c.get('momentum')} differ from the network's")
    elif kind == "dense":
        if cls != "Dense" or not isinstance(module, nn.Linear) or c.get("use_bias") != (module.bias is not None):
            raise WeightsError(f"Keras layer {layer}: {cls} {c} does not map onto the bottleneck Linear")


def keras_h5_state_dict(path: str | os.PathLike[str], net: InceptionResnetV1 | None = None) -> dict[str, torch.Tensor]:
    """Read ``facenet_keras.h5`` with h5py (no TensorFlow) into a complete state_dict for `InceptionResnetV1`.

    Each Keras layer is mapped by `keras_layer_map`, its config (kernel size, strides, padding, bias, batch-norm
    epsilon/momentum/scale) checked against the torch module, and every array checked for shape after the
    layout change: conv kernels HWIO -> OIHW, Dense kernels (in, out) -> Linear (out, in).

    Raises:
        WeightsError: naming the layer, for a Keras weight that maps onto nothing, a shape or config mismatch, or
            a torch parameter/buffer the file does not fill.
    """
    net = net if net is not None else InceptionResnetV1()
    modules = dict(net.named_modules())
    target = net.state_dict()
    mapping = keras_layer_map()
    out: dict[str, torch.Tensor] = {}
    for layer, cfg, weights in _h5_layers(path):
        if not weights:
            continue
        if layer not in mapping:
            raise WeightsError(f"Keras layer {layer} ({', '.join(weights)}) maps onto no module of the network")
        tpath, kind = mapping[layer]
        _check_config(layer, kind, cfg, modules[tpath])
        names = _KERAS_TO_TORCH[kind]
        for wname, arr in weights.items():
            if wname not in names:
                raise WeightsError(f"Keras weight {layer}/{wname} maps onto no parameter of {tpath}")
            key = f"{tpath}.{names[wname]}"
            if kind == "conv" and wname == "kernel:0":
                arr = arr.transpose(3, 2, 0, 1)  # HWIO -> OIHW
            elif kind == "dense" and wname == "kernel:0":
                arr = arr.T  # (in, out) -> (out, in)
            want = tuple(target[key].shape)
            if arr.shape != want:
                raise WeightsError(f"Keras weight {layer}/{wname}: shape {arr.shape} after transpose, {key} needs {want}")
            if key in out:
                raise WeightsError(f"Keras weight {layer}/{wname}: {key} is filled twice")
            out[key] = torch.from_numpy(np.ascontiguousarray(arr))
    missing = [k for k in target if k not in out and not k.endswith("num_batches_tracked")]
    if missing:
        raise WeightsError(f"{Path(path).name} does not fill {len(missing)} network tensors, first {missing[0]}")
    for k in target:
        if k.endswith("num_batches_tracked"):
            out[k] = torch.zeros((), dtype=torch.long)
    return out
