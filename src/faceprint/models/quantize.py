"""int8 versions of faceprint's ONNX networks: static QDQ quantisation from a shipped calibration table.

Static quantisation needs the range of every activation tensor, measured on real inputs. We measure them once on
LFW View 1 DevTrain face chips (never DevTest) with onnxruntime's MinMax calibrator (`collect_ranges`, run by
``python bench/quantize.py calibrate``) and ship the result as a small JSON table per network
(``faceprint/models/calibration/<network>.json``: tensor names and their min/max, no image data). The int8
network is then built on first use, on any machine, from the float32 network the user already has plus that table
(`int8_onnx`): onnxruntime's ``quant_pre_process`` (its graph optimiser folds dlib's per-channel affine layers
and batch norms into the convolutions, so each convolution is one int8 operator), then ``quantize_static`` in QDQ
format, weights int8 per output channel, activations uint8
(the combination onnxruntime recommends for CPUs with VNNI). Given the same float32 graph, table and onnxruntime
quantiser the file is the same byte for byte; it is cached next to the float32 export under a name that hashes
all three, so a new table or a new float32 export gives a new file.

Pixels in, for networks that normalise their own input (dlib's ``(x - mean) / 256``): with ``uint8_input`` the
quantised graph's first operators, which normalise and quantise each pixel value alone, are replaced by a lookup
table of 256 values per channel (read by running those very operators on every value, stored in the file) that the
runner applies with cv2.LUT; the network then takes uint8 input, and its outputs are unchanged. That removes a
broadcast float subtraction over the NHWC input and two requantisations from every forward pass, and the float
copy of the chips before them (docs/speed.md).

A table whose tensor names do not match the float32 graph (another exporter or onnxruntime version renamed them)
is refused with a WeightsError naming the command that measures a new one; nothing falls back silently.

Where int8 pays: onnxruntime's int8 convolutions use VNNI dot-product instructions (x86 AVX-512 VNNI or AVX-VNNI,
Arm's dot product). Without them its u8 x s8 products go through 16-bit intermediate sums that can saturate, and
the speed advantage shrinks; `int8_is_fast` says which case this CPU is, and the default models follow it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from pathlib import Path

import numpy as np

from faceprint._files import atomic_write
from faceprint.errors import MissingExtra, WeightsError
from faceprint.models._spec import ModelSpec
from faceprint.models._weights import sha256_file

__all__ = [
    "QUANT_VERSION",
    "calibration_table",
    "collect_ranges",
    "cpu_int8_features",
    "int8_is_fast",
    "int8_onnx",
    "int8_spec",
    "pixel_lut",
    "table_digest",
]

log = logging.getLogger(__name__)

QUANT_VERSION = 1
"""Bump when the quantisation settings below change, so cached int8 files are rebuilt."""

CALIBRATION_DIR = Path(__file__).with_name("calibration")
"""Where the shipped calibration tables live (package data)."""

_DOT_PRODUCT_FEATURES = ("AVX512VNNI", "AVXVNNI", "AVX512_VNNI", "AVX_VNNI", "ASIMDDP")
"""numpy's names for the 8-bit dot-product instructions onnxruntime's int8 kernels use (x86 and Arm)."""


def cpu_int8_features() -> list[str]:
    """The 8-bit dot-product instruction sets this CPU has, by numpy's run-time CPU detection (empty: none)."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:  # numpy < 2
        from numpy.core._multiarray_umath import __cpu_features__ as features  # type: ignore[no-redef]
    return [f for f in _DOT_PRODUCT_FEATURES if features.get(f)]


@lru_cache(maxsize=1)
def int8_is_fast() -> bool:
    """Whether int8 networks are the faster choice on this CPU: it has 8-bit dot-product instructions.

    Set FACEPRINT_INT8=0 or 1 to override (e.g. to measure float32 on a VNNI machine, or int8 on one without).
    """
    env = os.environ.get("FACEPRINT_INT8")
    if env in ("0", "1"):
        return env == "1"
    if env:
        raise ValueError(f"FACEPRINT_INT8 must be 0 or 1, got {env!r}")
    return bool(cpu_int8_features())


