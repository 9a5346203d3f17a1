"""ONNX export of the PyTorch models and the onnxruntime backend, on real aligned faces of lfw-subset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from typer.testing import CliRunner

from faceprint.analyzer import FaceAnalyzer
from faceprint.cli.app import app
from faceprint.models import get_model_spec
from faceprint.models._weights import cache_dir
from faceprint.models.torch_embedder import INPUT_NAME, OUTPUT_NAME, TorchEmbedder, export_key

runner = CliRunner()
PHOTOS = ["Tony_Blair/Tony_Blair_0001.jpg", "Colin_Powell/Colin_Powell_0001.jpg", "Hugo_Chavez/Hugo_Chavez_0003.jpg"]


def _crops(embedder: TorchEmbedder, lfw_subset: Path) -> np.ndarray:
    """Real faces: MTCNN on lfw-subset photos, cropped the way `embedder` crops them."""
    from faceprint.analyzer import select_face

    analyzer = FaceAnalyzer(model=embedder)
    out = []
    for name in PHOTOS:
        img = analyzer.load(lfw_subset / name)
        out.append(embedder.align(img, select_face(analyzer.detector.detect(img), img.shape, "center")))
    return np.stack(out)


@pytest.fixture(scope="module")
def facenet_torch() -> TorchEmbedder:
    from conftest import fetched_weights

    from faceprint.models.facenet import FACENET_WEIGHTS, FaceNetEmbedder

    weights = fetched_weights(FACENET_WEIGHTS.filename)
    torch.set_num_threads(1)
    return FaceNetEmbedder(get_model_spec("facenet-inception-resnet-v1"), weights=weights, backend="torch", device="cpu")


def _run_onnx(path: Path, crops: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = sess.run([OUTPUT_NAME], {INPUT_NAME: crops.astype(np.float32)})
    return out


def test_cli_export_matches_torch(facenet_torch: TorchEmbedder, lfw_subset: Path, tmp_path: Path, with_weights: Path) -> None:
    """`faceprint models export`: the ONNX file (dynamic batch, preprocessing inside) agrees with PyTorch within 1e-4."""
    out = tmp_path / "facenet.onnx"
    result = runner.invoke(app, ["models", "export", "facenet-inception-resnet-v1", str(out)])
    assert result.exit_code == 0, result.output
    assert "crops" in result.output and out.is_file()
    crops = _crops(facenet_torch, lfw_subset)
    want = facenet_torch._forward(crops)  # the graph is one pass; faceprint adds the mirrored pass itself
    np.testing.assert_allclose(_run_onnx(out, crops), want, atol=1e-4)
    np.testing.assert_allclose(_run_onnx(out, crops[:1]), want[:1], atol=1e-4)  # another batch size, same graph


def test_onnx_backend_is_cached_and_agrees(facenet_torch: TorchEmbedder, lfw_subset: Path) -> None:
    """backend="onnx" exports once into the model cache, reuses the file, and gives PyTorch's embeddings."""
    onnx_emb = TorchEmbedder(facenet_torch.spec, facenet_torch.module, facenet_torch.preprocess, backend="onnx", device="cpu")
    crops = _crops(facenet_torch, lfw_subset)
    got = onnx_emb.embed(crops)
    assert got.model == "facenet-inception-resnet-v1"
    np.testing.assert_allclose(got.vectors, facenet_torch.embed(crops).vectors, atol=1e-4)
    path = onnx_emb.onnx_path()
    assert path.parent == cache_dir() / "onnx" and path.name.startswith("facenet-inception-resnet-v1-")
    stamp = path.stat().st_mtime_ns
    again = TorchEmbedder(facenet_torch.spec, facenet_torch.module, facenet_torch.preprocess, backend="onnx")
    assert again.onnx_path() == path and path.stat().st_mtime_ns == stamp


def test_any_torch_network_exports(lfw_subset: Path, tmp_path: Path) -> None:
    """The generic path on another architecture: OpenFace's nn4.small2 (untrained; weights do not matter for parity)."""
    from faceprint.models.checkpoint_model import get_architecture
    from faceprint.models.openface import preprocess

    torch.manual_seed(0)
    net = get_architecture("openface-nn4.small2-v1").build()
    emb = TorchEmbedder(get_model_spec("openface-nn4.small2-v1"), net, preprocess, device="cpu")
    crops = _crops_5point(emb, lfw_subset)
    path = emb.export_onnx(tmp_path / "nn4.onnx")
    np.testing.assert_allclose(_run_onnx(path, crops), emb.embed(crops).vectors, atol=1e-4)


def _crops_5point(emb: TorchEmbedder, lfw_subset: Path) -> np.ndarray:
    """96x96 crops by the base class's 5-point alignment (no 68-point landmarks needed)."""
    from faceprint.analyzer import select_face

    analyzer = FaceAnalyzer(model=emb)
    out = []
    for name in PHOTOS:
        img = analyzer.load(lfw_subset / name)
        out.append(TorchEmbedder.align(emb, img, select_face(analyzer.detector.detect(img), img.shape, "center")))
    return np.stack(out)


def test_export_refuses_what_is_not_one_network(tmp_path: Path) -> None:
    result = runner.invoke(app, ["models", "export", "ensemble:dlib-resnet-v1+facenet-inception-resnet-v1", str(tmp_path / "e.onnx")])
    assert result.exit_code == 3 and "single network" in result.output
    unknown = runner.invoke(app, ["models", "export", "resnet-9000", str(tmp_path / "x.onnx")])
    assert unknown.exit_code == 3 and "facenet-inception-resnet-v1" in unknown.output
    # issue 29: an output that is not .onnx is refused before any work (exit 14), its folder not created
    txt = runner.invoke(app, ["models", "export", "dlib-resnet-v1", str(tmp_path / "exp" / "dlib.txt")])
    assert txt.exit_code == 14 and ".onnx" in txt.stderr and "dlib.txt" in txt.stderr, txt.output
    assert not (tmp_path / "exp").exists()


def test_backend_and_device_are_checked(facenet_torch: TorchEmbedder) -> None:
    with pytest.raises(ValueError, match="backend"):
        TorchEmbedder(facenet_torch.spec, facenet_torch.module, facenet_torch.preprocess, backend="tflite")
    with pytest.raises(ValueError, match="device"):
        TorchEmbedder(facenet_torch.spec, facenet_torch.module, facenet_torch.preprocess, device="abacus")
    auto = TorchEmbedder(facenet_torch.spec, facenet_torch.module, facenet_torch.preprocess)
    assert auto.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    auto.module.to("cpu")


def test_export_cache_key_is_model_name_version_and_weights() -> None:
    """Same weights give the same key in every process; other weights or another model name give another."""
    import subprocess
    import sys

    def conv(seed: int) -> torch.nn.Module:
        torch.manual_seed(seed)
        return torch.nn.Conv2d(3, 4, 3)

    assert export_key("m", conv(0)) == export_key("m", conv(0))
    assert export_key("m", conv(0)) != export_key("m", conv(1))
    assert export_key("m", conv(0)) != export_key("other", conv(0))
    script = (
        "import torch\n"
        "from faceprint.models.torch_embedder import export_key\n"
        "torch.manual_seed(0)\n"
        "print(export_key('m', torch.nn.Conv2d(3, 4, 3)))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.strip()
    assert out == export_key("m", conv(0))
