"""The FaceNet Inception-ResNet-v1 network in PyTorch, and the mapping of its Keras HDF5 weights onto it.

Architecture (Szegedy et al. 2016, as trained by David Sandberg's facenet, model 20170512-110547, and exported
to Keras 2.1 by nyoki-mtk/keras-facenet as ``facenet_keras.h5``), for a 160x160 RGB input:

* per-image standardisation (facenet's ``prewhiten``): ``(x - mean) / max(std, 1/sqrt(n))`` over all
  ``n = 3*160*160`` values of each image, population std;
* stem: 3x3/2 conv 32 (valid) -> 3x3 conv 32 (valid) -> 3x3 conv 64 (same) -> 3x3/2 max pool -> 1x1 conv 80
  -> 3x3 conv 192 (valid) -> 3x3/2 conv 256 (valid): 17x17x256;
* 5x Block35 (scale 0.17), Mixed_6a (reduction A): 8x8x896;
* 10x Block17 (scale 0.10), Mixed_7a (reduction B): 3x3x1792;
* 5x Block8 (scale 0.20) and a final Block8 with scale 1.0 and no activation;
* global average pool, dropout (p 0.2, inactive at inference), 128-d Linear without bias, BatchNorm1d;
* the Keras model ends there; `InceptionResnetV1` L2-normalises the 128-d output.

The network takes standardised input; `prewhiten` is applied outside it (faceprint.models.facenet.preprocess),
so that training code and the embedder share one preprocessing function.

Every convolution except the up-projections of the residual blocks has no bias and is followed by batch norm
without a learned scale (Keras ``scale=False``: only beta, moving mean and moving variance are stored), with
``epsilon=0.001`` and Keras ``momentum=0.995`` (PyTorch momentum 0.005), then ReLU.

Padding: Keras ``valid`` is no padding. Keras/TensorFlow ``same`` pads ``max(k - s, 0)`` (stride-1) or
``max((ceil(n/s) - 1) * s + k - n, 0)`` pixels in total, the smaller half before (top/left) and the larger after
(bottom/right). In this network every ``same`` convolution has stride 1 and an odd kernel, so the padding is
symmetric and is done by the convolution itself; `TFConv2d` still handles the general, asymmetric case with an
explicit ``F.pad``.

Module names follow facenet-pytorch (``conv2d_1a``, ``repeat_1``, ``mixed_6a``, ``block8``, ``last_linear``,
``last_bn``), which follows facenet's TensorFlow scopes; `keras_layer_map` lists which Keras layer fills which
module.
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
import torch.nn.functional as F
from torch import nn

from faceprint.errors import WeightsError

__all__ = [
    "BN_EPS",
    "BN_MOMENTUM",
    "INPUT_SIZE",
    "EMBEDDING_DIM",
    "InceptionResnetV1",
    "TFConv2d",
    "keras_layer_map",
    "keras_h5_state_dict",
    "prewhiten",
    "tf_same_padding",
]

INPUT_SIZE = 160
EMBEDDING_DIM = 128
BN_EPS = 1e-3
BN_MOMENTUM = 1.0 - 0.995
"""PyTorch's momentum is the weight of the new batch statistic; Keras's 0.995 is the weight of the old one."""


def prewhiten(x: torch.Tensor) -> torch.Tensor:
    """facenet's per-image standardisation of a (N, ...) batch: zero mean, unit std, std floored at 1/sqrt(n).

    Works on any layout (NCHW or NHWC): the statistics are over all values of each image.
    """
    flat = x.reshape(x.shape[0], -1)
    n = flat.shape[1]
    mean = flat.mean(dim=1, keepdim=True)
    std = flat.std(dim=1, unbiased=False, keepdim=True).clamp(min=1.0 / math.sqrt(n))
    return ((flat - mean) / std).reshape(x.shape)


def tf_same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """(before, after) padding of TensorFlow's 'same' mode along one axis: the larger half goes after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class TFConv2d(nn.Conv2d):
    """nn.Conv2d with Keras padding semantics: padding='valid' or 'same' (TensorFlow's, asymmetric if need be)."""

    def __init__(
        self, in_ch: int, out_ch: int, kernel_size: int | tuple[int, int], stride: int = 1, padding: str = "valid", bias: bool = False
    ) -> None:
        kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        if padding not in ("valid", "same"):
            raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
        # stride 1 with an odd kernel: TF's 'same' is symmetric, the convolution pads by itself
        self.symmetric = padding == "valid" or (stride == 1 and kh % 2 == 1 and kw % 2 == 1)
        pad = (0, 0) if padding == "valid" or not self.symmetric else (kh // 2, kw // 2)
        super().__init__(in_ch, out_ch, (kh, kw), stride=stride, padding=pad, bias=bias)
        self.tf_padding = padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.symmetric:
            top, bottom = tf_same_padding(x.shape[-2], self.kernel_size[0], self.stride[0])
            left, right = tf_same_padding(x.shape[-1], self.kernel_size[1], self.stride[1])
            x = F.pad(x, (left, right, top, bottom))
        return super().forward(x)


class _NoScaleBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm with a learned shift (beta) but no learned scale (Keras scale=False): gamma is fixed at 1."""

    def __init__(self, num_features: int) -> None:
        super().__init__(num_features, eps=BN_EPS, momentum=BN_MOMENTUM, affine=False)
        self.bias = nn.Parameter(torch.zeros(num_features))


class BatchNorm2dNoScale(_NoScaleBatchNorm):
    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() != 4:
            raise ValueError(f"expected 4D input (got {input.dim()}D input)")


class BatchNorm1dNoScale(_NoScaleBatchNorm):
    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() != 2:
            raise ValueError(f"expected 2D input (got {input.dim()}D input)")


class BasicConv2d(nn.Module):
    """Conv (no bias) -> batch norm without scale -> ReLU: facenet's slim.conv2d with batch_norm."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int | tuple[int, int], stride: int = 1, padding: str = "same") -> None:
        super().__init__()
        self.conv = TFConv2d(in_ch, out_ch, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = BatchNorm2dNoScale(out_ch)
        self.relu = nn.ReLU(inplace=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


class Block35(nn.Module):
    """Inception-ResNet-A on the 17x17x256 grid."""

    def __init__(self, scale: float = 0.17) -> None:
        super().__init__()
        self.scale = scale
        self.branch0 = BasicConv2d(256, 32, 1)
        self.branch1 = nn.Sequential(BasicConv2d(256, 32, 1), BasicConv2d(32, 32, 3))
        self.branch2 = nn.Sequential(BasicConv2d(256, 32, 1), BasicConv2d(32, 32, 3), BasicConv2d(32, 32, 3))
        self.conv2d = TFConv2d(96, 256, 1, padding="same", bias=True)
        self.relu = nn.ReLU(inplace=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        up = self.conv2d(torch.cat((self.branch0(x), self.branch1(x), self.branch2(x)), 1))
        return self.relu(x + self.scale * up)


class Block17(nn.Module):
    """Inception-ResNet-B on the 8x8x896 grid."""

    def __init__(self, scale: float = 0.10) -> None:
        super().__init__()
        self.scale = scale
        self.branch0 = BasicConv2d(896, 128, 1)
        self.branch1 = nn.Sequential(BasicConv2d(896, 128, 1), BasicConv2d(128, 128, (1, 7)), BasicConv2d(128, 128, (7, 1)))
        self.conv2d = TFConv2d(256, 896, 1, padding="same", bias=True)
        self.relu = nn.ReLU(inplace=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        up = self.conv2d(torch.cat((self.branch0(x), self.branch1(x)), 1))
        return self.relu(x + self.scale * up)


class Block8(nn.Module):
    """Inception-ResNet-C on the 3x3x1792 grid; the last one has scale 1.0 and no ReLU."""

    def __init__(self, scale: float = 0.20, activation: bool = True) -> None:
        super().__init__()
        self.scale = scale
        self.activation = activation
        self.branch0 = BasicConv2d(1792, 192, 1)
        self.branch1 = nn.Sequential(BasicConv2d(1792, 192, 1), BasicConv2d(192, 192, (1, 3)), BasicConv2d(192, 192, (3, 1)))
        self.conv2d = TFConv2d(384, 1792, 1, padding="same", bias=True)
        self.relu = nn.ReLU(inplace=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        up = self.conv2d(torch.cat((self.branch0(x), self.branch1(x)), 1))
        out = x + self.scale * up
        return self.relu(out) if self.activation else out


class Mixed6a(nn.Module):
    """Reduction A: 17x17x256 -> 8x8x896."""

    def __init__(self) -> None:
        super().__init__()
        self.branch0 = BasicConv2d(256, 384, 3, stride=2, padding="valid")
        self.branch1 = nn.Sequential(
            BasicConv2d(256, 192, 1), BasicConv2d(192, 192, 3), BasicConv2d(192, 256, 3, stride=2, padding="valid")
        )
        self.branch2 = nn.MaxPool2d(3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.branch0(x), self.branch1(x), self.branch2(x)), 1)


class Mixed7a(nn.Module):
    """Reduction B: 8x8x896 -> 3x3x1792."""

    def __init__(self) -> None:
        super().__init__()
        self.branch0 = nn.Sequential(BasicConv2d(896, 256, 1), BasicConv2d(256, 384, 3, stride=2, padding="valid"))
        self.branch1 = nn.Sequential(BasicConv2d(896, 256, 1), BasicConv2d(256, 256, 3, stride=2, padding="valid"))
        self.branch2 = nn.Sequential(
            BasicConv2d(896, 256, 1), BasicConv2d(256, 256, 3), BasicConv2d(256, 256, 3, stride=2, padding="valid")
        )
        self.branch3 = nn.MaxPool2d(3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x)), 1)


class InceptionResnetV1(nn.Module):
    """FaceNet Inception-ResNet-v1: (N, 3, 160, 160) standardised RGB in (see `prewhiten`), (N, 128) out.

    Args:
        normalize: L2-normalise the output (the Keras model stops at the bottleneck batch norm).
        dropout: dropout probability before the bottleneck (only active in training mode).

    >>> net = InceptionResnetV1().eval()
    >>> net(prewhiten(torch.rand(2, 3, 160, 160))).shape
    torch.Size([2, 128])
    """

    def __init__(self, normalize: bool = True, dropout: float = 0.2) -> None:
        super().__init__()
        self.normalize = normalize
        self.conv2d_1a = BasicConv2d(3, 32, 3, stride=2, padding="valid")
        self.conv2d_2a = BasicConv2d(32, 32, 3, padding="valid")
        self.conv2d_2b = BasicConv2d(32, 64, 3, padding="same")
        self.maxpool_3a = nn.MaxPool2d(3, stride=2)
        self.conv2d_3b = BasicConv2d(64, 80, 1, padding="valid")
        self.conv2d_4a = BasicConv2d(80, 192, 3, padding="valid")
        self.conv2d_4b = BasicConv2d(192, 256, 3, stride=2, padding="valid")
        self.repeat_1 = nn.Sequential(*[Block35(scale=0.17) for _ in range(5)])
        self.mixed_6a = Mixed6a()
        self.repeat_2 = nn.Sequential(*[Block17(scale=0.10) for _ in range(10)])
        self.mixed_7a = Mixed7a()
        self.repeat_3 = nn.Sequential(*[Block8(scale=0.20) for _ in range(5)])
        self.block8 = Block8(scale=1.0, activation=False)
        self.avgpool_1a = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.last_linear = nn.Linear(1792, EMBEDDING_DIM, bias=False)
        self.last_bn = BatchNorm1dNoScale(EMBEDDING_DIM)

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        """Standardised input -> the 17x17x256 grid fed to the first Block35."""
        x = self.conv2d_2b(self.conv2d_2a(self.conv2d_1a(x)))
        x = self.maxpool_3a(x)
        return self.conv2d_4b(self.conv2d_4a(self.conv2d_3b(x)))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Standardised input -> the 1792-d pooled features."""
        x = self.stem(x)
        x = self.mixed_6a(self.repeat_1(x))
        x = self.mixed_7a(self.repeat_2(x))
        x = self.block8(self.repeat_3(x))
        return self.avgpool_1a(x).flatten(1)

    def bottleneck(self, x: torch.Tensor) -> torch.Tensor:
        """Standardised input -> the 128-d bottleneck after its batch norm (the Keras model's output)."""
        return self.last_bn(self.last_linear(self.dropout(self.features(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bottleneck(x)
        return F.normalize(x, p=2.0, dim=1) if self.normalize else x


# --------------------------------------------------------------------------------------------------------------
# Keras HDF5 -> PyTorch


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
        if cls != "BatchNormalization" or not isinstance(module, _NoScaleBatchNorm):
            raise WeightsError(f"Keras layer {layer}: {cls} does not map onto a batch norm")
        if c.get("scale", True) or not c.get("center", False):
            raise WeightsError(f"Keras layer {layer}: expected batch norm with center=True, scale=False, got {c}")
        if not math.isclose(c.get("epsilon", -1), module.eps) or not math.isclose(1.0 - c.get("momentum", -1), module.momentum):
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
