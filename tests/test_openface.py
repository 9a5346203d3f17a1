"""OpenFace nn4.small2: the architecture, its two weight loaders, OpenFace alignment and the registry entry.

The Keras-OpenFace CSV export in ../shared lacks five files, so no pretrained embedding can be checked. Instead:
every CSV present must fit its parameter exactly; the loaded layers must reproduce, on real OpenFace-aligned LFW
faces, the batch statistics recorded in their own batch norms (which checks weight layout, RGB order, [0, 1]
scaling, LRN, L2 pooling and the concatenation order up to inception 3c); and the Torch7 loader reads .t7 files
written here by a minimal Torch7 serialiser, parsed by torchfile.
"""

from __future__ import annotations

import re

import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from faceprint.align.affine import openface_affine, openface_align
from faceprint.align.templates import OPENFACE_OUTER_EYES_AND_NOSE, openface_template_points
from faceprint.errors import WeightsError
from faceprint.image import load_image
from faceprint.models import get_model_spec, list_models
from faceprint.models import openface as of
from faceprint.models._openface_csv import CSV_DUPLICATES, csv_parameter_map, csv_state_dict, missing_csv_files
from faceprint.models._torch7 import t7_state_dict
from faceprint.models.nn4_small2 import NUM_PARAMETERS, NN4Small2

MISSING = [
    "inception_3c_3x3_conv2_w.csv",
    "inception_4e_3x3_conv2_w.csv",
    "inception_5a_1x1_conv_w.csv",
    "inception_5a_3x3_conv2_w.csv",
    "inception_5b_3x3_conv2_w.csv",
]


@pytest.fixture(scope="module")
def csv_dir(shared_dir: Path) -> Path:
    return shared_dir / "weights" / "openface-nn4.small2.v1-csv"


@pytest.fixture(scope="module")
def partial_state(csv_dir: Path) -> dict[str, np.ndarray]:
    return csv_state_dict(csv_dir, allow_missing=True)


@pytest.fixture(scope="module")
def aligned_faces(lfw_subset: Path) -> tuple[np.ndarray, list[np.ndarray]]:
    """OpenFace crops of one photo of each of the 10 lfw-subset people (dlib HOG box, 68 landmarks)."""
    from faceprint.detect.dlib_hog import DlibHOGDetector

    det = DlibHOGDetector(landmarks="68")
    crops, faces = [], []
    for person in sorted(p for p in lfw_subset.iterdir() if p.is_dir()):
        img = load_image(sorted(person.glob("*.jpg"))[0])
        face = max(det.detect(img), key=lambda f: f.area)
        shape = det.shape68(img, face)
        crops.append(openface_align(img, shape))
        faces.append((face, shape))
    return np.stack(crops), faces


def _randomised(seed: int = 0) -> NN4Small2:
    """An untrained net with random batch-norm statistics and affine terms, so that mix-ups change its output."""
    torch.manual_seed(seed)
    net = NN4Small2()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    return net.eval()


# -- architecture ------------------------------------------------------------------------------------------------


def test_parameter_count_is_openfaces() -> None:
    net = NN4Small2()
    assert sum(p.numel() for p in net.parameters()) == NUM_PARAMETERS == 3_733_968


def test_untrained_forward_gives_unit_128d_embeddings() -> None:
    net = NN4Small2().eval()
    x = torch.rand(3, 3, 96, 96)
    with torch.no_grad():
        y = net(x)
    assert y.shape == (3, 128)
    np.testing.assert_allclose(y.norm(dim=1).numpy(), 1.0, atol=1e-5)
    assert not torch.allclose(y[0], y[1])  # different faces, different embeddings
    with pytest.raises(ValueError, match="96"):
        net(torch.rand(1, 3, 112, 112))


def test_l2_pooling_trains_without_nan() -> None:
    """All-zero pooling windows (after ReLU and padding) must not turn gradients into NaN."""
    net = NN4Small2().train()
    x = torch.rand(2, 3, 96, 96)
    x[0] = 0.0
    loss = net(x)[:, 0].sum()
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)


