"""Load images from paths, bytes, numpy arrays or PIL images into one form: RGB uint8, HxWx3, C-contiguous.

Conventions:

* EXIF orientation is applied, so the array is the image as a viewer shows it.
* Alpha (RGBA, LA, palette or gray with transparency) is composited onto **white**.
* 16-bit data (PNG/PGM/TIFF modes ``I;16``/``I``, ``uint16`` arrays) is reduced to 8 bits by ``value >> 8``
  (65535 -> 255, 32768 -> 128); float data (arrays, mode ``F``) must lie in [0, 1] and is scaled by 255.
* Animated GIF and multi-page TIFF: the first frame.
* Only the formats behind ``SUPPORTED_SUFFIXES`` are decoded (JPEG incl. MPO, PNG, BMP, GIF, WebP, PNM, TIFF);
  Pillow's other decoders (EPS via Ghostscript, PSD, ...) are not tried on untrusted input.
* The pixel count is checked against ``max_pixels`` from the header, before any pixel data is decoded.

Every failure to read an image raises :class:`faceprint.errors.ImageError` naming the source and the reason.
"""

from __future__ import annotations

import io
import logging
import os
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, UnidentifiedImageError

from faceprint.errors import ImageError, ImageTooLarge

__all__ = ["DEFAULT_MAX_PIXELS", "SUPPORTED_SUFFIXES", "load_image", "image_size", "list_images"]

logger = logging.getLogger(__name__)

DEFAULT_MAX_PIXELS = 40_000_000
SUPPORTED_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".pgm", ".ppm", ".pbm", ".tif", ".tiff"}
)
_FORMATS = ("JPEG", "PNG", "BMP", "DIB", "GIF", "WEBP", "PPM", "TIFF")
_ORIENTATION = 0x0112
_BOMB = (Image.DecompressionBombError, Image.DecompressionBombWarning)

ImageSource = str | os.PathLike[str] | bytes | bytearray | memoryview | BinaryIO | np.ndarray | Image.Image
"""What every image-taking function accepts: a path, encoded bytes, a binary file object, a PIL image or an array."""


def load_image(
    source: ImageSource,
    *,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    name: str | None = None,
    bgr: bool = False,
) -> np.ndarray:
    """Load ``source`` as a C-contiguous RGB uint8 array of shape HxWx3.

    Args:
        source: a path (str or Path), encoded bytes, a binary file object (anything with ``read()``), a PIL image,
            or a numpy array. Arrays are taken as **RGB** (HxWx3), gray (HxW) or RGBA (HxWx4).
        max_pixels: refuse larger images (checked from the header, before decoding); None for no limit.
        name: how errors name the image (defaults to the path, or ``<bytes>``/``<array>``).
        bgr: the array is in OpenCV's BGR (or BGRA) order, as ``cv2.imread`` and ``VideoCapture`` give it; its
            channels are swapped to RGB. Other sources carry their own channel order and ignore it.

    Returns:
        The image as a viewer shows it (EXIF orientation applied), RGB uint8.

    Raises:
        ImageError: unreadable, empty, truncated, not an image or too large; the message names the source.

    >>> load_image("photo.jpg").shape          # doctest: +SKIP
    (250, 250, 3)
    """
    if max_pixels is not None and max_pixels < 1:
        raise ValueError(f"max_pixels must be a positive int or None, got {max_pixels!r}")
    if isinstance(source, np.ndarray):
        if bgr and source.ndim == 3 and source.shape[2] in (3, 4):
            source = source[..., [2, 1, 0, 3][: source.shape[2]]]
            return _array_to_rgb(source, name or "<array>", max_pixels, owned=True)
        return _array_to_rgb(source, name or "<array>", max_pixels, owned=False)
    if isinstance(source, Image.Image):
        return _decode(source, name or getattr(source, "filename", "") or "<PIL image>", max_pixels, owned=False)
    if isinstance(source, (bytes, bytearray, memoryview)):
        label = name or "<bytes>"
        data = bytes(source)
        if not data:
            raise ImageError(label, "empty data (0 bytes)")
        return _decode(_open(io.BytesIO(data), label, max_pixels), label, max_pixels)
    if isinstance(source, (str, os.PathLike)):
        label = name or os.fspath(source)
        with _open_file(source, label) as fp:
            return _decode(_open(fp, label, max_pixels), label, max_pixels)
    if callable(getattr(source, "read", None)):
        return load_image(_read_file_object(source, name), max_pixels=max_pixels, name=name or _file_label(source))
    raise TypeError(
        f"cannot load an image from {type(source).__name__}; pass a path, bytes, a binary file object, a PIL image or an array"
    )


