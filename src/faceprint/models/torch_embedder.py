"""The common base of every PyTorch-backed embedder: an nn.Module, its preprocessing, and two backends.

`TorchEmbedder(spec, module, preprocess, backend="torch", device=None)` runs ``module(preprocess(x))`` without
gradients, in batches, where ``x`` is a float32 tensor (N, S, S, 3) of RGB pixel values in 0..255 made from the
validated uint8 crops. `preprocess` must be written with torch operations (it is traced into the ONNX export),
for example ``lambda x: x.permute(0, 3, 1, 2) / 255``.

Backends:

* ``"torch"``: the module itself, on ``device`` ("cpu", "cuda", or None: cuda when available, else cpu);
* ``"onnx"``: ``preprocess`` + ``module`` exported once to ONNX in the model cache
  (``cache_dir()/onnx/<model>-<hash>.onnx``, the hash covering the model's name, the weights and EXPORT_VERSION) and run with onnxruntime. The exported graph is the same one `export_onnx` writes: input ``crops``
  float32 (N, S, S, 3) RGB 0..255, output ``embeddings`` float32 (N, D), dynamic batch.
* ``"onnx-int8"``: that export quantised to int8 with the calibration table named `int8_table`
  (faceprint.models.quantize), on the CPU.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from faceprint._files import atomic_write
from faceprint.errors import MissingExtra, WeightsError
from faceprint.models._spec import ModelSpec
from faceprint.models._weights import cache_dir
from faceprint.models.base import Embedder

if TYPE_CHECKING:
    import torch
    from torch import nn

# torch is imported only when a model is built, so that listing models (importing their modules) stays cheap
# and works without the torch extra.

__all__ = ["BACKENDS", "EXPORT_VERSION", "INPUT_NAME", "OUTPUT_NAME", "Preprocess", "TorchEmbedder", "export_key", "export_onnx", "pipeline", "weights_digest"]

log = logging.getLogger(__name__)

BACKENDS = ("torch", "onnx", "onnx-int8")
INPUT_NAME = "crops"
OUTPUT_NAME = "embeddings"
EXPORT_VERSION = 2
"""Bump when the export, a network's code or a model's preprocessing changes, so cached .onnx files are rebuilt."""
_OPSET = 17

Preprocess = Callable[["torch.Tensor"], "torch.Tensor"]
"""float32 (N, S, S, 3) RGB 0..255 -> the tensor the network takes; torch operations only."""


def _torch() -> Any:
    """The torch module, or MissingExtra naming the extra to install."""
    try:
        import torch
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise MissingExtra("torch", "torch") from e
    return torch


def pipeline(module: nn.Module, preprocess: Preprocess) -> nn.Module:
    """preprocess followed by the network as one module: the graph that is exported, crops in, embeddings out."""
    torch = _torch()

    class Pipeline(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.module = module

        def forward(self, crops: torch.Tensor) -> torch.Tensor:
            return self.module(preprocess(crops))

    return Pipeline()


def weights_digest(module: nn.Module) -> str:
    """sha256 of a network's weights: every parameter and buffer by name, shape, dtype and bytes."""
    h = hashlib.sha256()
    for name, t in module.state_dict().items():
        h.update(f"{name}{tuple(t.shape)}{t.dtype}".encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def export_key(model_name: str, module: nn.Module) -> str:
    """The cached ONNX file's key: the model's name, EXPORT_VERSION and the weights' sha256.

    Data, not code: new weights (a retrained checkpoint) give a new export by themselves; a change to a network's
    code or to a model's preprocessing must bump EXPORT_VERSION, which rebuilds every export.
    """
    return hashlib.sha256(f"{model_name}|export v{EXPORT_VERSION}|{weights_digest(module)}".encode()).hexdigest()


def export_onnx(
    module: nn.Module, preprocess: Preprocess, input_size: int, out: str | os.PathLike[str], doc: str = ""
) -> Path:
    """Write ``preprocess`` + ``module`` as one ONNX graph with a dynamic batch axis (atomically; returns the path).

    Input ``crops``: float32 (N, S, S, 3) RGB in 0..255; output ``embeddings``: float32 (N, D).
    """
    try:
        import onnx
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise MissingExtra("onnx", "onnx") from e
    torch = _torch()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    pipe = pipeline(module, preprocess).to("cpu").eval()
    dummy = torch.zeros(2, input_size, input_size, 3, dtype=torch.float32)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # Python numbers computed from the (fixed) image size are traced as constants; only the batch is dynamic.
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
            # We choose the TorchScript exporter on purpose (the torch.export one needs onnxscript); its notices
            # about that, and about Slice steps it cannot fold, say nothing about the result.
            warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export", category=DeprecationWarning)
            warnings.filterwarnings("ignore", message="The feature will be removed", category=DeprecationWarning)
            warnings.filterwarnings("ignore", message="Constant folding - Only steps=1", category=UserWarning)
            torch.onnx.export(
                pipe,
                (dummy,),
                tmp,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: {0: "N"}, OUTPUT_NAME: {0: "N"}},
                opset_version=_OPSET,
                do_constant_folding=True,
                dynamo=False,  # the TorchScript exporter: needs no onnxscript
            )
        model = onnx.load(tmp)
        if doc:
            model.doc_string = doc
        onnx.checker.check_model(model)
        atomic_write(out, lambda f: f.write(model.SerializeToString()))
    finally:
        Path(tmp).unlink(missing_ok=True)
    return out


