"""Tests for faceprint.image: every file is written under tmp_path by the test that uses it."""

from __future__ import annotations

import io
import os
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

import faceprint.image as image_mod
from faceprint.errors import ImageError
from faceprint.image import DEFAULT_MAX_PIXELS, SUPPORTED_SUFFIXES, image_size, list_images, load_image

RED, GREEN, BLUE, YELLOW = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)


def blocks(width: int = 48, height: int = 32) -> Image.Image:
    """An asymmetric RGB image: four solid quadrants of different colours."""
    a = np.zeros((height, width, 3), np.uint8)
    h, w = height // 2, width // 2
    a[:h, :w], a[:h, w:], a[h:, :w], a[h:, w:] = RED, GREEN, BLUE, YELLOW
    return Image.fromarray(a)


def quadrant_centres(a: np.ndarray) -> list[np.ndarray]:
    h, w = a.shape[0] // 4, a.shape[1] // 4
    return [a[h, w], a[h, 3 * w], a[3 * h, w], a[3 * h, 3 * w]]


def save(im: Image.Image, path: Path, fmt: str | None = None, **kw: object) -> Path:
    im.save(path, fmt, **kw)
    return path


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG whose IHDR claims width x height, followed by the first 20 bytes of a 100 kB IDAT chunk."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    idat = struct.pack(">I", 100_000) + b"IDAT" + zlib.compress(bytes(1000))[:20]
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk + idat)
    return path


def peek(path: Path) -> Image.Image:
    """Open a file with Pillow from memory, so the test leaves no file handle open."""
    return Image.open(io.BytesIO(path.read_bytes()))


def assert_rgb(a: np.ndarray, shape: tuple[int, int]) -> None:
    assert a.shape == (*shape, 3)
    assert a.dtype == np.uint8
    assert a.flags.c_contiguous and a.flags.writeable


# --- formats -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "tolerance"),
    [(".png", 0), (".bmp", 0), (".ppm", 0), (".tif", 0), (".gif", 0), (".webp", 0), (".jpg", 12)],
)
def test_colour_formats(tmp_path: Path, suffix: str, tolerance: int) -> None:
    kw = {"lossless": True} if suffix == ".webp" else {"quality": 95} if suffix == ".jpg" else {}
    a = load_image(save(blocks(), tmp_path / f"x{suffix}", **kw))
    assert_rgb(a, (32, 48))
    for got, want in zip(quadrant_centres(a), [RED, GREEN, BLUE, YELLOW]):
        assert np.abs(got.astype(int) - want).max() <= tolerance, (got, want)


def test_lossy_webp(tmp_path: Path) -> None:
    a = load_image(save(blocks(), tmp_path / "x.webp", quality=90))
    assert_rgb(a, (32, 48))
    assert np.abs(quadrant_centres(a)[0].astype(int) - RED).max() <= 20


def test_pgm_gray(tmp_path: Path) -> None:
    gray = blocks().convert("L")
    a = load_image(save(gray, tmp_path / "x.pgm"))
    assert_rgb(a, (32, 48))
    np.testing.assert_array_equal(a, np.repeat(np.asarray(gray)[:, :, None], 3, axis=2))


def test_gif_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (8, 6), RED), Image.new("RGB", (8, 6), BLUE)]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50, loop=0)
    assert peek(path).n_frames == 2
    a = load_image(path)
    assert_rgb(a, (6, 8))
    assert (a == RED).all()


def test_multipage_tiff_first_frame(tmp_path: Path) -> None:
    path = tmp_path / "pages.tiff"
    Image.new("RGB", (8, 6), GREEN).save(path, save_all=True, append_images=[Image.new("RGB", (4, 4), BLUE)])
    assert peek(path).n_frames == 2
    a = load_image(path)
    assert_rgb(a, (6, 8))
    assert (a == GREEN).all()


# --- modes -------------------------------------------------------------------------------------------


def test_mode_l(tmp_path: Path) -> None:
    assert (load_image(save(Image.new("L", (5, 4), 100), tmp_path / "l.png")) == 100).all()


def test_mode_la_composited_on_white(tmp_path: Path) -> None:
    im = Image.new("LA", (3, 1))
    for x, alpha in enumerate((0, 128, 255)):
        im.putpixel((x, 0), (100, alpha))
    a = load_image(save(im, tmp_path / "la.png"))
    assert peek(tmp_path / "la.png").mode == "LA"
    np.testing.assert_allclose(a[0, :, 0], [255, 100 * 128 / 255 + 255 * 127 / 255, 100], atol=1)
    assert (a[0, :, 0:1] == a[0]).all()  # still gray


