import numpy as np
import pytest

from faceprint.align import align_face, center_crop, estimate_similarity, get_template, list_templates
from faceprint.errors import UnknownModel


def _apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return pts @ m[:, :2].T + m[:, 2]


def test_similarity_recovers_known_transform() -> None:
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, (5, 2))
    angle, scale, t = 0.3, 1.7, np.array([12.0, -4.0])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = src @ (scale * rot).T + t
    m = estimate_similarity(src, dst)
    np.testing.assert_allclose(m[:, :2], scale * rot, atol=1e-9)
    np.testing.assert_allclose(m[:, 2], t, atol=1e-9)


def test_similarity_is_least_squares_and_never_reflects() -> None:
    rng = np.random.default_rng(3)
    src = rng.uniform(0, 10, (5, 2))
    dst = src * [-1, 1] + rng.normal(0, 0.1, (5, 2))  # a mirror image: no similarity reproduces it
    m = estimate_similarity(src, dst)
    assert np.linalg.det(m[:, :2]) >= 0
    # no rotation+scale on a fine grid fits better than the closed form
    best = np.inf
    for a in np.linspace(-np.pi, np.pi, 721):
        rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        x = (src - src.mean(0)) @ rot.T
        y = dst - dst.mean(0)
        s = max((x * y).sum() / (x * x).sum(), 0.0)
        best = min(best, ((s * x - y) ** 2).sum())
    assert ((_apply(m, src) - dst) ** 2).sum() <= best + 1e-6


def test_degenerate_landmarks_raise() -> None:
    with pytest.raises(ValueError, match="degenerate"):
        estimate_similarity(np.ones((5, 2)), np.random.default_rng(0).uniform(size=(5, 2)))


def test_align_puts_landmarks_on_template() -> None:
    # Draw five dots, align, and check that the dots land on the template points.
    tpl = get_template("dlib-chip-150")
    img = np.zeros((300, 400, 3), np.uint8)
    angle = np.deg2rad(20)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    pts = (tpl.points_array() - 75) @ (1.3 * rot).T + [200, 150]
    for x, y in pts:
        img[int(round(y)) - 1 : int(round(y)) + 2, int(round(x)) - 1 : int(round(x)) + 2] = 255
    chip = align_face(img, pts, tpl)
    assert chip.shape == (150, 150, 3) and chip.dtype == np.uint8
    for x, y in tpl.points_array():
        assert chip[int(round(y)), int(round(x))].max() > 100


def test_padding_shrinks_towards_centre() -> None:
    tpl = get_template("arcface-112")
    p0 = tpl.points_array(112, 0.0)
    p1 = tpl.points_array(112, 0.25)
    assert np.all(np.abs(p1 - 56) < np.abs(p0 - 56))


def test_center_crop_and_unknown_template() -> None:
    img = np.arange(250 * 250 * 3, dtype=np.uint8).reshape(250, 250, 3)
    assert center_crop(img, 150).shape == (150, 150, 3)
    assert "dlib-chip-150" in list_templates()
    with pytest.raises(UnknownModel, match="dlib-chip-150"):
        get_template("nope")
