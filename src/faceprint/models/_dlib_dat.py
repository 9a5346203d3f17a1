"""A pure-numpy reader of dlib's DNN serialization format, for the face-recognition ResNet.

dlib (``dlib/serialize.h``, ``dlib/dnn/core.h``, ``layers.h``, ``input.h``, ``loss.h``) writes a network by
walking its C++ type from the loss layer inwards. Nothing in the stream names the wrapper types (``add_layer``,
``add_tag_layer``, ``add_skip_layer``): they only write an integer version, so -- exactly like dlib, which
deserializes into a fixed ``anet_type`` -- this reader is driven by the expected architecture and checks every
layer's own tag string and hyper-parameters against it.

Encodings (all little-endian):

* integers: one control byte (low nibble = number of value bytes, 0x80 = negative for signed types), then the
  value bytes, least significant first; ``0`` is written as ``01 00``.
* ``bool``: the ASCII byte ``'0'`` or ``'1'``.
* ``std::string``: unsigned length, then the raw bytes.
* ``float``/``double`` (``float_details``): an int64 mantissa and an int16 exponent, value = mantissa * 2**exponent
  (exponents 32000/32001/32002 mean +inf/-inf/nan); integer-encoded as above.
* ``resizable_tensor``: int version 2, four long longs (num_samples, k, nr, nc), then raw float32 values in
  that (row-major) order.
* ``alias_tensor``: int version 1 and four long longs (a shape only; the data lives in the layer's ``params``).

Stream layout of ``add_layer`` over another layer: version (1 or 2), *the whole sub-network*, then this layer's
details, three bools and the x_grad / cached_output (/ params_grad) tensors. So the byte stream is the versions of
all wrappers from the outside in, then the input layer, then the layer details from the inside out.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from faceprint.errors import WeightsError

__all__ = ["DlibLayer", "FACE_RECOGNITION_RESNET_V1", "read_dlib_dat", "parse_dlib_net"]


@dataclass
class DlibLayer:
    """One layer of a dlib network, in a framework-neutral form.

    kind: ``input_rgb_image_sized``, ``con``, ``affine``, ``relu``, ``max_pool``, ``avg_pool``, ``add_prev``,
    ``tag``, ``skip``, ``fc`` or ``loss_metric``. ``version`` is the tag string dlib wrote (``""`` for tag/skip).
    ``attrs`` holds hyper-parameters (ints, floats, bools); ``params`` holds float32 arrays:

    * con: ``weight`` (out, in, kh, kw) and ``bias`` (out,) when ``attrs["use_bias"]``;
    * affine: ``gamma`` and ``beta``, shape (channels,) in conv mode -- y = x * gamma + beta per channel (a
      serialized ``bn_con2`` is converted the way dlib's ``affine_(const bn_&)`` does it, in float32);
    * fc: ``weight`` (num_inputs, num_outputs), y = x @ weight, and ``bias`` (num_outputs,) if present.
    """

    kind: str
    version: str = ""
    attrs: dict[str, Any] = field(default_factory=dict)
    params: dict[str, np.ndarray] = field(default_factory=dict)

    def __repr__(self) -> str:
        shapes = {k: tuple(v.shape) for k, v in self.params.items()}
        return f"DlibLayer({self.kind}, {self.version!r}, {self.attrs}, {shapes})"


# ----------------------------------------------------------------------------------------------------------------
# The expected architecture, outermost layer first, written to mirror the C++ templates of the anet_type in
# dlib/tools/python/src/face_recognition.cpp (== examples/dnn_face_recognition_ex.cpp).
# Each token: (kind, expected-attrs).

Token = tuple[str, dict[str, Any]]


def _con(n: int, k: int, s: int) -> Token:
    pad = 0 if s != 1 else k // 2  # dlib's default: _padding = _stride != 1 ? 0 : _nr/2
    geometry = {"nr": k, "nc": k, "stride_y": s, "stride_x": s, "padding_y": pad, "padding_x": pad}
    return ("con", {"num_filters": n, **geometry})


def _pool(kind: str, k: int, s: int) -> Token:
    pad = 0 if s != 1 else k // 2
    return (kind, {"nr": k, "nc": k, "stride_y": s, "stride_x": s, "padding_y": pad, "padding_x": pad})


def _block(n: int, stride: int) -> list[Token]:
    # block<N,BN,stride,SUBNET> = BN<con<N,3,3,1,1,relu<BN<con<N,3,3,stride,stride,SUBNET>>>>>
    return [("affine", {}), _con(n, 3, 1), ("relu", {}), ("affine", {}), _con(n, 3, stride)]


def _ares(n: int) -> list[Token]:
    # relu<add_prev1<block<N,affine,1,tag1<SUBNET>>>>
    return [("relu", {}), ("add_prev", {"tag": 1}), *_block(n, 1), ("tag", {"tag": 1})]


def _ares_down(n: int) -> list[Token]:
    # relu<add_prev2<avg_pool<2,2,2,2,skip1<tag2<block<N,affine,2,tag1<SUBNET>>>>>>>
    return [
        ("relu", {}),
        ("add_prev", {"tag": 2}),
        _pool("avg_pool", 2, 2),
        ("skip", {"tag": 1}),
        ("tag", {"tag": 2}),
        *_block(n, 2),
        ("tag", {"tag": 1}),
    ]


FACE_RECOGNITION_RESNET_V1: list[Token] = [
    ("loss_metric", {}),
    ("fc", {"num_outputs": 128, "bias_mode": 1}),  # fc_no_bias<128>
    # avg_pool_everything = avg_pool_<0,0,1,1>: the window is the whole input
    ("avg_pool", {"nr": 0, "nc": 0, "stride_y": 1, "stride_x": 1, "padding_y": 0, "padding_x": 0}),
    *_ares_down(256),  # alevel0
    *_ares(256), *_ares(256), *_ares_down(256),  # alevel1
    *_ares(128), *_ares(128), *_ares_down(128),  # alevel2
    *_ares(64), *_ares(64), *_ares(64), *_ares_down(64),  # alevel3
    *_ares(32), *_ares(32), *_ares(32),  # alevel4
    _pool("max_pool", 3, 2),
    ("relu", {}),
    ("affine", {}),
    _con(32, 7, 2),
    ("input_rgb_image_sized", {"nr": 150, "nc": 150}),
]
"""The anet_type of dnn_face_recognition_ex.cpp, outermost (loss) first."""

_WRAPPED = {"con", "affine", "relu", "max_pool", "avg_pool", "add_prev", "fc"}  # add_layer<details, SUBNET>


# ----------------------------------------------------------------------------------------------------------------


class _Reader:
    """Cursor over the bytes of a dlib serialization stream; every failure is a WeightsError naming the offset."""

    def __init__(self, data: bytes, source: str) -> None:
        self.data = data
        self.pos = 0
        self.source = source
        self.context = "start of stream"

    def fail(self, msg: str) -> WeightsError:
        return WeightsError(f"{self.source}: not a dlib face-recognition network: {msg} (at byte {self.pos} of "
                            f"{len(self.data)}, while reading {self.context})")

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise self.fail(f"unexpected end of file (needed {n} more bytes)")
        b = self.data[self.pos : self.pos + n]
        self.pos += n
        return b

    def int_(self, nbytes: int = 4, signed: bool = True) -> int:
        """ser_helper::unpack_int for a C++ integer of `nbytes` bytes."""
        ctrl = self.take(1)[0]
        negative = signed and bool(ctrl & 0x80)
        size = ctrl & 0x0F if signed else ctrl & 0x8F
        if size == 0 or size > nbytes:
            sign = "signed" if signed else "unsigned"
            raise self.fail(f"bad integer control byte 0x{ctrl:02x} for a {nbytes}-byte {sign} integer")
        value = int.from_bytes(self.take(size), "little")
        return -value if negative else value

    def long(self) -> int:
        return self.int_(8, True)

    def ulong(self) -> int:
        return self.int_(8, False)

    def bool_(self) -> bool:
        ch = self.take(1)
        if ch == b"1":
            return True
        if ch == b"0":
            return False
        raise self.fail(f"bad bool byte {ch!r} (dlib writes ASCII '0' or '1')")

    def float_(self, double: bool = False) -> float:
        """deserialize_floating_point: float_details (int64 mantissa, int16 exponent)."""
        if self.pos < len(self.data) and self.data[self.pos] & 0x70:
            raise self.fail("old ASCII floating point encoding is not supported")
        mantissa = self.int_(8, True)
        exponent = self.int_(2, True)
        if exponent == 32000:
            v: Any = np.inf
        elif exponent == 32001:
            v = -np.inf
        elif exponent == 32002:
            v = np.nan
        elif double:
            v = np.ldexp(np.float64(mantissa), exponent)
        else:  # convert_to_T<float>: std::ldexp((float)mantissa, exponent), all in float
            v = np.ldexp(np.float32(mantissa), np.int32(exponent))
        return float(v)

    def string(self, limit: int = 256) -> str:
        n = self.ulong()
        if n > limit:
            raise self.fail(f"string length {n} is implausible (> {limit})")
        raw = self.take(n)
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError:
            raise self.fail(f"non-ASCII tag string {raw!r}") from None

    def version(self, allowed: tuple[int, ...], what: str) -> int:
        v = self.int_(4, True)
        if v not in allowed:
            raise self.fail(f"unexpected {what} version {v} (dlib accepts {', '.join(map(str, allowed))})")
        return v

    def tensor(self) -> np.ndarray:
        """deserialize(resizable_tensor&): shape (num_samples, k, nr, nc), float32."""
        self.version((2,), "resizable_tensor")
        shape = tuple(self.long() for _ in range(4))
        if any(d < 0 for d in shape):
            raise self.fail(f"negative tensor dimension {shape}")
        count = int(np.prod(shape, dtype=np.int64))
        raw = self.take(4 * count)
        return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(shape)

    def alias_tensor(self) -> tuple[int, int, int, int]:
        self.version((1,), "alias_tensor")
        shape = tuple(self.long() for _ in range(4))
        if any(d < 0 for d in shape):
            raise self.fail(f"negative alias_tensor dimension {shape}")
        return shape  # type: ignore[return-value]


def _size(shape: tuple[int, ...]) -> int:
    return int(np.prod(shape, dtype=np.int64))


# ----------------------------------------------------------------------------------------------------------------
# Layer details, dispatched on the tag string dlib writes first.


def _read_con(r: _Reader, version: str) -> DlibLayer:
    if version not in ("con_4", "con_5", "con_6"):
        raise r.fail(f"unknown con_ version {version!r}")
    params = r.tensor()
    a: dict[str, Any] = {
        "num_filters": r.long(),
        "nr": r.long(),
        "nc": r.long(),
        "stride_y": r.int_(),
        "stride_x": r.int_(),
        "padding_y": r.int_(),
        "padding_x": r.int_(),
    }
    filters = r.alias_tensor()
    biases = r.alias_tensor()
    a["learning_rate_multiplier"] = r.float_(double=True)
    a["weight_decay_multiplier"] = r.float_(double=True)
    a["bias_learning_rate_multiplier"] = r.float_(double=True)
    a["bias_weight_decay_multiplier"] = r.float_(double=True)
    a["use_bias"] = r.bool_() if version in ("con_5", "con_6") else True
    a["use_relu"] = r.bool_() if version == "con_6" else False
    flat = params.reshape(-1)
    nf, nb = _size(filters), (_size(biases) if a["use_bias"] else 0)
    if filters[0] != a["num_filters"] or filters[2:] != (a["nr"], a["nc"]):
        raise r.fail(f"con_ filter shape {filters} disagrees with num_filters={a['num_filters']}, {a['nr']}x{a['nc']}")
    if flat.size != nf + nb or (a["use_bias"] and nb != a["num_filters"]):
        raise r.fail(f"con_ has {flat.size} parameters, expected {nf} filter values + {nb} biases")
    p = {"weight": flat[:nf].reshape(filters)}
    if a["use_bias"]:
        p["bias"] = flat[nf:].copy()
    return DlibLayer("con", version, a, p)


def _read_bn(r: _Reader, version: str) -> DlibLayer:
    """A bn_ in the stream where dlib expects affine_: converted like affine_::affine_(const bn_&)."""
    params = r.tensor().reshape(-1)
    gamma = r.alias_tensor()
    r.alias_tensor()  # beta has gamma's shape
    for _ in range(2):  # means, invstds (training-time batch statistics)
        r.tensor()
    running_means = r.tensor().reshape(-1)
    running_variances = r.tensor().reshape(-1)
    r.ulong()  # num_updates
    r.ulong()  # running_stats_window_size
    for _ in range(4):
        r.float_(double=True)
    eps = r.float_(double=True)
    n = _size(gamma)
    if params.size != 2 * n or running_means.size != n or running_variances.size != n:
        raise r.fail(f"{version} parameter sizes do not agree ({params.size} params for {n} channels)")
    # g = sg / sqrt(running_variances + eps); b = sb - g * running_means; dlib evaluates these in float.
    g = params[:n] / np.sqrt(running_variances + np.float32(eps))
    b = params[n:] - g * running_means
    mode = 0 if version == "bn_con2" else 1
    return DlibLayer("affine", version, {"mode": mode, "disabled": False, "converted_from_bn": True, "eps": eps},
                     {"gamma": g.astype(np.float32), "beta": b.astype(np.float32)})


def _read_affine(r: _Reader, version: str) -> DlibLayer:
    if version in ("bn_con2", "bn_fc2"):
        return _read_bn(r, version)
    if version not in ("affine_", "affine_2"):
        raise r.fail(f"unknown affine_ version {version!r}")
    params = r.tensor().reshape(-1)
    gamma = r.alias_tensor()
    beta = r.alias_tensor()
    mode = r.int_()
    disabled = r.bool_() if version == "affine_2" else False
    if mode not in (0, 1):
        raise r.fail(f"affine_ layer mode {mode} is neither CONV_MODE (0) nor FC_MODE (1)")
    p: dict[str, np.ndarray] = {}
    if not disabled:
        n = _size(gamma)
        if gamma != beta or params.size != 2 * n:
            raise r.fail(f"affine_ has {params.size} parameters for gamma {gamma} and beta {beta}")
        p = {"gamma": params[:n].copy(), "beta": params[n:].copy()}
    return DlibLayer("affine", version, {"mode": mode, "disabled": disabled}, p)


def _read_relu(r: _Reader, version: str) -> DlibLayer:
    if version not in ("relu_", "relu_2"):
        raise r.fail(f"unknown relu_ version {version!r}")
    return DlibLayer("relu", version, {"disabled": r.bool_() if version == "relu_2" else False})


def _read_pool(kind: str) -> Any:
    def read(r: _Reader, version: str) -> DlibLayer:
        if version != f"{kind}_2":
            raise r.fail(f"unknown {kind}_ version {version!r}")
        a = {"nr": r.long(), "nc": r.long(), "stride_y": r.int_(), "stride_x": r.int_(),
             "padding_y": r.int_(), "padding_x": r.int_()}
        return DlibLayer(kind, version, a)

    return read


def _read_add_prev(r: _Reader, version: str) -> DlibLayer:
    if version != "add_prev_":
        raise r.fail(f"unknown add_prev_ version {version!r}")
    return DlibLayer("add_prev", version)


def _read_fc(r: _Reader, version: str) -> DlibLayer:
    if version not in ("fc_2", "fc_3"):
        raise r.fail(f"unknown fc_ version {version!r}")
    a: dict[str, Any] = {"num_outputs": r.ulong(), "num_inputs": r.ulong()}
    params = r.tensor().reshape(-1)
    weights = r.alias_tensor()
    r.alias_tensor()  # the biases alias: read past (the values sit inside params)
    a["bias_mode"] = r.int_()
    a["learning_rate_multiplier"] = r.float_(double=True)
    a["weight_decay_multiplier"] = r.float_(double=True)
    a["bias_learning_rate_multiplier"] = r.float_(double=True)
    a["bias_weight_decay_multiplier"] = r.float_(double=True)
    a["use_bias"] = r.bool_() if version == "fc_3" else True
    has_bias = a["bias_mode"] == 0 and a["use_bias"]
    nw = _size(weights)
    if weights[:2] != (a["num_inputs"], a["num_outputs"]):
        raise r.fail(f"fc_ weight shape {weights} disagrees with {a['num_inputs']} inputs, {a['num_outputs']} outputs")
    if params.size != nw + (a["num_outputs"] if has_bias else 0):
        raise r.fail(f"fc_ has {params.size} parameters, expected {nw}{' + biases' if has_bias else ''}")
    p = {"weight": params[:nw].reshape(a["num_inputs"], a["num_outputs"])}
    if has_bias:
        p["bias"] = params[nw:].copy()
    return DlibLayer("fc", version, a, p)


def _read_loss_metric(r: _Reader, version: str) -> DlibLayer:
    if version == "loss_metric_":
        return DlibLayer("loss_metric", version, {"margin": 0.1, "dist_thresh": 0.75})
    if version != "loss_metric_2":
        raise r.fail(f"unknown loss_metric_ version {version!r}")
    return DlibLayer("loss_metric", version, {"margin": r.float_(), "dist_thresh": r.float_()})


def _read_input(r: _Reader, version: str) -> DlibLayer:
    if version != "input_rgb_image_sized":
        raise r.fail(f"unknown input layer {version!r}")
    a = {"avg_red": r.float_(), "avg_green": r.float_(), "avg_blue": r.float_(), "nr": r.ulong(), "nc": r.ulong()}
    return DlibLayer("input_rgb_image_sized", version, a)


_DETAIL_READERS = {
    "con": _read_con,
    "affine": _read_affine,
    "relu": _read_relu,
    "max_pool": _read_pool("max_pool"),
    "avg_pool": _read_pool("avg_pool"),
    "add_prev": _read_add_prev,
    "fc": _read_fc,
    "loss_metric": _read_loss_metric,
    "input_rgb_image_sized": _read_input,
}

_TAG_PREFIX = {  # the tag strings each kind may carry: anything else is an unknown layer
    "con": ("con_",), "affine": ("affine_", "bn_con", "bn_fc"), "relu": ("relu_",), "max_pool": ("max_pool_",),
    "avg_pool": ("avg_pool_",), "add_prev": ("add_prev_",), "fc": ("fc_",), "loss_metric": ("loss_metric_",),
    "input_rgb_image_sized": ("input_rgb_image_sized",),
}


def _read_details(r: _Reader, kind: str, index: int) -> DlibLayer:
    r.context = f"layer<{index}> ({kind})"
    tag = r.string()
    if not tag.startswith(_TAG_PREFIX[kind]):
        raise r.fail(f"found layer tag {tag!r} where the network has a {kind} layer")
    return _DETAIL_READERS[kind](r, tag)


def _check(r: _Reader, layer: DlibLayer, expected: dict[str, Any], index: int) -> None:
    for key, want in expected.items():
        if key not in layer.attrs:  # structural, not serialized (e.g. add_prev's tag id is a template argument)
            layer.attrs[key] = want
            continue
        got = layer.attrs[key]
        if got != want:
            r.context = f"layer<{index}> ({layer.kind})"
            raise r.fail(f"{layer.kind} layer has {key}={got}, the face-recognition network needs {want}")


def parse_dlib_net(
    data: bytes, arch: list[Token] = FACE_RECOGNITION_RESNET_V1, source: str = "<bytes>"
) -> list[DlibLayer]:
    """Parse a serialized dlib network of architecture `arch` (outermost first); returns layers input first."""
    r = _Reader(data, source)
    layers: list[DlibLayer | None] = [None] * len(arch)
    if arch[0][0] != "loss_metric" or arch[-1][0] != "input_rgb_image_sized":
        raise ValueError("arch must run from a loss layer down to an input layer")

    # add_loss_layer: version 1, loss details, then the sub-network.
    r.context = "add_loss_layer"
    r.version((1,), "add_loss_layer")
    layers[0] = _read_details(r, "loss_metric", 0)
    _check(r, layers[0], arch[0][1], 0)

    # Going in: each wrapper writes its version before its sub-network.
    pending: list[int] = []  # add_layer indices whose details come after their sub-network
    input_adjacent = len(arch) - 2  # the add_layer directly above the input layer is add_layer<T, INPUT>
    for i in range(1, len(arch) - 1):
        kind = arch[i][0]
        r.context = f"layer<{i - 1}> ({kind}) wrapper"
        if kind in ("tag", "skip"):
            r.version((1,), f"add_{kind}_layer")
            layers[i] = DlibLayer(kind, "", dict(arch[i][1]))
        elif kind in _WRAPPED:
            if i == input_adjacent:
                v = r.version((2, 3), "add_layer (over the input layer)")
            else:
                v = r.version((1, 2), "add_layer")
            pending.append(i)
            layers[i] = DlibLayer(kind, "", {"_wrapper_version": v})
        else:
            raise ValueError(f"unknown layer kind {kind!r} in arch")
    if arch[input_adjacent][0] not in _WRAPPED:
        raise ValueError("arch must have a computational layer directly above the input layer")

    # The input layer, then each add_layer's details and tail, innermost first.
    last = len(arch) - 1
    layers[last] = _read_details(r, "input_rgb_image_sized", last - 1)
    _check(r, layers[last], arch[last][1], last - 1)
    for i in reversed(pending):
        kind, expected = arch[i]
        wrapper_version = layers[i].attrs["_wrapper_version"]  # type: ignore[union-attr]
        layer = _read_details(r, kind, i - 1)
        _check(r, layer, expected, i - 1)
        r.context = f"layer<{i - 1}> ({kind}) state"
        layer.attrs["this_layer_setup_called"] = r.bool_()
        r.bool_()  # gradient_input_is_stale
        r.bool_()  # get_output_and_gradient_input_disabled
        r.tensor()  # x_grad
        r.tensor()  # cached_output
        if i == input_adjacent:
            r.tensor()  # grad_final
            if wrapper_version >= 3:
                r.int_(4, True)  # _sample_expansion_factor
        elif wrapper_version == 2:
            r.tensor()  # params_grad
        layers[i] = layer

    if r.pos != len(r.data):
        r.context = "end of network"
        raise r.fail(f"{len(r.data) - r.pos} leftover bytes after the network")

    out = [layer for layer in reversed(layers) if layer is not None]
    _check_shapes(out, source)
    return out


def _check_shapes(layers: list[DlibLayer], source: str) -> None:
    """Channel counts must chain: each con/affine/fc sees what the previous layers produce."""
    channels = 3
    tags: dict[int, int] = {}
    for i, layer in enumerate(layers):
        if layer.kind == "con":
            w = layer.params["weight"]
            if w.shape[1] != channels:
                raise WeightsError(f"{source}: con layer {i} expects {w.shape[1]} input channels, gets {channels}")
            channels = w.shape[0]
        elif layer.kind == "affine" and not layer.attrs.get("disabled"):
            if layer.params["gamma"].size != channels:
                n = layer.params["gamma"].size
                raise WeightsError(f"{source}: affine layer {i} has {n} channels, gets {channels}")
            layer.params["gamma"] = layer.params["gamma"].reshape(channels)
            layer.params["beta"] = layer.params["beta"].reshape(channels)
        elif layer.kind == "tag":
            tags[layer.attrs["tag"]] = channels
        elif layer.kind == "skip":
            channels = tags[layer.attrs["tag"]]
        elif layer.kind == "add_prev":
            channels = max(channels, tags[layer.attrs["tag"]])
        elif layer.kind == "fc":
            if layer.attrs["num_inputs"] != channels:  # input is 1x1 spatially after avg_pool_everything
                raise WeightsError(f"{source}: fc layer expects {layer.attrs['num_inputs']} inputs, gets {channels}")
            channels = layer.attrs["num_outputs"]


def read_dlib_dat(path: str | os.PathLike[str]) -> list[DlibLayer]:
    """Read dlib_face_recognition_resnet_model_v1.dat into a list of layers, input layer first, loss layer last.

    Raises WeightsError on anything that does not match the network dlib's face_recognition_model_v1 loads:
    unknown or misplaced layer tags, bad versions, wrong hyper-parameters, truncation or leftover bytes.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise WeightsError(f"cannot read dlib network {path}: {e}") from e
    return parse_dlib_net(data, source=str(path))
