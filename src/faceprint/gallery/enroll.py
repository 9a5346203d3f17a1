"""Enrolment: detect, align and embed photos of known people and store them in the gallery, batch by batch."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from faceprint.analyzer import FaceAnalyzer
from faceprint.errors import AlreadyEnrolled, FaceprintError, ImageError, NoImagesFound
from faceprint.gallery.audit import record_enrolment
from faceprint.gallery.sources import stored_source
from faceprint.gallery.store import Gallery
from faceprint.image import ImageSource, list_images, load_image
from faceprint.models.identity import model_identity
from faceprint.names import person_name
from faceprint.pipeline import item_pixels
from faceprint.types import Face

__all__ = ["EnrollReport", "enroll", "identity_folders", "new_images", "source_label", "split_per_person", "SKIP_REASONS"]

log = logging.getLogger(__name__)

SKIP_REASONS = ("already enrolled", "no face", "several faces", "unreadable")


@dataclass
class EnrollReport:
    """What an enrolment run did: per-person counts and every skipped image with its reason."""

    enrolled: dict[str, int] = field(default_factory=dict)
    images: int = 0
    added: list[tuple[str, str]] = field(default_factory=list)
    """(person, image) of every face stored, in order."""
    skipped: dict[str, list[tuple[str, str]]] = field(default_factory=lambda: {r: [] for r in SKIP_REASONS})

    @property
    def faces_enrolled(self) -> int:
        return sum(self.enrolled.values())

    @property
    def people(self) -> list[str]:
        return sorted(self.enrolled)

    def skip(self, reason: str, path: str, detail: str = "") -> None:
        self.skipped[reason].append((path, detail))
        log.info("skipped %s: %s%s", path, reason, f" ({detail})" if detail else "")

    def to_dict(self) -> dict[str, object]:
        return {
            "people": len(self.enrolled),
            "images": self.images,
            "faces_enrolled": self.faces_enrolled,
            "enrolled": self.enrolled,
            "skipped": {r: len(v) for r, v in self.skipped.items()},
            "skipped_images": {r: [p for p, _ in v] for r, v in self.skipped.items() if v},
        }


def identity_folders(root: str | os.PathLike[str]) -> list[tuple[str, Path]]:
    """(person, image) for the layout DIR/<person>/<images> used by LFW, Avengers and ORL."""
    root = Path(root)
    if not root.exists():
        raise ImageError(root, "directory not found")
    if not root.is_dir():
        raise ImageError(root, "not a directory of identity folders (DIR/<person>/<images>)")
    # A folder's name is its person's name, by the one name rule (faceprint.names): InvalidName names the folder.
    items = [(person_name(d.name), p) for d in sorted(root.iterdir()) if d.is_dir() and not d.name.startswith(".") for p in list_images(d)]
    if not items:
        raise NoImagesFound(f"{root}: no images found in <person>/ sub-folders (expected DIR/<person>/<images>)")
    return items


def split_per_person(
    items: list[tuple[str, Path]], fraction: float = 0.6
) -> tuple[list[tuple[str, Path]], list[tuple[str, Path]]]:
    """Deterministic (enrol, hold-out) split taking `fraction` of each person's photos, spread evenly in order."""
    if not 0.0 < fraction < 1.0:
        raise ValueError("fraction must be between 0 and 1")
    train: list[tuple[str, Path]] = []
    test: list[tuple[str, Path]] = []
    counts: dict[str, int] = {}
    for person, path in items:
        i = counts[person] = counts.get(person, -1) + 1
        (train if int((i + 1) * fraction) > int(i * fraction) else test).append((person, path))
    return train, test


@dataclass(frozen=True)
class _Read:
    """One photo read (and hashed) by the calling thread, on its way to the decode/detect workers."""

    person: str
    path: str
    sha256: str
    data: bytes | np.ndarray
    """The file's bytes, or the pixels of an in-memory image."""
    stored: str
    """The source as the gallery stores it: a file's absolute path (faceprint.gallery.sources), else `path`."""


