"""OpenFace's Torch7 model file (``nn4.small2.v1.t7``) read into NN4Small2 state-dict arrays.

The file is parsed by torchfile (the ``openface`` extra); its module tree is walked depth first and every
convolution, batch-norm and linear layer must match NN4Small2's `parameter_layers` one for one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from faceprint.errors import WeightsError

__all__ = ["t7_state_dict"]

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
