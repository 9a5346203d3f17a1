"""`--model onnx:PATH`: a small ResNet built and exported here (random weights) stands in for insightface's models.

Checked: input size and normalisation read from the graph (both of insightface's conventions), preprocessing and
output against a reference written here, alignment onto the ArcFace template, $FACEPRINT_MODELS lookup, and that
`faceprint calibrate` stores a threshold for the model in the gallery.
"""

from __future__ import annotations

import json

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from faceprint.models.identity import model_identity
from faceprint.align import align_face, get_template
from faceprint.cli.app import app
from faceprint.errors import UnknownModel, WeightsError
from faceprint.models import create_embedder, get_model_spec
from faceprint.models.arcface_onnx import OnnxArcFaceEmbedder, read_graph_info

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
runner = CliRunner()
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.onnx.export (TorchScript exporter)


class _Block(torch.nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.c1 = torch.nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.b1 = torch.nn.BatchNorm2d(c)
        self.c2 = torch.nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.b2 = torch.nn.BatchNorm2d(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.b2(self.c2(torch.relu(self.b1(self.c1(x))))))


class TinyResNet(torch.nn.Module):
    """Stem, two residual blocks, global pooling, a 64-d linear head: the shape of an ArcFace network, much smaller."""

    def __init__(self, normalise_inside: bool) -> None:
        super().__init__()
        self.normalise_inside = normalise_inside
        self.stem = torch.nn.Conv2d(3, 16, 3, stride=2, padding=1)
        self.blocks = torch.nn.Sequential(_Block(16), torch.nn.MaxPool2d(2), _Block(16))
        self.fc = torch.nn.Linear(16, 64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.normalise_inside:  # as insightface's mxnet-converted models do: pixels 0..255 in
            x = (x - 127.5) * 0.0078125
        x = self.blocks(torch.relu(self.stem(x)))
        return self.fc(x.mean(dim=(2, 3)))


def _export(path: Path, normalise_inside: bool) -> TinyResNet:
    torch.manual_seed(0)
    net = TinyResNet(normalise_inside).eval()
    for m in net.modules():  # non-trivial batch-norm statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    torch.onnx.export(
        net, (torch.zeros(1, 3, 112, 112),), str(path), input_names=["input.1"], output_names=["fc1"],
        dynamic_axes={"input.1": {0: "N"}, "fc1": {0: "N"}}, opset_version=13, dynamo=False,
    )  # fmt: skip
    if normalise_inside:  # name the first nodes the way mxnet's converter does (insightface looks at the names)
        model = onnx.load(str(path))
        for node in model.graph.node[:8]:
            if node.op_type == "Sub":
                node.name = "_minusscalar0"
            if node.op_type == "Mul":
                node.name = "_mulscalar0"
        onnx.save(model, str(path))
    return net


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, TinyResNet]]:
    root = tmp_path_factory.mktemp("onnx-models")
    return {
        "plain": (root / "tiny_r8.onnx", _export(root / "tiny_r8.onnx", False)),
        "inside": (root / "tiny_mx.onnx", _export(root / "tiny_mx.onnx", True)),
    }


def _reference(net: TinyResNet, crops: np.ndarray, mean: float, std: float) -> np.ndarray:
    """What the embedder must return: (x - mean) / std, NCHW, the network, L2 normalisation; written out here."""
    x = torch.from_numpy(((crops.astype(np.float32) - mean) / std).transpose(0, 3, 1, 2).copy())
    with torch.no_grad():
        v = net(x).numpy()
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_graph_info_follows_insightface(models: dict[str, tuple[Path, TinyResNet]]) -> None:
    plain = read_graph_info(models["plain"][0])
    assert (plain.input_name, plain.input_size, plain.embedding_dim, plain.input_mean, plain.input_std) == ("input.1", 112, 64, 127.5, 127.5)
    inside = read_graph_info(models["inside"][0])
    assert (inside.input_size, inside.embedding_dim, inside.input_mean, inside.input_std) == (112, 64, 0.0, 1.0)


@pytest.mark.parametrize("kind", ["plain", "inside"])
def test_embeddings_match_the_reference(models: dict[str, tuple[Path, TinyResNet]], kind: str) -> None:
    path, net = models[kind]
    spec = get_model_spec(f"onnx:{path}")
    assert spec.name.startswith("onnx:") and spec.name.split("@")[0] == f"onnx:{path.stem}" and len(spec.name.split("@")[1]) == 12
    assert (spec.input_size, spec.embedding_dim, spec.metric, spec.template) == (112, 64, "cosine", "arcface-112")
    emb = create_embedder(f"onnx:{path}")
    assert isinstance(emb, OnnxArcFaceEmbedder)
    crops = np.random.default_rng(1).integers(0, 256, (5, 112, 112, 3), dtype=np.uint8)
    # the plain graph's reference normalises outside; the other network normalises itself, fed 0..255
    mean, std = (127.5, 127.5) if kind == "plain" else (0.0, 1.0)
    np.testing.assert_allclose(emb.embed(crops).vectors, _reference(net, crops, mean, std), atol=1e-5)
    assert get_model_spec(spec.name) is spec  # the resolved name works for the rest of the process