# -- the Keras-OpenFace CSV directory ----------------------------------------------------------------------------


def test_every_csv_file_fits_a_parameter_exactly(csv_dir: Path, partial_state: dict[str, np.ndarray]) -> None:
    mapping = csv_parameter_map()
    assert len(mapping) == 224  # 37 conv (w, b) + 37 batch norm (w, b, m, v) + dense (w, b)
    net_state = NN4Small2().state_dict()
    files = sorted(csv_dir.glob("*.csv"))
    assert len(files) == 221
    for f in files:
        key = mapping.get(f.stem) or mapping[CSV_DUPLICATES[f.stem]]
        n_values = len([v for v in f.read_text().split(",") if v.strip()])
        assert n_values == net_state[key].numel(), f.name
        assert partial_state[key].shape == tuple(net_state[key].shape), f.name
    assert len(partial_state) == 224 - 5
    # loading them puts each file's values, in file order, into its parameter
    net = NN4Small2()
    net.load_state_dict({k: torch.from_numpy(v) for k, v in partial_state.items()}, strict=False)
    first = [float(v) for v in (csv_dir / "inception_4a_3x3_conv2_w.csv").read_text().split(",")[:5]]
    np.testing.assert_allclose(net.inception_4a.columns["3x3"].conv.conv.weight.detach().numpy().reshape(-1)[:5], first, rtol=1e-6)
    assert (partial_state["conv1.bn.running_var"] > 0).all()


def test_missing_files_are_all_named(csv_dir: Path) -> None:
    assert missing_csv_files(csv_dir) == MISSING
    with pytest.raises(WeightsError) as info:
        csv_state_dict(csv_dir)
    for name in MISSING:
        assert name in str(info.value)
    with pytest.raises(WeightsError, match="inception_5a_1x1_conv_w.csv"):
        of.load_openface(csv_dir)


def test_bad_csv_files_are_refused(tmp_path: Path, csv_dir: Path) -> None:
    (tmp_path / "conv1_b.csv").write_text("1,2,3")
    with pytest.raises(WeightsError, match="3 values"):
        csv_state_dict(tmp_path, allow_missing=True)
    (tmp_path / "conv1_b.csv").write_text((csv_dir / "conv1_b.csv").read_text())
    (tmp_path / "conv9_w.csv").write_text("1")
    with pytest.raises(WeightsError, match="conv9_w.csv"):
        csv_state_dict(tmp_path, allow_missing=True)


def test_loaded_layers_reproduce_their_batch_statistics(partial_state: dict[str, np.ndarray], aligned_faces) -> None:
    """Each loaded batch norm sees, on OpenFace-aligned LFW faces, inputs whose per-channel mean and variance
    follow its recorded running statistics. A transposed (Keras-order) kernel, BGR or 0..255 input, or a wrong
    column order in the inception concatenation breaks this (checked by hand: r falls to 0.0-0.86)."""
    crops, _ = aligned_faces
    net = NN4Small2().eval()
    net.load_state_dict({k: torch.from_numpy(v) for k, v in partial_state.items()}, strict=False)
    seen: dict[str, tuple[float, float]] = {}

    def hook(name: str) -> Any:
        def record(module: torch.nn.BatchNorm2d, inputs: tuple[torch.Tensor], _: torch.Tensor) -> None:
            a = inputs[0]
            r_mean = np.corrcoef(a.mean((0, 2, 3)).numpy(), module.running_mean.numpy())[0, 1]
            r_var = np.corrcoef(np.log(a.var((0, 2, 3)).numpy() + 1e-12), np.log(module.running_var.numpy()))[0, 1]
            seen[name] = (float(r_mean), float(r_var))

        return record

    # every batch norm whose whole input path has weights: the stem, 3a, 3b, and 3c's 3x3 reduce and 5x5 column
    checked = [n for n, m in net.named_modules() if isinstance(m, torch.nn.BatchNorm2d)]
    checked = checked[: checked.index("inception_3c.columns.5x5.conv.bn") + 1]
    checked.remove("inception_3c.columns.3x3.conv.bn")
    modules = dict(net.named_modules())
    for name in checked:
        modules[name].register_forward_hook(hook(name))
    with torch.no_grad():
        net.features(of.preprocess(torch.from_numpy(crops).float()))
    assert len(seen) == len(checked) == 18
    for name, (r_mean, r_var) in seen.items():
        assert r_mean > 0.93 and r_var > 0.95, (name, r_mean, r_var)
    assert np.median([r for r, _ in seen.values()]) > 0.97