def _auto_device(device: str | None) -> torch.device:
    torch = _torch()
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as e:
        raise ValueError(f"unknown device {device!r}; choose cpu or cuda") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but torch sees no CUDA device")
    return dev


class TorchEmbedder(Embedder):
    """An Embedder around a PyTorch module: batched no-grad forward on cpu/cuda, or the same graph under onnxruntime.

    Args:
        spec: the model's registry record (input size, embedding size, metric, alignment).
        module: the network; put in eval mode here. Output (N, spec.embedding_dim).
        preprocess: float32 (N, S, S, 3) RGB 0..255 -> network input, in torch operations.
        backend: "torch" or "onnx" (see the module docstring).
        device: "cpu", "cuda" or None (cuda when available). The onnx backend uses CUDA only when device is cuda
            and onnxruntime has the CUDA provider.
        int8_table: the calibration table of the "onnx-int8" backend (required by it, ignored by the others).

    >>> emb = TorchEmbedder(spec, net, lambda x: x.permute(0, 3, 1, 2) / 255)   # doctest: +SKIP
    >>> emb.embed(crops).vectors.shape                                            # doctest: +SKIP
    (4, 128)
    """

    def __init__(
        self,
        spec: ModelSpec,
        module: nn.Module,
        preprocess: Preprocess,
        backend: str = "torch",
        device: str | None = None,
        int8_table: str | None = None,
    ) -> None:
        super().__init__(spec)
        self._torch = _torch()
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        if backend == "onnx-int8" and int8_table is None:
            raise ValueError("the onnx-int8 backend needs int8_table, the name of a calibration table")
        self.int8_table = int8_table
        self.backend = backend
        self.device = _auto_device(device)
        self.preprocess = preprocess
        self.module = module.to(self.device).eval()
        self._session: Any = None
        self._onnx_path: Path | None = None

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        if self.backend in ("onnx", "onnx-int8"):
            return self._forward_onnx(batch)
        torch = self._torch
        with torch.inference_mode():
            x = torch.from_numpy(batch).to(self.device, non_blocking=True).float()
            out = self.module(self.preprocess(x))
        return out.float().cpu().numpy()

    # -- ONNX ---------------------------------------------------------------------------------------------------

    def export_onnx(self, out: str | os.PathLike[str]) -> Path:
        """Write this model (preprocessing included) to `out` as ONNX with a dynamic batch axis."""
        try:
            return export_onnx(self.module, self.preprocess, self.spec.input_size, out, doc=f"faceprint {self.name}")
        finally:
            self.module.to(self.device)  # the export runs on the cpu

    def onnx_path(self) -> Path:
        """The cached ONNX export of this module, written on first use (cache_dir()/onnx/<name>-<digest>.onnx)."""
        if self._onnx_path is None:
            digest = export_key(self.name, self.module)
            path = cache_dir() / "onnx" / f"{self.name}-{digest[:16]}.onnx"
            if not (path.is_file() and path.stat().st_size > 0):
                log.info("exporting %s to %s", self.name, path)
                self.export_onnx(path)
            self._onnx_path = path
        return self._onnx_path

    def _forward_onnx(self, batch: np.ndarray) -> np.ndarray:
        if self._session is None:
            import onnxruntime as ort

            path = self.onnx_path()
            if self.backend == "onnx-int8":
                from faceprint.models.quantize import calibration_table, int8_onnx

                assert self.int8_table is not None
                path = int8_onnx(path, calibration_table(self.int8_table))
            providers = ["CPUExecutionProvider"]
            if self.backend == "onnx" and self.device.type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
                providers.insert(0, "CUDAExecutionProvider")
            opts = ort.SessionOptions()
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            opts.inter_op_num_threads = 1
            threads = self._torch.get_num_threads()
            if threads > 0:
                opts.intra_op_num_threads = threads  # follow torch.set_num_threads, so both backends share a budget
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")  # leave idle cores to the pipeline
            try:
                self._session = ort.InferenceSession(str(path), sess_options=opts, providers=providers)
            except Exception as e:
                raise WeightsError(f"onnxruntime cannot load {path}: {e}") from e
        (out,) = self._session.run([OUTPUT_NAME], {INPUT_NAME: batch.astype(np.float32)})
        return out