def calibration_table(network: str) -> Path:
    """The shipped calibration table of `network` (e.g. ``dlib_face_recognition_resnet_model_v1``)."""
    path = CALIBRATION_DIR / f"{network}.json"
    if not path.is_file():
        raise WeightsError(
            f"no int8 calibration table for {network} ({path}); measure one on LFW View 1 DevTrain with "
            f"`python bench/quantize.py calibrate`"
        )
    return path


def table_digest(table: str | os.PathLike[str]) -> str:
    """sha256 of a calibration table file (part of the int8 model's identity)."""
    return sha256_file(table)


def int8_spec(base: ModelSpec, table: str, builder: Callable[[ModelSpec], object], description: str, lfw_accuracy: str = "") -> ModelSpec:
    """The registry record of `base` run as an int8 network: named ``<base>-int8``, its own identity (the
    quantisation and the table's digest), the same crops and test-time augmentation, and base's thresholds (the
    parity figures of ``bench/quantize.py parity`` on DevTrain say whether they still hold)."""
    path = CALIBRATION_DIR / f"{table}.json"
    # without its table the model cannot be built (calibration_table raises, naming how to make one), so no vector
    # can exist under this identity
    digest = table_digest(path)[:12] if path.is_file() else "missing"
    return dataclasses.replace(
        base,
        name=f"{base.name}-int8",
        quantization=f"int8-qdq v{QUANT_VERSION}, table {digest}",
        builder=builder,  # type: ignore[arg-type]
        lfw_accuracy=lfw_accuracy,
        description=description,
    )


def _quantization() -> object:
    try:
        import onnx  # noqa: F401
        import onnxruntime.quantization as q
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise MissingExtra("onnx", "onnx") from e
    return q


def _settings() -> dict[str, object]:
    """The quantiser's arguments (besides the model and table), one place for the build and the cache key."""
    q = _quantization()
    return {
        "quant_format": q.QuantFormat.QDQ,  # type: ignore[attr-defined]
        "per_channel": True,
        "reduce_range": False,
        "activation_type": q.QuantType.QUInt8,  # type: ignore[attr-defined]
        "weight_type": q.QuantType.QInt8,  # type: ignore[attr-defined]
        "calibrate_method": q.CalibrationMethod.MinMax,  # type: ignore[attr-defined]
    }


def _preprocessed(float_onnx: Path, folder: Path) -> Path:
    """onnxruntime's recommended pre-processing of a float32 graph before quantisation (shape inference and its
    graph optimiser: convolutions absorb the scale and shift that follow them); ranges are measured on this graph.

    A graph whose input has free sizes besides the batch (YuNet takes any image size) skips the symbolic shape
    inference, which cannot resolve them (it fails, leaving temporary files in the working directory); which case a
    graph is depends only on the graph, so calibration and build always agree."""
    import onnx

    q = _quantization()
    dims = onnx.load(str(float_onnx), load_external_data=False).graph.input[0].type.tensor_type.shape.dim
    free_sizes = any(d.dim_param or not d.dim_value for d in list(dims)[1:])
    out = folder / f"{float_onnx.stem}-pre.onnx"
    q.quant_pre_process(str(float_onnx), str(out), skip_symbolic_shape=free_sizes)  # type: ignore[attr-defined]
    return out


def _check_table(float_onnx: Path, table: Path) -> None:
    """Refuse a table that lacks ranges for the float32 graph's activations (names from another export)."""
    import onnx

    model = onnx.load(str(float_onnx), load_external_data=False)
    produced = {o for n in model.graph.node for o in n.output}
    ranges = set(json.loads(table.read_text()).get("data", {}))
    missing = [n.output[0] for n in model.graph.node if n.op_type == "Conv" and n.output[0] not in ranges]
    if missing or not ranges & produced:
        raise WeightsError(
            f"calibration table {table.name} does not match {float_onnx.name} ({len(missing)} convolution outputs "
            f"without a range, e.g. {missing[:2]}): it was measured on another export of the network. Measure a "
            f"new one on LFW View 1 DevTrain with `python bench/quantize.py calibrate`"
        )

PIXEL_LUT_KEY = "faceprint_pixel_lut"
"""Metadata key of an int8 graph that takes quantised pixels: the per-channel lookup table (JSON, channels x 256)
that maps uint8 pixels to its input (see `int8_onnx`'s ``uint8_input``)."""