# -- the Torch7 file ---------------------------------------------------------------------------------------------


class _T7:
    """A Torch class instance to serialise: class name and its fields (a Lua table)."""

    def __init__(self, typename: str, **fields: Any) -> None:
        self.typename, self.fields = typename, fields


class _T7Writer:
    """Minimal Torch7 binary serialiser (torch.save's format, 64-bit little-endian longs) for nil, booleans,
    numbers, strings, tables, float tensors and class instances: enough for an nn module tree."""

    def __init__(self, f: Any) -> None:
        self.f, self.index = f, 0

    def _i(self, v: int) -> None:
        self.f.write(struct.pack("<i", v))

    def _q(self, v: int) -> None:
        self.f.write(struct.pack("<q", v))

    def _s(self, s: str) -> None:
        b = s.encode()
        self._i(len(b))
        self.f.write(b)

    def _ref(self, torch_type: int) -> None:
        self.index += 1
        self._i(torch_type)
        self._i(self.index)

    def write(self, o: Any) -> None:
        if o is None:
            self._i(0)
        elif isinstance(o, bool):
            self._i(5)
            self._i(int(o))
        elif isinstance(o, (int, float)):
            self._i(1)
            self.f.write(struct.pack("<d", float(o)))
        elif isinstance(o, str):
            self._i(2)
            self._s(o)
        elif isinstance(o, np.ndarray):
            a = np.ascontiguousarray(o, dtype=np.float32)
            self._ref(4)
            self._s("V 1")
            self._s("torch.FloatTensor")
            self._i(a.ndim)
            for d in a.shape:
                self._q(d)
            for st in a.strides:
                self._q(st // 4)
            self._q(1)  # storage offset, 1-based
            self._ref(4)
            self._s("V 1")
            self._s("torch.FloatStorage")
            self._q(a.size)
            self.f.write(a.tobytes())
        elif isinstance(o, _T7):
            self._ref(4)
            self._s("V 1")
            self._s(o.typename)
            self.write(o.fields)
        elif isinstance(o, (dict, list)):
            items = list(o.items()) if isinstance(o, dict) else [(i + 1, v) for i, v in enumerate(o)]
            self._ref(3)
            self._i(len(items))
            for k, v in items:
                self.write(k)
                self.write(v)
        else:
            raise TypeError(type(o))


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy().copy()


def _t7_conv(m: Any, legacy: bool) -> _T7:
    conv = m.conv
    w = _np(conv.weight)
    return _T7(
        "nn.SpatialConvolutionMM" if legacy else "nn.SpatialConvolution",
        nInputPlane=conv.in_channels, nOutputPlane=conv.out_channels,
        kW=conv.kernel_size[1], kH=conv.kernel_size[0], dW=conv.stride[1], dH=conv.stride[0],
        padW=conv.padding[1], padH=conv.padding[0],
        weight=w.reshape(w.shape[0], -1) if legacy else w, bias=_np(conv.bias), train=False,
    )


def _t7_bn(m: Any, legacy: bool) -> _T7:
    bn = m.bn
    fields: dict[str, Any] = dict(eps=1e-5, momentum=0.1, affine=True, weight=_np(bn.weight), bias=_np(bn.bias), running_mean=_np(bn.running_mean))
    if legacy:  # old nn: running_std = 1 / sqrt(var + eps), with eps 1e-3 here to check the conversion
        fields["eps"] = 1e-3
        var = _np(bn.running_var).astype(np.float64) + bn.eps - 1e-3
        fields["running_std"] = (1.0 / np.sqrt(var + 1e-3)).astype(np.float32)
    else:
        fields["running_var"] = _np(bn.running_var)
    return _T7("nn.SpatialBatchNormalization", **fields)


def _seq(*modules: _T7) -> _T7:
    return _T7("nn.Sequential", modules=list(modules), train=False)


def _t7_tree(net: NN4Small2, legacy: bool = False) -> _T7:
    """nn4.small2 as OpenFace's .def.lua builds it (dpnn Inception -> DepthConcat -> column Sequentials)."""
    relu = lambda: _T7("nn.ReLU", inplace=False)  # noqa: E731
    cbr = lambda m: [_t7_conv(m, legacy), _t7_bn(m, legacy), relu()]  # noqa: E731
    lrn = lambda: _T7("nn.SpatialCrossMapLRN", size=5, alpha=1e-4, beta=0.75, k=1)  # noqa: E731

    def pool(layer: Any) -> _T7:
        if isinstance(layer, torch.nn.MaxPool2d):
            return _T7("nn.SpatialMaxPooling", kW=3, kH=3, dW=layer.stride, dH=layer.stride, padW=0, padH=0)
        return _T7("nn.SpatialLPPooling", modules=[_T7("nn.Square"), _T7("nn.SpatialAveragePooling", kW=3, kH=3, dW=3, dH=3), _T7("nn.MulConstant", constant_scalar=9), _T7("nn.Sqrt", eps=0)])

    def inception(block: Any) -> _T7:
        columns = []
        for key, col in block.columns.items():
            if key == "pool":
                mods = [pool(col.pool)] + (cbr(col.proj) if hasattr(col, "proj") else [])
            elif key == "1x1":
                mods = cbr(col)
            else:
                mods = cbr(col.reduce) + cbr(col.conv)
            columns.append(_seq(*mods))
        return _T7("nn.Inception", modules=[_T7("nn.DepthConcat", dimension=2, modules=columns)])

    mods = [*cbr(net.conv1), _T7("nn.SpatialMaxPooling", kW=3, kH=3, dW=2, dH=2, padW=1, padH=1), lrn()]
    mods += [*cbr(net.conv2), *cbr(net.conv3), lrn(), _T7("nn.SpatialMaxPooling", kW=3, kH=3, dW=2, dH=2, padW=1, padH=1)]
    for name in ("3a", "3b", "3c", "4a", "4e", "5a"):
        mods.append(inception(getattr(net, f"inception_{name}")))
    mods += [_T7("nn.Reshape", size=[736, 3, 3]), inception(net.inception_5b), _T7("nn.SpatialAveragePooling", kW=3, kH=3, dW=3, dH=3)]
    mods += [_T7("nn.View", size=[736]), _T7("nn.Linear", weight=_np(net.linear.weight), bias=_np(net.linear.bias)), _T7("nn.Normalize", p=2, eps=1e-10)]
    return _seq(*mods)


def _write_t7(tree: _T7, path: Path) -> Path:
    with open(path, "wb") as f:
        _T7Writer(f).write(tree)
    return path


@pytest.mark.parametrize("legacy", [False, True], ids=["nn", "legacy-nn"])
def test_t7_loader_reads_an_openface_module_tree(tmp_path: Path, legacy: bool) -> None:
    src = _randomised(1)
    path = _write_t7(_t7_tree(src, legacy), tmp_path / "nn4.small2.t7")
    net = of.load_weights(NN4Small2(), path).eval()
    for key, value in src.state_dict().items():
        if not key.endswith("num_batches_tracked"):
            np.testing.assert_allclose(net.state_dict()[key].numpy(), value.numpy(), rtol=1e-5, atol=1e-6, err_msg=key)
    x = torch.rand(2, 3, 96, 96)
    with torch.no_grad():
        np.testing.assert_allclose(net(x).numpy(), src(x).numpy(), atol=1e-5)


def test_t7_loader_refuses_another_architecture(tmp_path: Path) -> None:
    tree = _t7_tree(_randomised(2))
    inception_3a = tree.fields["modules"][13]
    inception_3a.fields["modules"][0].fields["modules"][0].fields["modules"][3].fields["kW"] = 5  # its 3x3 conv
    with pytest.raises(WeightsError, match="kW"):
        t7_state_dict(_write_t7(tree, tmp_path / "wrong.t7"))
    del tree.fields["modules"][0:3]  # no conv1
    with pytest.raises(WeightsError, match="layers"):
        t7_state_dict(_write_t7(tree, tmp_path / "short.t7"))
    (tmp_path / "junk.t7").write_bytes(b"\x07\x00\x00")
    with pytest.raises(WeightsError, match="Torch7"):
        t7_state_dict(tmp_path / "junk.t7")


# -- alignment, registry and the embedder ------------------------------------------------------------------------


def test_openface_alignment_puts_eyes_and_nose_on_the_template(lfw_subset: Path, aligned_faces) -> None:
    """Paint a red, a green and a blue dot on dlib's outer eye corners and nose in real LFW photos, align, and
    find the dots in the 96x96 crops: they sit where OpenFace's template puts those points."""
    from faceprint.detect.dlib_hog import DlibHOGDetector

    DlibHOGDetector(landmarks="68")  # builds: the 68-point predictor is there
    want = openface_template_points(OPENFACE_OUTER_EYES_AND_NOSE, 96)
    colours = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255]], np.uint8)
    _, faces = aligned_faces
    people = sorted(p for p in lfw_subset.iterdir() if p.is_dir())
    errors = []
    for person, (_, shape) in zip(people, faces):
        img = load_image(sorted(person.glob("*.jpg"))[0]).copy()
        points = shape[list(OPENFACE_OUTER_EYES_AND_NOSE)]
        for (x, y), colour in zip(points, colours):
            xi, yi = int(round(x)), int(round(y))
            img[yi - 1 : yi + 2, xi - 1 : xi + 2] = colour
        # landmarks from the unpainted photo (the dots sit on them), so the crop is the real OpenFace crop
        crop = openface_align(img, shape).astype(np.int32)
        for colour, target in zip(colours, want):
            on = colour > 0
            mask = (crop[..., on] > 150).all(-1) & (crop[..., ~on] < 90).all(-1)
            # look within 10 px of the target (some photos have saturated colours elsewhere): a dot farther
            # away than that is not found, and fails the test
            yy, xx = np.mgrid[0:96, 0:96]
            mask &= np.hypot(xx - target[0], yy - target[1]) <= 10
            assert mask.sum() >= 4, (person.name, colour)
            ys, xs = np.nonzero(mask)
            # the dot was painted on the pixel nearest the landmark: allow that rounding (<= 0.71 px, scaled)
            errors.append(float(np.hypot(xs.mean() - target[0], ys.mean() - target[1])))
    assert len(errors) == 30
    assert np.median(errors) < 1.0 and max(errors) < 2.0, np.round(errors, 2)