def enroll(
    gallery: Gallery,
    analyzer: FaceAnalyzer,
    items: Iterable[tuple[str, ImageSource]],
    batch_size: int = 16,
    several: Literal["skip", "largest"] = "skip",
    on_image: Callable[[str], None] | None = None,
) -> EnrollReport:
    """Enrol (person, image) pairs. Each batch is embedded together and written in one transaction.

    An image is a path or anything `faceprint.image.load_image` takes (bytes, a file object, a PIL image, an RGB
    array); in-memory images are recorded as ``<bytes>``/``<array>`` with the content hash that identifies them.

    An image already enrolled with this model (same bytes) is skipped before it is decoded, so a rerun after an
    interruption picks up where it stopped; the gallery itself refuses an image that another process enrolled in
    the meantime (reported as already enrolled). Images with no face, or with several faces (unless
    `several="largest"`), are skipped and reported, as are unreadable ones: nothing already enrolled is touched.
    Photos stream through the overlapped pipeline (faceprint.pipeline): decoding and detection of the next photos
    run while a batch is embedded.
    """
    report = EnrollReport()
    model = analyzer.model
    identity = model_identity(analyzer.embedder.spec)
    seen: dict[str, str] = {}  # sha256 -> person, for images enrolled earlier in this run

    rows: list[tuple[_Read, Face, np.ndarray]] = []

    def flush() -> None:
        if not rows:
            return
        stored: list[_Read] = []
        with gallery.transaction():
            for r, face, vec in rows:
                try:
                    gallery.add_face(r.person, r.stored, r.sha256, face, vec, model, identity)
                except AlreadyEnrolled as exc:  # another process enrolled it since we looked
                    report.skip("already enrolled", r.path, f"as {exc.person}")
                else:
                    stored.append(r)
            record_enrolment(gallery, [(r.person, r.path) for r in stored], model)  # same transaction
        for r in stored:
            report.enrolled[r.person] = report.enrolled.get(r.person, 0) + 1
            report.added.append((r.person, r.path))
        rows.clear()

    results = analyzer.analyze_many(
        new_images(gallery, model, items, report, seen, on_image), select="largest", load=lambda r: analyzer.load(r.data, name=r.path),
        batch_faces=batch_size, pixels=lambda r: item_pixels(r.data),
    )
    for res in results:
        r = res.item
        if res.error is not None:
            report.skip("unreadable", r.path, getattr(res.error, "reason", str(res.error)))
        elif not res.faces:
            report.skip("no face", r.path)
        elif len(res.faces) > 1 and several == "skip":
            report.skip("several faces", r.path, f"{len(res.faces)} faces; crop the photo or use --largest")
        elif r.sha256 in seen:  # the same bytes twice in this run, both in flight at once
            report.skip("already enrolled", r.path, f"as {seen[r.sha256]}")
        else:
            assert res.embeddings is not None
            rows.append((r, res.chosen[0], res.embeddings.vectors[0]))
            seen[r.sha256] = r.person
            if len(rows) >= batch_size:
                flush()
        _tick(on_image, r.path)
    flush()
    return report


def _tick(cb: Callable[[str], None] | None, path: str) -> None:
    if cb is not None:
        cb(path)


def new_images(
    gallery: Gallery,
    model: str,
    items: Iterable[tuple[str, ImageSource]],
    report: EnrollReport,
    seen: dict[str, str],
    on_image: Callable[[str], None] | None = None,
) -> Iterator[_Read]:
    """Read and hash each (person, image) in the caller's thread (it owns the gallery's SQLite connection), counting
    it in `report`; unreadable images and those already enrolled with `model` (in the gallery, or earlier in this run:
    `seen`, sha256 -> person) are reported as skipped, the rest are yielded. Both enrolment engines start here."""
    for person, source in items:
        path_s = source_label(source)
        report.images += 1
        report.enrolled.setdefault(person, 0)
        try:
            data, sha = _read_source(source, path_s)
        except OSError as exc:
            report.skip("unreadable", path_s, exc.strerror or str(exc))
            _tick(on_image, path_s)
            continue
        except FaceprintError as exc:
            report.skip("unreadable", path_s, getattr(exc, "reason", str(exc)))
            _tick(on_image, path_s)
            continue
        already = gallery.enrolled_as(sha, model) or seen.get(sha)
        if already is not None:
            report.skip("already enrolled", path_s, f"as {already}")
            _tick(on_image, path_s)
            continue
        yield _Read(person, path_s, sha, data, stored_source(source) if isinstance(source, (str, os.PathLike)) else path_s)


def source_label(source: ImageSource) -> str:
    """How an enrolment source is named in reports and in the gallery: its path, else its kind."""
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    if isinstance(source, np.ndarray):
        return "<array>"
    if isinstance(source, (bytes, bytearray, memoryview)):
        return "<bytes>"
    name = getattr(source, "filename", None) or getattr(source, "name", None)
    return name if isinstance(name, str) and name else f"<{type(source).__name__}>"


def _read_source(source: ImageSource, label: str) -> tuple[bytes | np.ndarray, str]:
    """The image's payload for `load_image` and its content hash (sha256 of the file's bytes, or of an array's
    shape and pixels), which is what makes an image "already enrolled"."""
    if isinstance(source, (str, os.PathLike)):
        data = Path(source).read_bytes()
        return data, hashlib.sha256(data).hexdigest()
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        return data, hashlib.sha256(data).hexdigest()
    if callable(getattr(source, "read", None)):
        data = source.read()  # type: ignore[union-attr]
        if not isinstance(data, bytes):
            raise ImageError(label, "file object is open in text mode; open it with 'rb'")
        return data, hashlib.sha256(data).hexdigest()
    pixels = load_image(source, name=label)  # PIL image or array: hash the pixels we embed
    h = hashlib.sha256(repr(pixels.shape).encode())
    h.update(pixels.tobytes())
    return pixels, h.hexdigest()
