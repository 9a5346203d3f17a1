"""ArcFace-format recognition models that a user brings as ONNX files: ``--model onnx:PATH``.

The strongest public face models (insightface's ``w600k_r50.onnx``, ``glintr100.onnx``, ``w600k_mbf.onnx``;
OpenCV Zoo's SFace) cannot be downloaded here, but users have them. Any ONNX network that takes an (N, 3, S, S)
face crop aligned to the ArcFace five-point template and returns (N, D) embeddings works:

* ``onnx:PATH`` names the file; ``onnx:NAME`` also finds ``NAME`` or ``NAME.onnx`` in the folder named by
  ``$FACEPRINT_MODELS``;
* the input size comes from the graph's input shape; the normalisation is read from the graph as insightface's
  model zoo does (``ArcFaceONNX``): when the first eight nodes include both a subtraction (``Sub``/``_minus``) and
  a multiplication (``Mul``/``_mul``), the network normalises itself and takes pixels 0..255 (mean 0, std 1);
  otherwise it takes (x - 127.5) / 127.5. Channels are RGB, layout NCHW;
* faces are aligned onto the ArcFace 112x112 template (scaled to S), embeddings are L2-normalised and compared by
  cosine distance;
* the model is named ``onnx:<file stem>@<first 12 hex digits of the file's sha256>``, so galleries and caches keep
  a retrained or replaced file apart from the old one.

Its threshold is not known in advance: `faceprint calibrate DIR -m onnx:PATH` sets it on your labelled photos
(stored in the gallery, used by `identify`). Until then verification uses UNCALIBRATED_THRESHOLD and a warning
says so.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceprint.errors import WeightsError
from faceprint.models._names import ONNX_PREFIX
from faceprint.models._spec import ModelSpec
from faceprint.models._weights import sha256_file
from faceprint.models.base import Embedder

__all__ = ["PREFIX", "OnnxGraphInfo", "OnnxArcFaceEmbedder", "find_onnx", "read_graph_info", "onnx_model_spec"]

log = logging.getLogger(__name__)

PREFIX = ONNX_PREFIX
TEMPLATE = "arcface-112"
UNCALIBRATED_THRESHOLD = 0.7
"""Cosine distance used before `faceprint calibrate` has set a threshold for the model (a warning says so)."""


@dataclass(frozen=True)
class OnnxGraphInfo:
    """What the graph says about how to feed it."""

    input_name: str
    input_size: int
    embedding_dim: int
    input_mean: float
    input_std: float


def read_graph_info(path: str | os.PathLike[str]) -> OnnxGraphInfo:
    """Input name and size, embedding size and pixel normalisation of a recognition ONNX (insightface's rule)."""
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:
        raise WeightsError(f"{path}: not a readable ONNX model: {e}") from e
    graph = model.graph
    inits = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in inits]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise WeightsError(f"{path}: expected one input and one output, got {len(inputs)} and {len(graph.output)}")
    dims = [d.dim_value if d.HasField("dim_value") else None for d in inputs[0].type.tensor_type.shape.dim]
    if len(dims) != 4 or dims[1] != 3 or dims[2] is None or dims[2] != dims[3]:
        raise WeightsError(f"{path}: expected an input of shape (N, 3, S, S), got {dims}")
    out = [d.dim_value if d.HasField("dim_value") else None for d in graph.output[0].type.tensor_type.shape.dim]
    if len(out) != 2 or not out[1]:
        raise WeightsError(f"{path}: expected an output of shape (N, D), got {out}")
    find_sub = find_mul = False
    for node in graph.node[:8]:
        if node.name.startswith(("Sub", "_minus")):
            find_sub = True
        if node.name.startswith(("Mul", "_mul")):
            find_mul = True
    mean, std = (0.0, 1.0) if find_sub and find_mul else (127.5, 127.5)
    return OnnxGraphInfo(inputs[0].name, int(dims[2]), int(out[1]), mean, std)


class OnnxArcFaceEmbedder(Embedder):
    """Runs a user's ArcFace-format ONNX on the CPU (onnxruntime): aligned RGB crops -> L2-normalised embeddings."""

    def __init__(self, spec: ModelSpec, path: str | os.PathLike[str], info: OnnxGraphInfo) -> None:
        super().__init__(spec)
        import onnxruntime as ort

        from faceprint._cores import available_cores

        self.path = Path(path)
        self.info = info
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.inter_op_num_threads = 1
        opts.intra_op_num_threads = available_cores()
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as e:
            raise WeightsError(f"onnxruntime cannot load {path}: {e}") from e
        log.warning(
            "%s: verification threshold %.2f is a placeholder until `faceprint calibrate DIR -m onnx:%s` sets one",
            spec.name, spec.threshold, path,
        )  # fmt: skip

    def preprocess(self, batch: np.ndarray) -> np.ndarray:
        """uint8 (N, S, S, 3) RGB -> float32 (N, 3, S, S), (x - mean) / std as the graph expects."""
        x = (batch.astype(np.float32) - np.float32(self.info.input_mean)) / np.float32(self.info.input_std)
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        (out,) = self.session.run(None, {self.info.input_name: self.preprocess(batch)})
        out = np.asarray(out, np.float32).reshape(len(batch), -1)
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def find_onnx(ref: str) -> Path:
    """The file an ``onnx:REF`` name points to: a path, else REF or REF.onnx in $FACEPRINT_MODELS."""
    p = Path(ref).expanduser()
    if p.is_file():
        return p.resolve()
    folder = os.environ.get("FACEPRINT_MODELS")
    if folder:
        for cand in (Path(folder).expanduser() / ref, Path(folder).expanduser() / f"{ref}.onnx"):
            if cand.is_file():
                return cand.resolve()
    where = f" or in $FACEPRINT_MODELS ({folder})" if folder else " (set $FACEPRINT_MODELS to name a models folder)"
    raise WeightsError(f"ONNX model {ref!r} not found as a file{where}")


def onnx_model_spec(path: str | os.PathLike[str]) -> ModelSpec:
    """The ModelSpec of an ArcFace-format ONNX file (`find_onnx` finds it from an ``onnx:`` name); reads the graph
    and hashes the file on every call (the registry keeps what it resolved while the file is unchanged)."""
    path = str(Path(path).resolve())
    info = read_graph_info(path)
    sha = sha256_file(path)
    name = f"{PREFIX}{Path(path).stem}@{sha[:12]}"
    norm = "0..255 (the graph normalises)" if info.input_std == 1.0 else "(x - 127.5) / 127.5"
    return ModelSpec(
        name=name,
        family="onnx",
        input_size=info.input_size,
        template=TEMPLATE,
        padding=0.0,
        preprocess=f"RGB {info.input_size}x{info.input_size} NCHW, {norm}; read from the graph",
        embedding_dim=info.embedding_dim,
        metric="cosine",
        threshold=UNCALIBRATED_THRESHOLD,
        weights=None,
        weights_sha256=sha,
        weights_path=path,
        builder=lambda spec: OnnxArcFaceEmbedder(spec, path, info),
        description=f"ArcFace-format ONNX brought by the user ({path}); threshold: run faceprint calibrate",
    )
