"""Pictures that do not mislead: DET curves a log axis cannot show are said in words, reliability bins carry their
weight, annotated labels keep a readable size, the errors sheet's header and the projector sprite."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from faceprint.types import Face
from faceprint.viz.annotate import MIN_LABEL_PX, draw_faces
from faceprint.viz.det import DET_SIZE, RELIABILITY_SIZE, det_plot, reliability_plot, zero_note


def test_det_says_what_a_log_axis_cannot_show(tmp_path: Path) -> None:
    perfect = ("4 people", np.array([0.0, 0.0, 0.3, 1.0]), np.array([1.0, 0.0, 0.0, 0.0]))
    assert "FNIR 0 at FPIR 0" in zero_note(*perfect)
    assert "from 0.1 up" in zero_note("x", np.array([0.0, 0.1, 1.0]), np.array([0.5, 0.0, 0.0]))
    assert zero_note("x", np.array([0.0, 0.1, 1.0]), np.array([0.5, 0.2, 0.0])) is None
    with Image.open(det_plot([perfect], tmp_path / "det.png", [("t", 0.0, 0.01)])) as im:
        assert im.size == DET_SIZE


def test_reliability_draws_bin_shares(tmp_path: Path) -> None:
    conf = np.array([0.05, 0.65, 0.95]), np.array([0.0, 1.0, 1.0]), np.array([500.0, 2.0, 498.0])
    with Image.open(reliability_plot([("4 people", *conf)], tmp_path / "rel.png")) as im:
        assert im.size == RELIABILITY_SIZE
        pixels = np.asarray(im.convert("RGB"))
    assert pixels.shape[0] == RELIABILITY_SIZE[1]


def _label_height(image: np.ndarray, face: Face) -> int:
    """Rows of the label box drawn above `face` (pure colour (230, 50, 50))."""
    red = np.all(image == (230, 50, 50), axis=2)
    x1 = int(face.box[0]) + 1
    return int(red[: int(face.box[1]), x1].sum())


def test_label_size_follows_the_image_and_stays_readable() -> None:
    def drawn(side: int) -> int:
        img = np.full((side, side, 3), 90, np.uint8)
        face = Face((side * 0.3, side * 0.4, side * 0.7, side * 0.8), 0.99, ((side * 0.5, side * 0.5),) * 5)
        return _label_height(draw_faces(img, [face], ["UNKNOWN"], [(230, 50, 50)], landmarks=False), face)

    small, large = drawn(200), drawn(4000)
    assert small >= MIN_LABEL_PX  # a 200 px photo: still readable
    assert large >= 10 * MIN_LABEL_PX * 0.8  # a 4000 px photo: in proportion, not a speck
    img = np.full((139, 139, 3), 90, np.uint8)
    face = Face((20.0, 40.0, 120.0, 130.0), 0.99, ((60.0, 80.0),) * 5)
    out = draw_faces(img, [face], ["UNKNOWN (~chris_hemsworth 80%)"], min_side=480)
    assert out.shape == (480, 480, 3)


def test_sprite_tiles_stay_inside_tight_crops() -> None:
    """A face filling a 139 px crop: with the margin the square leaves the photo; inside=True keeps it in, so no
    black border shrinks the face in its tile."""
    from faceprint.viz._tiles import face_thumb

    photo = np.full((139, 139, 3), 200, np.uint8)
    face = Face((15.0, 10.0, 125.0, 135.0), 0.99, ((70.0, 70.0),) * 5)
    old = face_thumb(photo, face, 64)
    new = face_thumb(photo, face, 64, inside=True)
    assert (old == 0).all(axis=2).mean() > 0.1  # black borders
    assert not (new == 0).all(axis=2).any() and (new == 200).all()


def test_errors_sheet_header_is_large(lfw_subset: Path) -> None:
    from faceprint.viz.errors import HEADER, HardPair, error_pairs_picture, error_pairs_size

    names = [str(p.relative_to(lfw_subset)) for p in sorted(lfw_subset.glob("*/*.jpg"))[:3]]
    sheet = error_pairs_picture(lfw_subset, [HardPair(names[0], names[2], 0.5, False, True)],
                                [HardPair(names[0], names[1], 0.7, True, True)], 0.6)
    assert (sheet.shape[1], sheet.shape[0]) == error_pairs_size(1, 120) and HEADER >= 60
    dark = (sheet[:HEADER].max(axis=2) < 80).any(axis=1)  # rows of the header holding dark (title) text
    assert dark.sum() >= 14  # the title is at least 14 px tall


def test_roc_tar_axis_zooms_on_a_good_model(tmp_path: Path) -> None:
    from faceprint.viz.plots import roc_floor, roc_plot

    far, tar = np.array([0.0, 0.0, 0.002, 0.01, 1.0]), np.array([0.0, 0.94, 0.97, 0.99, 1.0])
    assert roc_floor(far, tar) == 0.9  # from the TAR at FAR 0 (0.94) on, not from the curve's (0, 0) start
    assert roc_floor(far, tar, {0.001: 0.8}) == 0.75
    assert roc_floor(np.array([0.0, 0.5, 1.0]), np.array([0.1, 0.6, 1.0])) == 0.0  # a weak model: the whole axis
    assert roc_plot(far, tar, tmp_path / "roc.png").is_file()