def test_openface_affine_is_exact_on_its_three_points(aligned_faces) -> None:
    _, faces = aligned_faces
    shape = faces[0][1]
    m = openface_affine(shape)
    src = shape[list(OPENFACE_OUTER_EYES_AND_NOSE)]
    np.testing.assert_allclose(src @ m[:, :2].T + m[:, 2], openface_template_points(), atol=1e-3)


def test_registry_entry_and_unusable_without_weights(monkeypatch: pytest.MonkeyPatch, csv_dir: Path) -> None:
    assert "openface-nn4.small2-v1" in list_models()
    spec = get_model_spec("openface-nn4.small2-v1")
    assert (spec.input_size, spec.embedding_dim, spec.metric, spec.template) == (96, 128, "euclidean", "openface-96")
    monkeypatch.delenv(of.WEIGHTS_ENV, raising=False)
    assert spec.weights is not None and not spec.weights.present() and not of.weights_available()
    with pytest.raises(WeightsError, match=of.WEIGHTS_ENV):
        spec.builder(spec)
    monkeypatch.setenv(of.WEIGHTS_ENV, str(csv_dir))  # the incomplete export: still unusable, and says why
    assert not of.weights_available()
    assert all(name in of.weights_status() for name in MISSING)
    with pytest.raises(WeightsError, match="inception_3c_3x3_conv2_w.csv"):
        spec.builder(spec)


