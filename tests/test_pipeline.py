"""The overlapped pipeline: same faces and embeddings as the one-image path, in input order, streaming lazily."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from faceprint.analyzer import FaceAnalyzer
from faceprint.errors import ImageError
from faceprint.pipeline import FacePipeline, PixelWindow, available_cores, item_pixels


@pytest.fixture(scope="module")
def files(lfw_subset: Path) -> list[Path]:
    out = sorted(lfw_subset.glob("*/*.jpg"))[::7]
    assert len(out) >= 12
    return out


@pytest.fixture
def analyzer(with_weights: Path) -> FaceAnalyzer:
    return FaceAnalyzer(model="dlib-resnet-v1", detector="yunet")


def test_same_results_as_one_image_at_a_time(analyzer: FaceAnalyzer, files: list[Path]) -> None:
    """Batched across images (5 faces a call, 2 workers), every face and vector equals `analyze` on that image alone."""
    results = list(FacePipeline(analyzer, workers=2, batch_faces=5).run(files))
    assert [r.item for r in results] == files
    for r in results:
        faces, emb = analyzer.analyze(r.item)
        assert r.error is None and not r.fallback and r.image is None
        assert r.faces == faces and r.chosen == faces
        assert r.embeddings is not None and r.embeddings.model == "dlib-resnet-v1"
        np.testing.assert_allclose(r.embeddings.vectors, emb.vectors, atol=1e-5)


def test_center_selection_matches_embed_one(analyzer: FaceAnalyzer, files: list[Path]) -> None:
    for r in analyzer.analyze_many(files[:6], select="center", fallback_center=True, workers=2):
        one = analyzer.embed_one(r.item, select="center", fallback_center=True)
        assert r.chosen == [one.face] and len(r.faces) == one.n_faces
        np.testing.assert_allclose(r.embeddings.vectors, one.embedding.vectors, atol=1e-5)


def test_unreadable_and_faceless_images(analyzer: FaceAnalyzer, files: list[Path], tmp_path: Path) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    blank = tmp_path / "blank.png"
    from PIL import Image

    Image.new("RGB", (200, 200), (120, 120, 120)).save(blank)
    items = [files[0], broken, blank, files[1]]
    out = list(analyzer.analyze_many(items, select="center", fallback_center=True))
    assert [r.item for r in out] == items
    assert isinstance(out[1].error, ImageError) and out[1].embeddings is None
    assert out[2].error is None and out[2].faces == [] and out[2].fallback and out[2].embeddings.vectors.shape == (1, 128)
    no_fallback = list(analyzer.analyze_many([blank]))
    assert not no_fallback[0].fallback and no_fallback[0].embeddings.vectors.shape == (0, 128)
    assert out[0].chosen and out[3].chosen


def test_streams_lazily_with_a_bounded_window(analyzer: FaceAnalyzer, files: list[Path]) -> None:
    """Items are pulled only as the window frees up: a 100k-photo folder never sits in memory at once."""
    pulled = 0

    def endless() -> Iterator[Path]:
        nonlocal pulled
        while True:
            pulled += 1
            yield files[pulled % len(files)]

    pipe = FacePipeline(analyzer, workers=2, batch_faces=4, window=6)
    stream = pipe.run(endless())
    first = [next(stream) for _ in range(10)]
    assert all(r.embeddings is not None for r in first)
    assert pulled <= 10 + 6 + 1
    stream.close()  # the consumer stops early: queued work is dropped, threads end


def test_settings_are_checked(analyzer: FaceAnalyzer) -> None:
    with pytest.raises(ValueError, match="workers"):
        FacePipeline(analyzer, workers=0)
    with pytest.raises(ValueError, match="batch_faces"):
        FacePipeline(analyzer, batch_faces=0)
    assert FacePipeline(analyzer).workers == available_cores() >= 1


def test_pixel_window_admits_what_fits_and_one_oversized_image_alone() -> None:
    w = PixelWindow(100)
    assert w.admit(60) and not w.admit(50) and w.held == 60  # refused: nothing held for it
    assert w.admit(40) and w.held == 100 and not w.admit(1)
    w.release(60)
    w.release(40)
    assert w.admit(500) and w.held == 500  # larger than the window, admitted alone
    assert not w.admit(1)
    w.release(500)
    assert w.peak == 500
    with pytest.raises(ValueError, match="only 0 held"):
        w.release(1)
    with pytest.raises(ValueError, match="at least 1"):
        PixelWindow(0)
    unbounded = PixelWindow(None)
    assert all(unbounded.admit(10**9) for _ in range(3))


@pytest.mark.parametrize("keep_images", [False, True])
def test_window_is_bounded_by_pixels(analyzer: FaceAnalyzer, files: list[Path], keep_images: bool) -> None:
    """With room for two 250 x 250 photos' pixels, never more are in flight however many workers wait, and every
    result still comes back in order (with keep_images the pixels are held until the consumer takes the image)."""
    items = files[:8]
    pipe = FacePipeline(analyzer, workers=4, batch_faces=2, pixels_in_flight=2 * 250 * 250)
    out = []
    for r in pipe.run(items, keep_images=keep_images):
        out.append(r.item)
        assert (r.image is not None) == keep_images
    assert out == items
    assert pipe.peak_pixels == 2 * 250 * 250
    big = FacePipeline(analyzer, workers=4, batch_faces=2, pixels_in_flight=100)  # each photo alone
    assert [r.item for r in big.run(items[:3], keep_images=keep_images)] == items[:3] and big.peak_pixels == 250 * 250


def test_item_pixels_reads_headers_only(files: list[Path], tmp_path: Path) -> None:
    assert item_pixels(files[0]) == 250 * 250 == item_pixels(str(files[0])) == item_pixels(files[0].read_bytes())
    assert item_pixels(np.zeros((3, 4, 3), np.uint8)) == 12
    assert item_pixels(tmp_path / "missing.jpg") == 0 and item_pixels(("not", "an image")) == 0