_PER_ELEMENT = ("Sub", "Add", "Mul", "Div", "QuantizeLinear", "DequantizeLinear")


def _pixel_input(model: object) -> None:
    """Make a quantised graph take its input already quantised, in place, and record how (PIXEL_LUT_KEY).

    The graph's first operators act on each input value alone (subtract a mean, scale, quantise: constants per
    channel of the last axis), so on uint8 pixels they are a function of the pixel value and its channel: a lookup
    table of 256 values per channel, read here by running exactly those operators with onnxruntime on every pixel
    value. The prefix up to its last QuantizeLinear goes; the graph's input becomes that quantised tensor (uint8), and
    its runner maps the pixels through the table (cv2.LUT). The outputs are identical to the original graph's on the
    same pixels; what goes is a broadcast float subtraction and two requantisations per forward pass."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    g = model.graph  # type: ignore[attr-defined]
    initializers = {t.name for t in g.initializer}
    # constants: initializers, and the dequantised constants QDQ graphs compute from them (e.g. dlib's 1/256)
    dequantised = {n.output[0]: n for n in g.node if n.op_type == "DequantizeLinear" and all(i in initializers for i in n.input)}
    constants = initializers | set(dequantised)
    x = g.input[0].name
    prefix, tensor, last_q = [], x, None
    while True:
        users = [n for n in g.node if tensor in n.input]
        if len(users) != 1 or users[0].op_type not in _PER_ELEMENT or any(i not in constants for i in users[0].input if i != tensor):
            break
        prefix.append(users[0])
        tensor = users[0].output[0]
        if users[0].op_type == "QuantizeLinear":
            last_q = len(prefix)
    if last_q is None:
        raise WeightsError(f"{g.name}: its input is not quantised by per-value operators")
    prefix = prefix[:last_q]
    sources = [dequantised[i] for n in prefix for i in n.input if i in dequantised]
    quantised = prefix[-1].output[0]
    channels = g.input[0].type.tensor_type.shape.dim[-1].dim_value
    if channels < 1:
        raise WeightsError(f"{g.name}: the input's last axis (channels) has no fixed size")
    # the prefix alone, on an image of one row holding every pixel value in every channel
    used = {i for n in (*sources, *prefix) for i in n.input}
    probe = helper.make_model(
        helper.make_graph(
            [*sources, *prefix], "pixel_lut", [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, 1, 256, channels])],
            [helper.make_tensor_value_info(quantised, TensorProto.UINT8, None)],
            initializer=[t for t in g.initializer if t.name in used],
        ),
        opset_imports=model.opset_import,  # type: ignore[attr-defined]
    )
    probe.ir_version = model.ir_version  # type: ignore[attr-defined]
    session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    values = np.repeat(np.arange(256, dtype=np.float32)[:, None], channels, axis=1).reshape(1, 1, 256, channels)
    (lut,) = session.run(None, {x: values})
    if lut.dtype != np.uint8:
        raise WeightsError(f"{g.name}: its input is quantised to {lut.dtype}, not uint8")
    for n in prefix:
        g.node.remove(n)
    for n in g.node:
        for i, name in enumerate(n.input):
            if name == quantised:
                n.input[i] = x
    for info in [v for v in g.value_info if v.name in {o for n in prefix for o in n.output}]:
        g.value_info.remove(info)
    for n in sources:
        if not any(n.output[0] in m.input for m in g.node):
            g.node.remove(n)
    still_used = {i for n in g.node for i in n.input}
    for init in [t for t in g.initializer if t.name in used and t.name not in still_used]:
        g.initializer.remove(init)
    g.input[0].type.tensor_type.elem_type = TensorProto.UINT8
    props = {p.key: p.value for p in model.metadata_props}  # type: ignore[attr-defined]
    props[PIXEL_LUT_KEY] = json.dumps(lut.reshape(256, channels).T.tolist())
    onnx.helper.set_model_props(model, props)  # type: ignore[arg-type]


def pixel_lut(session: object) -> np.ndarray | None:
    """The (1, 256, channels) uint8 lookup table an int8 session built with ``uint8_input`` applies to its pixels
    (for cv2.LUT), or None for a session that takes pixels as they are."""
    meta = session.get_modelmeta().custom_metadata_map  # type: ignore[attr-defined]
    if PIXEL_LUT_KEY not in meta:
        return None
    return np.ascontiguousarray(np.array(json.loads(meta[PIXEL_LUT_KEY]), np.uint8).T[None])


def int8_onnx(
    float_onnx: str | os.PathLike[str],
    table: str | os.PathLike[str],
    out_dir: str | os.PathLike[str] | None = None,
    uint8_input: bool = False,
) -> Path:
    """The int8 (static QDQ) version of a float32 ONNX network, built from `table` on first use and cached.

    With `uint8_input` the int8 network takes its input quantised (uint8, mapped from the pixels by a lookup table
    stored in the file, `pixel_lut`) instead of float pixels it normalises and quantises itself; its outputs are
    the same (see `_pixel_input`). A graph whose input is not quantised by per-value operators raises WeightsError.

    The file is ``<out_dir or the float file's folder>/<float stem>-int8[-u8]-<16 hex digits>.onnx``, the digits
    hashing the float32 file, the table, QUANT_VERSION, `uint8_input` and the onnxruntime version (whose quantiser
    writes it).
    """
    import onnxruntime as ort

    src, tab = Path(float_onnx), Path(table)
    key = hashlib.sha256(
        f"{sha256_file(src)}|{table_digest(tab)}|q{QUANT_VERSION}{'|u8' if uint8_input else ''}|ort {ort.__version__}".encode()
    ).hexdigest()[:16]
    out = Path(out_dir or src.parent) / f"{src.stem}-int8{'-u8' if uint8_input else ''}-{key}.onnx"
    if out.is_file() and out.stat().st_size > 0:
        return out
    q = _quantization()
    log.info("quantising %s to int8 with %s", src.name, tab.name)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="faceprint-int8-") as tmp:
        pre = _preprocessed(src, Path(tmp))
        _check_table(pre, tab)
        tmp_out = Path(tmp) / out.name
        # quantize_static reads the ranges from the table and never calibrates (it would write the table
        # only when it is missing, and we checked it exists)
        q.quantize_static(str(pre), str(tmp_out), None, calibration_cache_path=str(tab), **_settings())  # type: ignore[attr-defined]
        if uint8_input:
            import onnx

            model = onnx.load(str(tmp_out))
            _pixel_input(model)
            onnx.save(model, str(tmp_out))
        atomic_write(out, lambda f: f.write(tmp_out.read_bytes()))
    return out


class _Reader:
    """onnxruntime CalibrationDataReader over batches of network inputs."""

    def __init__(self, input_name: str, batches: Iterable[np.ndarray]) -> None:
        self.input_name = input_name
        self._it: Iterator[np.ndarray] = iter(batches)

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._it, None)
        return None if batch is None else {self.input_name: np.ascontiguousarray(batch, np.float32)}


def collect_ranges(float_onnx: str | os.PathLike[str], batches: Iterable[np.ndarray], table: str | os.PathLike[str]) -> Path:
    """Measure every activation's min/max over `batches` of network inputs and write the calibration table.

    `batches`: arrays fed to the network's single input as they are (faceprint's networks take float pixels);
    use real face chips from LFW DevTrain, never DevTest. The ranges are those of the pre-processed graph that
    `int8_onnx` quantises. Returns the table's path.
    """
    import onnxruntime as ort

    q = _quantization()
    input_name = ort.InferenceSession(str(float_onnx), providers=["CPUExecutionProvider"]).get_inputs()[0].name
    with tempfile.TemporaryDirectory(prefix="faceprint-calib-") as tmp:
        src = _preprocessed(Path(float_onnx), Path(tmp))
        cal = q.create_calibrator(  # type: ignore[attr-defined]
            src, augmented_model_path=str(Path(tmp) / "augmented.onnx"), calibrate_method=q.CalibrationMethod.MinMax  # type: ignore[attr-defined]
        )
        cal.collect_data(_Reader(input_name, batches))
        ranges = cal.compute_data()
        tmp_table = Path(tmp) / "table.json"
        q.save_tensors_data(ranges, tmp_table)  # type: ignore[attr-defined]
        text = json.dumps(json.loads(tmp_table.read_text()), sort_keys=True, indent=0)
    return atomic_write(Path(table), lambda f: f.write(text.encode()))