def test_models_list_marks_openface_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from faceprint.cli.app import app

    monkeypatch.delenv(of.WEIGHTS_ENV, raising=False)
    result = CliRunner().invoke(app, ["models", "list"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    # The model's own row (an ensemble or checkpoint built earlier in this process may name it too).
    row = next(line for line in result.output.splitlines() if re.search(r"(^|[│|])\s*openface-nn4\.small2-v1\s*([│|]|$)", line))
    assert "missing" in row and "present" not in row


def test_embedder_with_supplied_t7(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lfw_subset: Path) -> None:
    """Weights through $FACEPRINT_OPENFACE_WEIGHTS: the model becomes usable and embeds real photos end to end."""
    from faceprint.analyzer import FaceAnalyzer

    src = _randomised(3)
    path = _write_t7(_t7_tree(src), tmp_path / "nn4.small2.v1.t7")
    monkeypatch.setenv(of.WEIGHTS_ENV, str(path))
    assert of.weights_available()
    with pytest.raises(WeightsError, match="md5"):
        of.OPENFACE_WEIGHTS.locate(verify=True)  # not OpenFace's published file
    spec = get_model_spec("openface-nn4.small2-v1")
    emb = spec.builder(spec)
    analyzer = FaceAnalyzer(emb, detector="dlib-hog")
    photos = sorted((lfw_subset / "Colin_Powell").glob("*.jpg"))[:2]
    vectors = np.concatenate([analyzer.embed_one(p).embedding.vectors for p in photos])
    assert vectors.shape == (2, 128)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # the same crops through the source network give the same vectors
    img = load_image(photos[0])
    face = analyzer.detector.detect(img)[0]
    crop = emb.align(img, face)
    with torch.no_grad():
        ref = src(of.preprocess(torch.from_numpy(crop[None]).float())).numpy()
    np.testing.assert_allclose(emb.embed(crop).vectors, ref, atol=1e-5)


def test_onnx_backend_agrees_with_torch(aligned_faces) -> None:
    crops, _ = aligned_faces
    spec = get_model_spec("openface-nn4.small2-v1")
    net = _randomised(4)
    a = of.OpenFaceEmbedder(spec, module=net, backend="torch").embed(crops[:4]).vectors
    b = of.OpenFaceEmbedder(spec, module=net, backend="onnx").embed(crops[:4]).vectors
    np.testing.assert_allclose(a, b, atol=1e-4)


def test_five_point_alignment_option(aligned_faces, lfw_subset: Path) -> None:
    from faceprint.detect import create_detector

    spec = get_model_spec("openface-nn4.small2-v1")
    emb = of.OpenFaceEmbedder(spec, module=NN4Small2(), alignment="5-point")
    img = load_image(sorted((lfw_subset / "Colin_Powell").glob("*.jpg"))[0])
    face = create_detector("mtcnn").detect(img)[0]
    crop = emb.align(img, face)
    assert crop.shape == (96, 96, 3) and crop.dtype == np.uint8
    with pytest.raises(ValueError, match="alignment"):
        of.OpenFaceEmbedder(spec, module=NN4Small2(), alignment="nope")