def palette_image() -> Image.Image:
    im = Image.new("P", (3, 2))
    im.putpalette([*RED, *GREEN, *BLUE] + [0] * (256 * 3 - 9))
    im.putdata([0, 1, 2, 2, 1, 0])
    return im


def test_mode_p(tmp_path: Path) -> None:
    a = load_image(save(palette_image(), tmp_path / "p.png"))
    assert peek(tmp_path / "p.png").mode == "P"
    np.testing.assert_array_equal(a, [[RED, GREEN, BLUE], [BLUE, GREEN, RED]])


@pytest.mark.parametrize("suffix", [".png", ".gif"])
def test_mode_p_with_transparency(tmp_path: Path, suffix: str) -> None:
    path = save(palette_image(), tmp_path / f"p{suffix}", transparency=0)
    assert "transparency" in peek(path).info
    a = load_image(path)
    np.testing.assert_array_equal(a, [[(255, 255, 255), GREEN, BLUE], [BLUE, GREEN, (255, 255, 255)]])


def test_mode_rgba_composited_on_white(tmp_path: Path) -> None:
    rgba = np.array([[[255, 0, 0, 0], [255, 0, 0, 255], [0, 0, 0, 128], [0, 0, 255, 64]]], np.uint8)
    a = load_image(save(Image.fromarray(rgba), tmp_path / "rgba.png"))
    expected = rgba[..., :3] * (rgba[..., 3:] / 255) + 255 * (1 - rgba[..., 3:] / 255)
    np.testing.assert_allclose(a, expected, atol=0.51)
    np.testing.assert_array_equal(a[0, 0], (255, 255, 255))
    np.testing.assert_array_equal(a[0, 1], RED)


def test_cmyk_jpeg(tmp_path: Path) -> None:
    path = save(blocks().convert("CMYK"), tmp_path / "cmyk.jpg", quality=95)
    assert peek(path).mode == "CMYK"
    a = load_image(path)
    assert_rgb(a, (32, 48))
    for got, want in zip(quadrant_centres(a), [RED, GREEN, BLUE, YELLOW]):
        assert np.abs(got.astype(int) - want).max() <= 12, (got, want)


VALUES_16 = np.array([[0, 255, 256, 32768, 65280, 65535]], np.uint16)
EXPECTED_8 = np.array([[0, 0, 1, 128, 255, 255]], np.uint8)


@pytest.mark.parametrize("suffix", [".png", ".tif", ".pgm"])
def test_16bit_gray(tmp_path: Path, suffix: str) -> None:
    path = save(Image.fromarray(VALUES_16), tmp_path / f"g16{suffix}")
    assert peek(path).mode in ("I;16", "I;16B", "I")
    np.testing.assert_array_equal(load_image(path)[..., 0], EXPECTED_8)
    np.testing.assert_array_equal(load_image(path), load_image(VALUES_16))  # file and array agree


def test_16bit_pgm_with_small_maxval(tmp_path: Path) -> None:
    path = tmp_path / "g10.pgm"  # maxval 1023: Pillow rescales to 0..65535 (mode I)
    path.write_bytes(b"P5\n3 1\n1023\n" + struct.pack(">HHH", 0, 512, 1023))
    assert peek(path).mode == "I"
    np.testing.assert_array_equal(load_image(path)[0, :, 0], [0, 128, 255])


@pytest.mark.parametrize("suffix", [".png", ".pbm", ".bmp"])
def test_1bit(tmp_path: Path, suffix: str) -> None:
    im = Image.new("1", (4, 2))
    im.putpixel((1, 0), 1)
    im.putpixel((3, 1), 1)
    path = save(im, tmp_path / f"b{suffix}")
    assert peek(path).mode == "1"
    a = load_image(path)
    assert_rgb(a, (2, 4))
    np.testing.assert_array_equal(a[..., 0], [[0, 255, 0, 0], [0, 0, 0, 255]])


def test_pil_float_mode() -> None:
    f = Image.fromarray(np.array([[0.0, 0.5, 1.0]], np.float32))
    assert f.mode == "F"
    np.testing.assert_array_equal(load_image(f)[0, :, 0], [0, 128, 255])
    with pytest.raises(ImageError, match=r"\[0, 1\]"):
        load_image(Image.fromarray(np.array([[0.0, 200.0]], np.float32)))