def test_alignment_uses_the_arcface_template(models: dict[str, tuple[Path, TinyResNet]], lfw_subset: Path, with_weights: Path) -> None:
    from faceprint.analyzer import FaceAnalyzer

    path = models["plain"][0]
    analyzer = FaceAnalyzer(model=f"onnx:{path}")
    image = analyzer.load(sorted(lfw_subset.glob("*/*.jpg"))[0])
    face = analyzer.detector.detect(image)[0]
    crop = analyzer.embedder.align(image, face)
    assert crop.shape == (112, 112, 3)
    np.testing.assert_array_equal(crop, align_face(image, face.landmarks_array(), get_template("arcface-112"), 112))


def test_models_folder_and_errors(models: dict[str, tuple[Path, TinyResNet]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = models["plain"][0]
    monkeypatch.setenv("FACEPRINT_MODELS", str(path.parent))
    assert get_model_spec("onnx:tiny_r8").name == get_model_spec(f"onnx:{path}").name
    with pytest.raises(WeightsError, match="not found"):
        get_model_spec("onnx:no_such_model")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(WeightsError, match="not a readable ONNX"):
        get_model_spec(f"onnx:{bad}")
    with pytest.raises(UnknownModel):
        get_model_spec("onnx:tiny_r8@000000000000")  # a resolved name this process never made


def test_a_resolved_name_means_the_file_named_last(models: dict[str, tuple[Path, TinyResNet]], tmp_path: Path) -> None:
    """Two copies of one file share a name (same content); the name builds from the copy named most recently, so a
    copy rewritten after it was named never stands behind the name again once another copy is named."""
    import shutil

    a, b = tmp_path / "a" / "tiny.onnx", tmp_path / "b" / "tiny.onnx"
    for p in (a, b):
        p.parent.mkdir()
        shutil.copyfile(models["plain"][0], p)
    first = get_model_spec(f"onnx:{a}")
    assert get_model_spec(first.name).weights_path == str(a.resolve())
    second = get_model_spec(f"onnx:{b}")
    assert second.name == first.name and get_model_spec(first.name).weights_path == str(b.resolve())
    assert get_model_spec(f"onnx:{a}") is first  # unchanged file: not read again
    assert get_model_spec(first.name) is first


def test_calibrate_stores_a_threshold(models: dict[str, tuple[Path, TinyResNet]], lfw_subset: Path, tmp_path: Path, with_weights: Path) -> None:
    """`faceprint calibrate` on labelled photos stores the model's threshold in the gallery."""
    folder = tmp_path / "people"
    for person in sorted(p for p in lfw_subset.iterdir() if p.is_dir())[:3]:
        (folder / person.name).mkdir(parents=True)
        for img in sorted(person.glob("*.jpg"))[:4]:
            (folder / person.name / img.name).symlink_to(img)
    path = models["plain"][0]
    gallery = tmp_path / "g.sqlite"
    res = runner.invoke(app, ["calibrate", str(folder), "-m", f"onnx:{path}", "--gallery", str(gallery), "--pair-far", "0.1", "--no-cache", "--json"])
    assert res.exit_code == 0, res.output
    name = get_model_spec(f"onnx:{path}").name
    with sqlite3.connect(gallery) as db:
        rows = dict(db.execute("SELECT key, value FROM settings").fetchall())
    assert json.loads(res.stdout)["setting"] == f"threshold:{model_identity(name).key}"
    assert 0.0 < float(rows[f"threshold:{model_identity(name).key}"]) < 2.0


def test_gallery_of_a_brought_model_reopens_in_a_new_process_by_name(
    models: dict[str, tuple[Path, TinyResNet]], lfw_subset: Path, tmp_path: Path
) -> None:
    """The stored name `onnx:<stem>@<sha12>` is enough for another process: the gallery kept the file's path."""
    import os
    import subprocess
    import sys

    import faceprint

    path = models["plain"][0]
    photos = sorted((lfw_subset / "Tony_Blair").glob("*.jpg"))[1:3]  # _0001: a second, cut-off face for YuNet
    gallery = tmp_path / "g.sqlite"
    with faceprint.Gallery(gallery, model=f"onnx:{path}") as g:
        assert g.enroll("Tony", photos).faces_enrolled == 2
        name = g.model
    script = f"import faceprint\nprint(faceprint.Gallery({str(gallery)!r}, model={name!r}, create=False).identify({str(photos[0])!r}, threshold=0.01)[0].person)\n"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Tony"
