"""Test-time augmentation: fixed jitter transforms in dlib's ranges, and embeddings averaged over the copies."""

import dataclasses

import numpy as np
import pytest

from faceprint.cache import pipeline_key
from faceprint.image import load_image
from faceprint.models import get_model_spec
from faceprint.models.identity import model_identity
from faceprint.models._tta import augment, jitter_transforms


def test_jitter_transforms_are_fixed_and_in_dlibs_ranges() -> None:
    ts = jitter_transforms(32, 150)
    assert len(ts) == 32 and ts is jitter_transforms(32, 150)
    assert [m.tolist() for m, _ in jitter_transforms(8, 150)] == [m.tolist() for m, _ in ts[:8]]
    flips = [f for _, f in ts]
    assert 0 < sum(flips) < len(flips)
    for m, _ in ts:
        lin = m[:, :2]
        scale = np.sqrt(abs(np.linalg.det(lin)))
        angle = np.degrees(np.arctan2(lin[1, 0], lin[0, 0]))
        assert 0.97 <= scale <= 1.0 and abs(angle) <= 3.0
        centre = np.array([74.5, 74.5])
        shift = m @ np.append(centre, 1.0) - centre  # where the centre moves: the shift alone
        assert np.all(np.abs(shift) <= 0.02 * 150 + 1e-9)


def test_augment_layout() -> None:
    rng = np.random.default_rng(0)
    batch = rng.integers(0, 256, (3, 150, 150, 3), dtype=np.uint8)
    out = augment(batch, mirror=True, jitters=4)
    assert out.shape == (3 * 6, 150, 150, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[:3], batch)
    np.testing.assert_array_equal(out[3:6], batch[:, :, ::-1])
    assert not np.array_equal(out[6:9], batch)
    assert augment(batch, mirror=False, jitters=0).shape == batch.shape


@pytest.fixture()
def jittered_dlib():
    """dlib's model with six jitters on top of mirroring, built directly (not the registered spec)."""
    spec = dataclasses.replace(get_model_spec("dlib-resnet-v1"), flip_average=True, jitters=6)
    return spec.builder(spec)


def test_jittered_embedding_is_the_mean_over_copies_and_repeatable(jittered_dlib, lfw_subset) -> None:
    from faceprint.analyzer import FaceAnalyzer

    analyzer = FaceAnalyzer(model=jittered_dlib)
    img = load_image(lfw_subset / "Tony_Blair" / "Tony_Blair_0001.jpg")
    face = analyzer.detector.detect(img)[0]
    chip = jittered_dlib.align(img, face)[None]
    v = jittered_dlib.embed(chip).vectors[0]
    copies = jittered_dlib._forward(augment(chip, True, 6))
    np.testing.assert_allclose(v, copies.mean(0), atol=1e-5)
    np.testing.assert_array_equal(jittered_dlib.embed(chip).vectors[0], v)  # fixed transforms: same every time
    # small perturbations of one face: every copy differs from the plain embedding (mirror and jitters alike move
    # it by 0.2-0.3), yet all stay well inside the same-person threshold (0.608)
    plain = jittered_dlib._forward(chip)[0]
    d = np.linalg.norm(copies - plain, axis=1)
    assert d[0] < 1e-5 and np.all(d[1:] > 1e-4) and np.all(d < jittered_dlib.spec.threshold / 1.5), d


def test_jitters_change_the_cache_key() -> None:
    spec = get_model_spec("dlib-resnet-v1")
    assert model_identity(spec).key == pipeline_key(spec.name)
    assert model_identity(dataclasses.replace(spec, jitters=spec.jitters + 4)).key != pipeline_key(spec.name)
    with pytest.raises(ValueError, match="jitters must be 0 or more"):
        dataclasses.replace(spec, jitters=-1)
