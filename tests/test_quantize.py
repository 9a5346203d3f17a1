"""int8 networks: their own identities, built deterministically from the shipped tables, close to float32 on real
faces, a mismatched table refused, and the CPU capability check that picks the default."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest

from faceprint.errors import WeightsError
from faceprint.models import get_model_spec, list_models
from faceprint.models.identity import model_identity
from faceprint.models.quantize import CALIBRATION_DIR, calibration_table, cpu_int8_features, int8_is_fast, int8_onnx

needs_onnx = pytest.mark.skipif(importlib.util.find_spec("onnx") is None, reason="quantising needs the onnx package")

SHARED = Path(os.environ.get("FACEPRINT_SHARED") or Path(__file__).resolve().parents[1].parent / "shared")
LFW_SUBSET = SHARED / "data" / "lfw-subset"


def test_int8_models_are_registered_with_their_own_identity() -> None:
    for base in ("dlib-resnet-v1", "facenet-inception-resnet-v1"):
        f32, i8 = get_model_spec(base), get_model_spec(f"{base}-int8")
        assert f"{base}-int8" in list_models()
        assert i8.quantization.startswith("int8-qdq") and "missing" not in i8.quantization
        assert f32.quantization == ""
        assert model_identity(base).key != model_identity(f"{base}-int8").key
        # float32 identities keep the settings (and so the keys) their stored vectors were written under
        assert "quantization" not in model_identity(base).settings
        # same crops, same mirroring: only the arithmetic differs
        assert (i8.input_size, i8.template, i8.flip_average, i8.metric) == (f32.input_size, f32.template, f32.flip_average, f32.metric)


def test_tables_ship_and_name_the_quantised_networks() -> None:
    for table in ("dlib_face_recognition_resnet_model_v1", "facenet-inception-resnet-v1", "face_detection_yunet_2023mar"):
        data = json.loads(calibration_table(table).read_text())
        assert data["calibration_method"] and len(data["data"]) > 20
    with pytest.raises(WeightsError, match="bench/quantize.py calibrate"):
        calibration_table("no-such-network")


def test_int8_capability_follows_the_cpu_and_the_override(monkeypatch: pytest.MonkeyPatch) -> None:
    int8_is_fast.cache_clear()
    try:
        monkeypatch.setenv("FACEPRINT_INT8", "0")
        assert int8_is_fast() is False
        int8_is_fast.cache_clear()
        monkeypatch.setenv("FACEPRINT_INT8", "1")
        assert int8_is_fast() is True
        int8_is_fast.cache_clear()
        monkeypatch.setenv("FACEPRINT_INT8", "yes")
        with pytest.raises(ValueError, match="FACEPRINT_INT8"):
            int8_is_fast()
        int8_is_fast.cache_clear()
        monkeypatch.delenv("FACEPRINT_INT8")
        assert int8_is_fast() is bool(cpu_int8_features())
    finally:
        int8_is_fast.cache_clear()


@pytest.fixture(scope="module")
def dlib_float(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("onnx")
    from faceprint.models.dlib_onnx import build_dlib_onnx, default_dat_path

    return build_dlib_onnx(default_dat_path(), tmp_path_factory.mktemp("f32") / "dlib.onnx")


@needs_onnx
@pytest.mark.slow
def test_int8_build_is_deterministic_and_close_to_float32(dlib_float: Path, tmp_path: Path, with_weights: Path) -> None:
    from faceprint.analyzer import FaceAnalyzer
    from faceprint.models.dlib_onnx import DlibOnnxRunner

    table = calibration_table("dlib_face_recognition_resnet_model_v1")
    a = int8_onnx(dlib_float, table, tmp_path / "a")
    b = int8_onnx(dlib_float, table, tmp_path / "b")
    assert hashlib.sha256(a.read_bytes()).hexdigest() == hashlib.sha256(b.read_bytes()).hexdigest()
    assert a.stat().st_size < dlib_float.stat().st_size / 3  # int8 weights

    photos = sorted(LFW_SUBSET.rglob("*.jpg"))[:12]
    if not photos:
        pytest.skip(f"no LFW photos under {LFW_SUBSET}")
    an = FaceAnalyzer(model="dlib-resnet-v1", detector="yunet")
    chips = []
    for p in photos:
        img = an.load(p)
        faces = an.detector.detect(img)
        chips.append(an.embedder.align(img, faces[0]) if faces else an.embedder.center_crop(img))
    x = np.stack(chips)
    v32, v8 = DlibOnnxRunner(dlib_float, threads=1)(x), DlibOnnxRunner(a, threads=1)(x)
    cos = np.sum(v32 * v8, 1) / (np.linalg.norm(v32, axis=1) * np.linalg.norm(v8, axis=1))
    # bench/quantize.py parity: mean 0.9995 over 4,992 LFW photos; a wrong scale or table gives < 0.9
    assert cos.min() > 0.995, cos
    # and not float32 in disguise
    assert np.abs(v32 - v8).max() > 1e-4

    # uint8 input (the default model's build): the same vectors from the pixels through the stored lookup table
    u = DlibOnnxRunner(int8_onnx(dlib_float, table, tmp_path / "u", uint8_input=True), threads=1)
    assert u.input_dtype == np.uint8 and u.session.get_inputs()[0].type == "tensor(uint8)"
    assert np.array_equal(u(x), v8)
    assert np.array_equal(u(np.concatenate([x, x[:, :, ::-1]]))[len(x) :], DlibOnnxRunner(a, threads=1)(x[:, :, ::-1]))
    with pytest.raises(ValueError, match="uint8"):
        u(x.astype(np.float32))


@needs_onnx
def test_a_table_of_another_export_is_refused(dlib_float: Path, tmp_path: Path) -> None:
    table = json.loads(calibration_table("dlib_face_recognition_resnet_model_v1").read_text())
    table["data"] = {f"renamed_{k}": v for k, v in table["data"].items()}
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps(table))
    with pytest.raises(WeightsError, match="does not match"):
        int8_onnx(dlib_float, wrong, tmp_path / "out")
    assert not list((tmp_path / "out").glob("*.onnx"))


@needs_onnx
@pytest.mark.slow
def test_yunet_int8_is_a_detector_of_its_own_that_finds_the_same_faces(with_weights: Path) -> None:
    from faceprint.detect import create_detector, list_detectors
    from faceprint.image import load_image

    assert "yunet-int8" in list_detectors()
    photos = sorted(LFW_SUBSET.rglob("*.jpg"))[:5]
    if not photos:
        pytest.skip(f"no LFW photos under {LFW_SUBSET}")
    f32, i8 = create_detector("yunet"), create_detector("yunet-int8")
    assert i8.name == "yunet-int8" != f32.name  # embedding caches and galleries key on the name
    for p in photos:
        img = load_image(p)
        a, b = f32.detect(img), i8.detect(img)
        assert len(a) == len(b) >= 1
        assert np.abs(np.array(a[0].box) - np.array(b[0].box)).max() < 6.0  # pixels on 250x250 photos


def test_calibration_dir_holds_only_tables() -> None:
    assert sorted(p.suffix for p in CALIBRATION_DIR.iterdir() if p.is_file()) == [".json"] * 3
