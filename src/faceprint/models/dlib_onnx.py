"""dlib's face descriptor network (dlib_face_recognition_resnet_model_v1) as an ONNX graph, run by onnxruntime.

`build_dlib_onnx` reads the .dat with the pure-numpy reader in `_dlib_dat` and writes an equivalent ONNX model
(needs the `onnx` package, once); `DlibOnnxRunner` runs it (needs only onnxruntime).

The graph reproduces dlib's forward pass exactly, layer by layer (see dlib/dnn/layers.h, input.h, cpu_dlib.cpp):

* input ``chips``: float32 **NHWC** (N, 150, 150, 3), RGB values in 0..255 (uint8 range); the graph does dlib's
  ``input_rgb_image_sized`` preprocessing, ``(x - mean_rgb) / 256`` with the means stored in the .dat
  (122.782, 117.001, 104.298), then transposes to NCHW;
* ``con``: Conv with bias; dlib's default padding is ``stride != 1 ? 0 : k/2``, so the strided 7x7 stem and the
  strided 3x3 convolutions of the downsampling blocks are unpadded; output sizes round down like ONNX's;
* ``affine``: per-channel ``x * gamma + beta`` (batch norm folded at training time);
* ``max_pool<3,3,2,2>`` / ``avg_pool<2,2,2,2>``: no padding (same default rule), windows always inside the image;
  ``avg_pool_everything``: GlobalAveragePool;
* ``add_prev``: dlib adds tensors of *different* shapes by zero-extending both to the larger size in every
  dimension (extra channels appended, extra rows/columns at the bottom/right). That happens in every
  downsampling block: e.g. 35x35x32 -> main path 16x16x64 (3x3 stride-2 unpadded conv) + skip path 17x17x32
  (2x2 stride-2 average pool) = 17x17x64. The graph zero-pads with Pad nodes before the Add.
* ``fc_no_bias<128>``: Flatten then MatMul with the (256, 128) weight; ``loss_metric`` passes it through.

Output ``descriptors``: float32 (N, 128), exactly what dlib returns: not L2-normalised.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from faceprint._files import atomic_write
from faceprint.errors import MissingExtra, WeightsError
from faceprint.models._dlib_dat import DlibLayer, read_dlib_dat
from faceprint.models._weights import cache_dir, package_file, sha256_file
from faceprint.models.quantize import pixel_lut

__all__ = ["BUILDER_VERSION", "DlibOnnxRunner", "build_dlib_onnx", "default_dat_path", "layers_to_onnx"]

BUILDER_VERSION = 1
"""Bump when the graph construction changes, so cached .onnx files are rebuilt."""

INPUT_NAME = "chips"
OUTPUT_NAME = "descriptors"
_OPSET = 17
_META_SHA = "dlib_dat_sha256"
_META_VERSION = "faceprint_dlib_onnx_builder"


def default_dat_path() -> Path:
    """dlib_face_recognition_resnet_model_v1.dat as shipped by the face-recognition-models package."""
    return package_file("face_recognition_models", "models/dlib_face_recognition_resnet_model_v1.dat")


def layers_to_onnx(layers: list[DlibLayer], doc: str = "") -> Any:
    """Translate parsed dlib layers (input first, as `read_dlib_dat` returns them) into an onnx.ModelProto."""
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise MissingExtra("onnx", "onnx") from e

    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    counter = {"n": 0}

    def name(prefix: str) -> str:
        counter["n"] += 1
        return f"{prefix}_{counter['n']}"

    def const(prefix: str, value: np.ndarray) -> str:
        n = name(prefix)
        inits.append(numpy_helper.from_array(np.ascontiguousarray(value), n))
        return n

    def node(op: str, inputs: list[str], **attrs: object) -> str:
        out = name(op.lower())
        nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    inp = layers[0]
    if inp.kind != "input_rgb_image_sized":
        raise WeightsError(f"first layer must be the input layer, got {inp.kind}")
    H, W = int(inp.attrs["nr"]), int(inp.attrs["nc"])
    means = np.array([inp.attrs["avg_red"], inp.attrs["avg_green"], inp.attrs["avg_blue"]], np.float32)

    # input_rgb_image_sized::to_tensor: (pixel - avg) / 256.0, computed in float; /256 == *2^-8 exactly.
    x = node("Sub", [INPUT_NAME, const("rgb_mean", means.reshape(1, 1, 1, 3))])
    x = node("Mul", [x, const("inv256", np.array(1.0 / 256.0, np.float32))])
    x = node("Transpose", [x], perm=[0, 3, 1, 2])
    shape = (3, H, W)  # (channels, rows, cols) of the current tensor, batch left out
    tags: dict[int, tuple[str, tuple[int, int, int]]] = {}

    def pad_to(t: str, have: tuple[int, int, int], want: tuple[int, int, int]) -> str:
        if have == want:
            return t
        extra = [w - h for h, w in zip(have, want)]
        pads = np.array([0, 0, 0, 0, 0, *extra], np.int64)  # begin N,C,H,W then end N,C,H,W
        return node("Pad", [t, const("pads", pads)], mode="constant")

    for i, layer in enumerate(layers[1:], start=1):
        k = layer.kind
        if k == "con":
            a = layer.attrs
            kh, kw, sy, sx, py, px = a["nr"], a["nc"], a["stride_y"], a["stride_x"], a["padding_y"], a["padding_x"]
            ins = [x, const("conv_w", layer.params["weight"])]
            if a["use_bias"]:
                ins.append(const("conv_b", layer.params["bias"]))
            x = node("Conv", ins, kernel_shape=[kh, kw], strides=[sy, sx], pads=[py, px, py, px])
            if a["use_relu"]:
                x = node("Relu", [x])
            shape = (a["num_filters"], (shape[1] + 2 * py - kh) // sy + 1, (shape[2] + 2 * px - kw) // sx + 1)
        elif k == "affine":
            if layer.attrs.get("disabled"):
                continue
            if layer.attrs["mode"] != 0:
                raise WeightsError(f"layer {i}: affine in FC mode is not supported by this converter")
            c = shape[0]
            x = node("Mul", [x, const("gamma", layer.params["gamma"].reshape(1, c, 1, 1))])
            x = node("Add", [x, const("beta", layer.params["beta"].reshape(1, c, 1, 1))])
        elif k == "relu":
            if not layer.attrs.get("disabled"):
                x = node("Relu", [x])
        elif k in ("max_pool", "avg_pool"):
            a = layer.attrs
            if a["nr"] == 0 and a["nc"] == 0:  # avg_pool_everything / max_pool_everything
                x = node("GlobalAveragePool" if k == "avg_pool" else "GlobalMaxPool", [x])
                shape = (shape[0], 1, 1)
                continue
            kh = a["nr"] or shape[1]
            kw = a["nc"] or shape[2]
            sy, sx, py, px = a["stride_y"], a["stride_x"], a["padding_y"], a["padding_x"]
            kwargs: dict[str, object] = {"kernel_shape": [kh, kw], "strides": [sy, sx], "pads": [py, px, py, px]}
            if k == "avg_pool":
                kwargs["count_include_pad"] = 0  # dlib averages subm_clipped(): padding is never counted
            x = node("MaxPool" if k == "max_pool" else "AveragePool", [x], **kwargs)
            shape = (shape[0], (shape[1] + 2 * py - kh) // sy + 1, (shape[2] + 2 * px - kw) // sx + 1)
        elif k == "tag":
            tags[layer.attrs["tag"]] = (x, shape)
        elif k == "skip":
            x, shape = tags[layer.attrs["tag"]]
        elif k == "add_prev":
            other, oshape = tags[layer.attrs["tag"]]
            out = tuple(max(p, q) for p, q in zip(shape, oshape))
            x = node("Add", [pad_to(x, shape, out), pad_to(other, oshape, out)])  # type: ignore[arg-type]
            shape = out  # type: ignore[assignment]
        elif k == "fc":
            a = layer.attrs
            if np.prod(shape) != a["num_inputs"]:
                raise WeightsError(f"layer {i}: fc expects {a['num_inputs']} inputs, the network gives {shape}")
            x = node("Flatten", [x], axis=1)
            x = node("MatMul", [x, const("fc_w", layer.params["weight"])])
            if "bias" in layer.params:
                x = node("Add", [x, const("fc_b", layer.params["bias"])])
            shape = (a["num_outputs"], 1, 1)
        elif k == "loss_metric":
            nodes.append(helper.make_node("Identity", [x], [OUTPUT_NAME], name="loss_metric"))
        else:
            raise WeightsError(f"layer {i}: cannot convert dlib layer kind {k!r}")

    if not nodes or nodes[-1].output[0] != OUTPUT_NAME:
        raise WeightsError("the dlib network does not end in a loss_metric layer")
    graph = helper.make_graph(
        nodes,
        "dlib_face_recognition_resnet_model_v1",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", H, W, 3])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["N", shape[0]])],
        initializer=inits,
    )
    model = helper.make_model(
        graph, producer_name="faceprint", doc_string=doc, opset_imports=[helper.make_opsetid("", _OPSET)]
    )
    model.ir_version = 8  # readable by onnxruntime >= 1.14
    onnx.checker.check_model(model)
    return model


def _cached_sha(path: Path) -> str | None:
    """The .dat checksum recorded in an existing .onnx written by this builder version, else None."""
    try:
        import onnx

        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # unreadable or partial: rebuild
        return None
    meta = {p.key: p.value for p in model.metadata_props}
    if meta.get(_META_VERSION) != str(BUILDER_VERSION):
        return None
    return meta.get(_META_SHA)


def build_dlib_onnx(
    dat_path: str | os.PathLike[str] | None = None, onnx_path: str | os.PathLike[str] | None = None
) -> Path:
    """Convert dlib's .dat (default: the one face-recognition-models ships) to ONNX; returns the .onnx path.

    Without `onnx_path` the model is cached as ``cache_dir()/onnx/dlib_face_recognition_resnet_model_v1-
    <sha256[:16]>-b<BUILDER_VERSION>.onnx`` and an existing file is reused without reading the .dat again. With
    `onnx_path`, an existing file there is reused when its metadata records the same .dat sha256 and builder
    version. Files are written to a temporary file in the target directory and moved into place with os.replace.
    """
    dat = Path(dat_path) if dat_path is not None else default_dat_path()
    if not dat.is_file():
        raise WeightsError(f"dlib network {dat} does not exist")
    sha = sha256_file(dat)
    if onnx_path is None:
        out = cache_dir() / "onnx" / f"{dat.stem}-{sha[:16]}-b{BUILDER_VERSION}.onnx"
        if out.is_file() and out.stat().st_size > 0:
            return out
    else:
        out = Path(onnx_path)
        if out.is_file() and _cached_sha(out) == sha:
            return out

    layers = read_dlib_dat(dat)
    model = layers_to_onnx(layers, doc=f"converted by faceprint from {dat.name} (sha256 {sha})")
    for key, value in ((_META_SHA, sha), (_META_VERSION, str(BUILDER_VERSION))):
        prop = model.metadata_props.add()
        prop.key, prop.value = key, value

    return atomic_write(out, lambda f: f.write(model.SerializeToString()))


class DlibOnnxRunner:
    """Runs the converted network with onnxruntime on the CPU: (N,150,150,3) uint8 RGB chips -> (N,128) float32.

    Chips must be cropped the way dlib.get_face_chip(img, shape, 150, 0.25) does. The float32 graph takes them as
    float pixels; an int8 graph built with ``uint8_input`` (faceprint.models.quantize) takes them quantised, mapped
    from the uint8 chips by the lookup table stored in it (cv2.LUT), without a float copy. `threads` sets onnxruntime's
    intra-op thread count (default: the cores this process may use); operators run sequentially. Idle worker
    threads sleep instead of spinning: in faceprint's pipeline the decoding/detection threads need those cores
    between embedding calls.
    """

    def __init__(self, onnx_path: str | os.PathLike[str], threads: int | None = None) -> None:
        import onnxruntime as ort

        from faceprint._cores import available_cores

        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.inter_op_num_threads = 1
        opts.intra_op_num_threads = int(threads) if threads is not None else available_cores()
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(onnx_path), sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as e:
            raise WeightsError(f"onnxruntime cannot load {onnx_path}: {e}") from e
        self.input_size = int(self.session.get_inputs()[0].shape[1])
        self.input_dtype = np.uint8 if self.session.get_inputs()[0].type == "tensor(uint8)" else np.float32
        self._lut = pixel_lut(self.session) if self.input_dtype == np.uint8 else None
        self.output_dim = int(self.session.get_outputs()[0].shape[1])

    def __call__(self, chips: np.ndarray) -> np.ndarray:
        arr = np.asarray(chips)
        if arr.ndim == 3:
            arr = arr[None]
        s = self.input_size
        if arr.ndim != 4 or arr.shape[1:] != (s, s, 3):
            raise ValueError(f"expected RGB chips of shape (N, {s}, {s}, 3), got {arr.shape}")
        if len(arr) == 0:
            return np.zeros((0, self.output_dim), np.float32)
        if self.input_dtype == np.uint8:
            if arr.dtype != np.uint8:
                raise ValueError(f"this int8 network takes uint8 RGB chips, got {arr.dtype}")
            x = np.ascontiguousarray(arr)
            if self._lut is not None:  # rows of pixels through the per-channel table, as one image
                x = cv2.LUT(x.reshape(-1, s, 3), self._lut).reshape(x.shape)
        else:
            x = np.ascontiguousarray(arr, dtype=np.float32)
        (out,) = self.session.run([OUTPUT_NAME], {INPUT_NAME: x})
        return out