# --- EXIF orientation --------------------------------------------------------------------------------

TRANSPOSE = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_270, 8: Image.Transpose.ROTATE_90}


@pytest.mark.parametrize("orientation", [3, 6, 8])
@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp"])
def test_exif_orientation(tmp_path: Path, orientation: int, suffix: str) -> None:
    base = blocks(48, 32)
    exif = Image.Exif()
    exif[0x0112] = orientation
    kw = {"quality": 95, "subsampling": 0} if suffix == ".jpg" else {"lossless": True} if suffix == ".webp" else {}
    path = save(base, tmp_path / f"o{orientation}{suffix}", exif=exif.tobytes(), **kw)
    assert peek(path).getexif()[0x0112] == orientation

    a = load_image(path)
    expected = np.asarray(base.transpose(TRANSPOSE[orientation]))
    assert a.shape == expected.shape
    assert a.shape[:2] == ((48, 32) if orientation in (6, 8) else (32, 48))
    assert np.abs(a.astype(int) - expected).mean() < 3  # a wrong rotation would differ by ~100
    for got, want in zip(quadrant_centres(a), quadrant_centres(expected)):
        assert np.abs(got.astype(int) - want).max() <= 8
    assert image_size(path) == (a.shape[1], a.shape[0])
    np.testing.assert_array_equal(load_image(peek(path)), a)  # PIL input is oriented too


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_as_pillow_turns_it(tmp_path: Path, orientation: int) -> None:
    """The array is turned after decoding (to save memory); it must be what ImageOps.exif_transpose shows."""
    from PIL import ImageOps

    base = Image.fromarray(np.random.default_rng(orientation).integers(0, 255, (5, 7, 3), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = save(base, tmp_path / f"o{orientation}.png", exif=exif.tobytes())
    with Image.open(path) as im:
        expected = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    np.testing.assert_array_equal(load_image(path), expected)


def test_large_photo_decoded_in_strips_unchanged(tmp_path: Path) -> None:
    """Images copied strip by strip (several strips here) are the pixels Pillow decodes, writeable and contiguous."""
    pixels = np.random.default_rng(0).integers(0, 255, (1500, 1100, 3), dtype=np.uint8)
    path = save(Image.fromarray(pixels), tmp_path / "big.png")
    a = load_image(path)
    np.testing.assert_array_equal(a, pixels)
    assert a.flags.writeable and a.flags.c_contiguous
    np.testing.assert_array_equal(load_image(path.read_bytes())[..., 0], pixels[..., 0])
    gray = save(Image.fromarray(pixels[..., 1]), tmp_path / "gray.png")
    np.testing.assert_array_equal(load_image(gray), np.repeat(pixels[..., 1:2], 3, axis=2))


def test_no_orientation_tag_unchanged(tmp_path: Path) -> None:
    base = blocks()
    np.testing.assert_array_equal(load_image(save(base, tmp_path / "plain.png")), np.asarray(base))


# --- sources -----------------------------------------------------------------------------------------


def test_same_image_from_every_source(tmp_path: Path) -> None:
    path = save(blocks(), tmp_path / "x.png")
    data = path.read_bytes()
    ref = load_image(path)
    with peek(path) as opened:
        from_pil = load_image(opened)
    for other in (
        load_image(str(path)),
        load_image(data),
        load_image(bytearray(data)),
        load_image(memoryview(data)),
        from_pil,
        load_image(Image.open(io.BytesIO(data))),
        load_image(np.asarray(peek(path))),
    ):
        assert_rgb(other, (32, 48))
        np.testing.assert_array_equal(other, ref)


def test_same_jpeg_from_every_source(tmp_path: Path) -> None:
    path = save(blocks(), tmp_path / "x.jpg", quality=80)
    ref = load_image(path)
    np.testing.assert_array_equal(load_image(path.read_bytes()), ref)
    np.testing.assert_array_equal(load_image(peek(path)), ref)
    np.testing.assert_array_equal(load_image(np.asarray(peek(path))), ref)


def test_same_rgba_from_file_pil_and_array(tmp_path: Path) -> None:
    rgba = np.random.default_rng(1).integers(0, 256, (7, 9, 4), dtype=np.uint8)
    path = save(Image.fromarray(rgba), tmp_path / "x.png")
    ref = load_image(path)
    np.testing.assert_array_equal(load_image(rgba), ref)
    np.testing.assert_array_equal(load_image(Image.fromarray(rgba)), ref)


def test_pil_image_not_modified(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    im = peek(save(blocks(), tmp_path / "x.jpg", exif=exif.tobytes()))
    assert load_image(im).shape == (48, 32, 3)
    assert im.size == (48, 32) and im.getexif()[0x0112] == 6


GRAY = np.array([[0, 64], [128, 255]], np.uint8)
GRAY_RGB = np.repeat(GRAY[:, :, None], 3, axis=2)


@pytest.mark.parametrize(
    ("array", "expected"),
    [
        (GRAY, GRAY_RGB),
        (GRAY[:, :, None], GRAY_RGB),
        (GRAY_RGB, GRAY_RGB),
        (np.dstack([GRAY_RGB, np.full((2, 2), 255, np.uint8)]), GRAY_RGB),  # opaque RGBA
        (np.dstack([GRAY_RGB, np.zeros((2, 2), np.uint8)]), np.full((2, 2, 3), 255)),  # transparent -> white
        (GRAY.astype(np.uint16) * 257, GRAY_RGB),
        ((GRAY.astype(np.uint16) * 257).astype(">u2"), GRAY_RGB),
        (GRAY_RGB.astype(np.uint16) << 8, GRAY_RGB),
        (GRAY > 100, np.repeat(np.where(GRAY > 100, 255, 0)[:, :, None], 3, axis=2)),
        (GRAY / 255.0, GRAY_RGB),
        ((GRAY / 255.0).astype(np.float32), GRAY_RGB),
        ((GRAY_RGB / 255.0).astype(np.float16), GRAY_RGB),
        (np.asfortranarray(GRAY_RGB), GRAY_RGB),
        (GRAY_RGB[:, ::-1][:, ::-1], GRAY_RGB),
    ],
    ids=lambda v: "" if not isinstance(v, np.ndarray) else f"{v.dtype}-{'x'.join(map(str, v.shape))}",
)
def test_arrays(array: np.ndarray, expected: np.ndarray) -> None:
    a = load_image(array)
    assert_rgb(a, expected.shape[:2])
    np.testing.assert_array_equal(a, expected)


def test_array_result_does_not_alias_input() -> None:
    src = GRAY_RGB.copy()
    out = load_image(src)
    out[:] = 7
    np.testing.assert_array_equal(src, GRAY_RGB)


@pytest.mark.parametrize(
    ("array", "words"),
    [
        (np.zeros((4, 4, 2), np.uint8), "shape"),
        (np.zeros((4, 4, 5), np.uint8), "shape"),
        (np.zeros(16, np.uint8), "shape"),
        (np.zeros((1, 4, 4, 3), np.uint8), "shape"),
        (np.zeros((0, 4, 3), np.uint8), "empty"),
        (np.zeros((4, 4), np.int64), "dtype"),
        (np.zeros((4, 4), np.int16), "dtype"),
        (np.zeros((4, 4), np.complex64), "dtype"),
        (np.full((4, 4), 200.0), "[0, 1]"),
        (np.full((4, 4), -0.1), "[0, 1]"),
        (np.full((4, 4), np.nan), "[0, 1]"),
    ],
)
def test_unsupported_arrays(array: np.ndarray, words: str) -> None:
    with pytest.raises(ImageError) as info:
        load_image(array)
    assert "<array>" in str(info.value) and words in info.value.reason
    with pytest.raises(ImageError, match="frame_7"):
        load_image(array, name="frame_7")


def test_unsupported_source_type() -> None:
    with pytest.raises(TypeError):
        load_image(42)  # type: ignore[arg-type]


# --- max_pixels --------------------------------------------------------------------------------------


def test_default_limit_value() -> None:
    assert DEFAULT_MAX_PIXELS == 40_000_000


def test_large_png_refused_then_allowed(tmp_path: Path) -> None:
    path = save(Image.new("1", (8000, 6000), 0), tmp_path / "big.png")
    assert path.stat().st_size < 1_000_000
    with pytest.raises(ImageError) as info:
        load_image(path)
    assert str(path) in str(info.value)
    assert "8000 x 6000 = 48,000,000 pixels" in info.value.reason and "40,000,000" in info.value.reason
    assert "max_pixels" not in info.value.reason and "downscale" in info.value.reason  # advice the CLI can follow
    assert load_image(path, max_pixels=None).shape == (6000, 8000, 3)
    assert load_image(path, max_pixels=48_000_000).shape == (6000, 8000, 3)


def test_limit_checked_before_decoding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = save(Image.new("L", (300, 200)), tmp_path / "x.png")
    calls: list[object] = []
    original = ImageFile.ImageFile.load

    def spy(self: ImageFile.ImageFile) -> object:
        calls.append(self)
        return original(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    with pytest.raises(ImageError, match="above the limit"):
        load_image(path, max_pixels=300 * 200 - 1)
    assert calls == []
    assert image_size(path) == (300, 200)
    assert calls == []
    assert load_image(path, max_pixels=300 * 200).shape == (200, 300, 3)
    assert calls


def test_huge_header_without_data_refused_by_limit_not_truncation(tmp_path: Path) -> None:
    path = png_header_only(tmp_path / "claims_big.png", 8000, 6000)
    assert path.stat().st_size < 100
    assert image_size(path) == (8000, 6000)
    with pytest.raises(ImageError, match="above the limit"):
        load_image(path)
    with pytest.raises(ImageError, match="truncated or corrupt"):
        load_image(path, max_pixels=None)


def test_pillow_decompression_bomb_error_becomes_image_error(tmp_path: Path) -> None:
    path = png_header_only(tmp_path / "bomb.png", 20000, 20000)  # over 2 * Image.MAX_IMAGE_PIXELS
    for kw in ({}, {"max_pixels": None}):
        with pytest.raises(ImageError, match="image too large: more than .* pixels, above the most faceprint reads") as info:
            load_image(path, **kw)
        assert "bomb.png" in str(info.value) and "max_pixels" not in str(info.value)
        # one limit quoted: faceprint's own when it applies, Pillow's hard one only without it
        assert ("40,000,000" in str(info.value)) == ("max_pixels" not in kw), str(info.value)
    with pytest.raises(ImageError, match="image too large"):
        image_size(path)


def test_pillow_decompression_bomb_warning_never_escapes(tmp_path: Path) -> None:
    """Between 1x and 2x Image.MAX_IMAGE_PIXELS Pillow warns; the warning must not reach the console, and the
    message names faceprint's limit, not Pillow's, and no library-only advice (the CLI cannot pass max_pixels)."""
    path = png_header_only(tmp_path / "bomb.png", 10000, 10000)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with pytest.raises(ImageError, match="10000 x 10000 = 100,000,000 pixels, above the limit of 40,000,000") as info:
            load_image(path)
        assert "max_pixels" not in str(info.value) and "Pillow" not in str(info.value)
        with pytest.raises(ImageError, match="truncated or corrupt"):
            load_image(path, max_pixels=None)
        assert image_size(path) == (10000, 10000)


def test_array_limit() -> None:
    with pytest.raises(ImageError, match="10 x 10 = 100 pixels, above the limit of 99"):
        load_image(np.zeros((10, 10, 3), np.uint8), max_pixels=99)
    assert load_image(np.zeros((10, 10, 3), np.uint8), max_pixels=100).shape == (10, 10, 3)


@pytest.mark.parametrize("bad", [0, -5])
def test_bad_max_pixels(bad: int) -> None:
    with pytest.raises(ValueError):
        load_image(GRAY, max_pixels=bad)


# --- errors ------------------------------------------------------------------------------------------


def error_for(source: object, **kw: object) -> ImageError:
    with pytest.raises(ImageError) as info:
        load_image(source, **kw)  # type: ignore[arg-type]
    assert not isinstance(info.value, OSError)
    return info.value


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.jpg"
    err = error_for(path)
    assert err.reason == "file not found" and str(path) in str(err)
    assert str(path) in str(error_for(str(path)))


def test_directory(tmp_path: Path) -> None:
    (tmp_path / "folder.png").mkdir()
    err = error_for(tmp_path / "folder.png")
    assert err.reason == "is a directory" and "folder.png" in str(err)


def test_permission_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = save(blocks(), tmp_path / "secret.png")
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        path.chmod(0)
    else:  # root reads anything: simulate the failure instead

        def deny(*args: object, **kwargs: object) -> None:
            raise PermissionError(13, "Permission denied", str(path))

        monkeypatch.setattr(image_mod, "open", deny, raising=False)
    try:
        err = error_for(path)
    finally:
        path.chmod(0o644)
    assert err.reason == "permission denied" and "secret.png" in str(err)


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    err = error_for(tmp_path / "empty.png")
    assert err.reason == "empty file (0 bytes)" and "empty.png" in str(err)
    assert "<bytes>" in str(error_for(b""))


def test_text_file(tmp_path: Path) -> None:
    (tmp_path / "notes.jpg").write_text("hello, this is not a picture\n")
    err = error_for(tmp_path / "notes.jpg")
    assert err.reason == "not an image (format not recognised)" and "notes.jpg" in str(err)


def test_random_bytes(tmp_path: Path) -> None:
    junk = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    assert error_for(junk).reason == "not an image (format not recognised)"
    assert "upload.bin" in str(error_for(junk, name="upload.bin"))
    (tmp_path / "junk.png").write_bytes(junk)
    assert "junk.png" in str(error_for(tmp_path / "junk.png"))


def test_unsupported_format_not_tried(tmp_path: Path) -> None:
    path = save(blocks(), tmp_path / "icon.ico")
    assert peek(path).format == "ICO"  # Pillow could read it, faceprint does not try
    assert error_for(path).reason == "not an image (format not recognised)"


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp", ".gif"])
def test_truncated(tmp_path: Path, suffix: str) -> None:
    noisy = Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    data = (save(noisy, tmp_path / f"full{suffix}")).read_bytes()
    path = tmp_path / f"cut{suffix}"
    path.write_bytes(data[: len(data) // 2])
    err = error_for(path)
    assert err.reason.startswith("truncated or corrupt image data: ") and "cut" in str(err)
    assert error_for(data[: len(data) // 2]).reason.startswith("truncated or corrupt")
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_truncated_pil_image_input(tmp_path: Path) -> None:
    data = save(blocks(400, 300), tmp_path / "x.jpg").read_bytes()
    err = error_for(Image.open(io.BytesIO(data[: len(data) // 2])), name="half.jpg")
    assert err.reason.startswith("truncated or corrupt") and "half.jpg" in str(err)


def test_wrong_suffix_still_loads(tmp_path: Path) -> None:
    path = save(blocks(), tmp_path / "really_a_png.jpg", "PNG")
    np.testing.assert_array_equal(load_image(path), np.asarray(blocks()))


# --- image_size --------------------------------------------------------------------------------------


def test_image_size_sources(tmp_path: Path) -> None:
    path = save(blocks(48, 32), tmp_path / "x.jpg")
    assert image_size(path) == image_size(str(path)) == image_size(path.read_bytes()) == (48, 32)
    assert image_size(peek(path)) == (48, 32)
    assert image_size(np.zeros((32, 48, 3), np.uint8)) == (48, 32)


def test_image_size_errors(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="file not found"):
        image_size(tmp_path / "nope.png")
    (tmp_path / "t.png").write_text("text")
    with pytest.raises(ImageError, match="not an image"):
        image_size(tmp_path / "t.png")
    with pytest.raises(ImageError, match="empty"):
        image_size(b"")


# --- list_images -------------------------------------------------------------------------------------


def test_supported_suffixes() -> None:
    assert isinstance(SUPPORTED_SUFFIXES, frozenset)
    assert {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".pgm", ".ppm", ".pbm", ".tif", ".tiff"} == set(
        SUPPORTED_SUFFIXES
    )
    assert all(s == s.lower() and s.startswith(".") for s in SUPPORTED_SUFFIXES)


def test_list_images(tmp_path: Path) -> None:
    for rel in ["b.jpg", "A.PNG", "c.JpEg", "notes.txt", "noext", ".hidden.png", "sub/d.webp", "sub/deeper/e.tiff",
                ".cache/f.png", "sub/.g.gif"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    (tmp_path / "dir.png").mkdir()

    found = list_images(tmp_path)
    assert found == sorted(found)
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "A.PNG", "b.jpg", "c.JpEg", "sub/d.webp", "sub/deeper/e.tiff"
    ]
    assert all(isinstance(p, Path) for p in found)
    flat = list_images(str(tmp_path), recursive=False)
    assert [p.name for p in flat] == ["A.PNG", "b.jpg", "c.JpEg"]
    assert list_images(tmp_path / "sub" / "deeper") == [tmp_path / "sub" / "deeper" / "e.tiff"]


def test_list_images_errors(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="directory not found"):
        list_images(tmp_path / "missing")
    (tmp_path / "file.png").write_bytes(b"x")
    with pytest.raises(ImageError, match="not a directory"):
        list_images(tmp_path / "file.png")