def _file_label(fp: object) -> str:
    label = getattr(fp, "name", None)
    return label if isinstance(label, str) and label else "<file object>"


def _read_file_object(fp: BinaryIO, name: str | None) -> bytes:
    """All bytes of a binary file object (from its current position)."""
    label = name or _file_label(fp)
    try:
        data = fp.read()
    except OSError as exc:
        raise ImageError(label, f"cannot read file object: {exc.strerror or exc}") from exc
    if isinstance(data, str):
        raise ImageError(label, "file object is open in text mode; open it with 'rb'")
    if not data:
        raise ImageError(label, "empty data (0 bytes)")
    return bytes(data)


def image_size(source: ImageSource) -> tuple[int, int]:
    """Return (width, height) as load_image would, reading only the header (EXIF orientation applied)."""
    if isinstance(source, np.ndarray):
        if source.ndim not in (2, 3):
            raise ImageError("<array>", f"unsupported array shape {source.shape}")
        return int(source.shape[1]), int(source.shape[0])
    if isinstance(source, Image.Image):
        return _oriented_size(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        if not len(source):
            raise ImageError("<bytes>", "empty data (0 bytes)")
        return _oriented_size(_open(io.BytesIO(bytes(source)), "<bytes>"))
    label = os.fspath(source)
    with _open_file(source, label) as fp:
        return _oriented_size(_open(fp, label))


def list_images(directory: str | os.PathLike[str], recursive: bool = True) -> list[Path]:
    """Return the sorted image files (by suffix, hidden files and folders skipped) in ``directory``."""
    root = Path(directory)
    if not root.exists():
        raise ImageError(root, "directory not found")
    if not root.is_dir():
        raise ImageError(root, "not a directory")
    found: list[Path] = []
    for folder, subdirs, files in os.walk(root):
        subdirs[:] = [d for d in subdirs if not d.startswith(".")] if recursive else []
        found.extend(
            Path(folder, f) for f in files if not f.startswith(".") and Path(f).suffix.lower() in SUPPORTED_SUFFIXES
        )
    return sorted(found)


def _open_file(path: str | os.PathLike[str], label: str) -> BinaryIO:
    """Open ``path`` for reading, turning OS errors into ImageError; refuse empty files."""
    try:
        fp = open(path, "rb")  # noqa: SIM115 - the caller closes it
    except FileNotFoundError:
        raise ImageError(label, "file not found") from None
    except IsADirectoryError:
        raise ImageError(label, "is a directory") from None
    except PermissionError:
        raise ImageError(label, "is a directory" if os.path.isdir(path) else "permission denied") from None
    except OSError as exc:
        raise ImageError(label, f"cannot read file: {exc.strerror or exc}") from exc
    if os.fstat(fp.fileno()).st_size == 0:
        fp.close()
        raise ImageError(label, "empty file (0 bytes)")
    return fp


def _open(fp: BinaryIO, label: str, max_pixels: int | None = None) -> Image.Image:
    """Identify the format and read the header, without decoding pixel data. An image beyond Pillow's own hard limit
    is refused here, quoting `max_pixels` when one applies (one limit in every message), else Pillow's."""
    try:
        with warnings.catch_warnings():
            # faceprint's own limit (max_pixels) is checked next, from the header; Pillow's warning would be
            # printed raw on the console.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(fp, formats=_FORMATS)
    except UnidentifiedImageError:
        raise ImageError(label, "not an image (format not recognised)") from None
    except MemoryError:
        raise
    except _BOMB:
        raise ImageTooLarge(label, _too_large(None, None, max_pixels or 2 * (Image.MAX_IMAGE_PIXELS or 0))) from None
    except Exception as exc:
        raise ImageError(label, f"truncated or corrupt image data: {_describe(exc)}") from exc


def _decode(im: Image.Image, label: str, max_pixels: int | None, *, owned: bool = True) -> np.ndarray:
    """Check the size, decode, apply EXIF orientation and convert a PIL image to RGB uint8.

    Memory: a photo is held at most twice while it is converted (Pillow's decoded copy, four bytes a pixel, and the
    array, three): an image faceprint opened (`owned`) is closed as soon as its pixels are copied, EXIF orientation is
    applied to the array afterwards, and 8-bit RGB and gray images are copied in strips into the array that is
    returned, not through a bytes object and a second array.
    """
    _check_size(im.width, im.height, label, max_pixels)
    fmt, mode, size = im.format, im.mode, im.size
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im.load()
            orientation = _orientation(im, header_only=False)
            array = _pil_to_array(im, label)
            if owned:
                im.close()  # frees Pillow's copy of the pixels before the array is turned
            array = _orient(array, orientation)
    except (ImageError, MemoryError):
        raise
    except _BOMB:
        raise ImageTooLarge(label, _too_large(im.width, im.height, Image.MAX_IMAGE_PIXELS * 2)) from None
    except Exception as exc:
        raise ImageError(label, f"truncated or corrupt image data: {_describe(exc)}") from exc
    logger.debug("loaded %s: %s %s %dx%d", label, fmt or "in-memory", mode, *size)
    return _array_to_rgb(array, label, None, owned=True)


def _orient(array: np.ndarray, orientation: int) -> np.ndarray:
    """The array as a viewer shows it under EXIF orientation 1-8 (what ImageOps.exif_transpose does to the image)."""
    if orientation == 2:
        array = array[:, ::-1]
    elif orientation == 3:
        array = array[::-1, ::-1]
    elif orientation == 4:
        array = array[::-1]
    elif orientation == 5:
        array = array.swapaxes(0, 1)
    elif orientation == 6:
        array = array[::-1].swapaxes(0, 1)
    elif orientation == 7:
        array = array[::-1, ::-1].swapaxes(0, 1)
    elif orientation == 8:
        array = array[:, ::-1].swapaxes(0, 1)
    else:
        return array
    return np.ascontiguousarray(array)


def _in_strips(im: Image.Image) -> np.ndarray:
    """An 8-bit RGB or gray image as a new writeable array, copied a few megabytes at a time (np.asarray(im) would
    go through a bytes object of the whole image and give a read-only array that must be copied once more)."""
    w, h = im.size
    bands = len(im.getbands())
    out = np.empty((h, w, bands) if bands > 1 else (h, w), np.uint8)
    step = max(1, (1 << 22) // (w * bands))
    for y in range(0, h, step):
        out[y : y + step] = np.asarray(im.crop((0, y, w, min(h, y + step))))
    return out


def _pil_to_array(im: Image.Image, label: str) -> np.ndarray:
    """Turn a decoded PIL image into an array of a kind _array_to_rgb accepts."""
    mode = im.mode
    if mode.startswith("I"):  # I;16, I;16B, I (16-bit PNG/PGM/TIFF): 0..65535
        return np.clip(np.asarray(im), 0, 65535).astype(np.uint16)
    if mode in ("L", "RGB") and "transparency" not in im.info:
        return _in_strips(im)
    if mode in ("1", "F", "RGBA"):
        return np.asarray(im)
    has_alpha = "A" in im.getbands() or "transparency" in im.info
    try:
        return np.asarray(im.convert("RGBA" if has_alpha else "RGB"))
    except ValueError:
        raise ImageError(label, f"unsupported image mode {mode!r}") from None


def _array_to_rgb(array: np.ndarray, label: str, max_pixels: int | None, *, owned: bool) -> np.ndarray:
    """Convert a gray/RGB/RGBA array (uint8, uint16, bool or float in [0, 1]) to RGB uint8."""
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))):
        raise ImageError(label, f"unsupported array shape {array.shape}; expected HxW, HxWx1, HxWx3 or HxWx4")
    _check_size(array.shape[1], array.shape[0], label, max_pixels)
    if array.dtype == np.uint8:
        pixels = array
    elif array.dtype == np.bool_:
        pixels = array.astype(np.uint8) * np.uint8(255)
    elif array.dtype == np.uint16 or (array.dtype.kind == "u" and array.dtype.itemsize == 2):
        pixels = (array >> 8).astype(np.uint8)
    elif array.dtype.kind == "f":
        low, high = float(np.min(array)), float(np.max(array))
        if not (0.0 <= low and high <= 1.0):  # also catches NaN
            raise ImageError(label, f"float pixel values must lie in [0, 1], got [{low:g}, {high:g}]")
        pixels = np.rint(array * 255.0).astype(np.uint8)
    else:
        raise ImageError(label, f"unsupported array dtype {array.dtype}; expected uint8, uint16, bool or float")
    if pixels.ndim == 2:
        return np.repeat(pixels[:, :, None], 3, axis=2)
    if pixels.shape[2] == 4:  # composite onto white: out = (rgb * a + 255 * (255 - a)) / 255, rounded
        rgb, alpha = pixels[:, :, :3].astype(np.uint16), pixels[:, :, 3:].astype(np.uint16)
        return ((rgb * alpha + 255 * (255 - alpha) + 127) // 255).astype(np.uint8)
    if (pixels is array and not owned) or not pixels.flags.writeable or not pixels.flags.c_contiguous:
        return np.array(pixels, dtype=np.uint8, order="C", copy=True)
    return pixels


def _check_size(width: int, height: int, label: str, max_pixels: int | None) -> None:
    """Refuse empty images and images with more than ``max_pixels`` pixels."""
    if width == 0 or height == 0:
        raise ImageError(label, f"empty image ({width} x {height})")
    if max_pixels is not None and width * height > max_pixels:
        raise ImageTooLarge(label, _too_large(width, height, max_pixels))


def _too_large(width: int | None, height: int | None, limit: int) -> str:
    """The one message for an image above a pixel limit (faceprint's `max_pixels`, or Pillow's hard limit of
    twice `Image.MAX_IMAGE_PIXELS` that applies even with max_pixels=None): the size, the limit, what to do."""
    if width is None or height is None:
        return f"image too large: more than {limit:,} pixels, above the most faceprint reads; downscale it first"
    return f"image too large: {width} x {height} = {width * height:,} pixels, above the limit of {limit:,}; downscale it first"


def _orientation(im: Image.Image, *, header_only: bool) -> int:
    """EXIF orientation (1-8); 1 when absent, broken, or (header_only) not readable without decoding."""
    if header_only and im.format == "PNG" and "exif" not in im.info:
        return 1  # PngImageFile.getexif() would decode the whole image to look for an eXIf chunk after IDAT
    try:
        value = im.getexif().get(_ORIENTATION, 1)
        return int(value) if value in range(1, 9) else 1
    except Exception:  # a broken EXIF block must not make an otherwise good image unreadable
        return 1


def _oriented_size(im: Image.Image) -> tuple[int, int]:
    """(width, height) after EXIF orientation, from the header."""
    return (im.height, im.width) if _orientation(im, header_only=True) in (5, 6, 7, 8) else (im.width, im.height)


def _describe(exc: BaseException) -> str:
    """The exception's message, or its type name when the message is empty."""
    return str(exc) or type(exc).__name__
