"""Large photos are searched on a scaled copy (bounded detector memory); faces come back in the photo's pixels."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from faceprint.analyzer import FaceAnalyzer, detect_scaled
from faceprint.detect import Detector, create_detector
from faceprint.image import load_image
from faceprint.types import Face


class SeenSizes(Detector):
    """A real detector that also records the image sizes it was given."""

    def __init__(self, inner: Detector) -> None:
        self.inner, self.name, self.seen = inner, inner.name, []

    def _detect(self, image: np.ndarray) -> list[Face]:
        self.seen.append(image.shape[0] * image.shape[1])
        return self.inner.detect(image)


@pytest.fixture(scope="module")
def photo(lfw_subset: Path) -> np.ndarray:
    """An LFW photo enlarged 8 times: 2000 x 2000, 4 MP."""
    small = load_image(sorted(lfw_subset.glob("*/*.jpg"))[0])
    return cv2.resize(small, (2000, 2000), interpolation=cv2.INTER_CUBIC)


def test_large_photo_detected_on_a_scaled_copy(photo: np.ndarray, with_weights: Path) -> None:
    det = SeenSizes(create_detector("yunet"))
    full = det.detect(photo)
    scaled = detect_scaled(det, photo, max_pixels=250_000)
    assert det.seen == [4_000_000, 500 * 500]
    assert full and scaled  # the upscaled photo also holds a small face the copy loses; compare the largest
    a, b = full[0], scaled[0]
    assert np.abs(np.subtract(a.box, b.box)).max() < 0.04 * a.width  # same face, in the photo's pixels
    assert np.abs(a.landmarks_array() - b.landmarks_array()).max() < 0.04 * a.width
    assert detect_scaled(det, photo, max_pixels=None) == full and det.seen[-1] == 4_000_000
    assert detect_scaled(det, photo, max_pixels=4_000_000) == full and det.seen[-1] == 4_000_000


def test_analyzer_detects_large_photos_scaled_and_aligns_at_full_size(photo: np.ndarray, with_weights: Path) -> None:
    az = FaceAnalyzer(model="dlib-resnet-v1", detector="yunet", detect_max_pixels=250_000)
    ref = FaceAnalyzer(model="dlib-resnet-v1", detector="yunet", detect_max_pixels=None)
    faces, emb = az.analyze(photo)
    ref_faces, ref_emb = ref.analyze(photo)
    assert faces and ref_faces
    assert float(np.linalg.norm(emb.vectors[0] - ref_emb.vectors[0])) < 0.1  # same person; dlib's threshold is 0.6


def test_face_scaled() -> None:
    f = Face((10.0, 20.0, 30.0, 40.0), 0.9, ((1.0, 2.0),) * 5)
    g = f.scaled(2.0, 3.0)
    assert g.box == (20.0, 60.0, 60.0, 120.0) and g.landmarks[0] == (2.0, 6.0) and g.score == 0.9
    assert f.scaled(0.5).box == (5.0, 10.0, 15.0, 20.0)
