"""Enrolment: detect, align and embed photos of known people and store them in the gallery, batch by batch."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from faceprint.analyzer import FaceAnalyzer, select_face
from faceprint.errors import AlreadyEnrolled, FaceprintError, ImageError, NoImagesFound
from faceprint.gallery.store import Gallery
from faceprint.image import ImageSource, list_images, load_image
from faceprint.models.identity import model_identity
from faceprint.types import Face

__all__ = ["EnrollReport", "enroll", "identity_folders", "source_label", "split_per_person", "SKIP_REASONS"]

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
    items = [(d.name, p) for d in sorted(root.iterdir()) if d.is_dir() and not d.name.startswith(".") for p in list_images(d)]
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


@dataclass
class _Pending:
    person: str
    path: str
    sha256: str
    face: Face | None
    crop: np.ndarray


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

    An image already enrolled with this model (same bytes) is skipped, so a rerun after an interruption picks
    up where it stopped. Images with no face, or with several faces (unless `several="largest"`), are skipped
    and reported, as are unreadable ones: nothing already enrolled is touched.
    """
    report = EnrollReport()
    model = analyzer.model
    identity = model_identity(analyzer.embedder.spec)
    pending: list[_Pending] = []
    seen: dict[str, str] = {}  # sha256 -> person, for images earlier in this run

    def flush() -> None:
        if not pending:
            return
        vectors = analyzer.embedder.embed(np.stack([p.crop for p in pending])).vectors
        stored: list[_Pending] = []
        with gallery.transaction():
            for p, vec in zip(pending, vectors):
                try:
                    gallery.add_face(p.person, p.path, p.sha256, p.face, vec, model, identity)
                except AlreadyEnrolled as exc:  # another process enrolled it since we looked
                    report.skip("already enrolled", p.path, f"as {exc.person}")
                else:
                    stored.append(p)
        for p in stored:
            report.enrolled[p.person] = report.enrolled.get(p.person, 0) + 1
            report.added.append((p.person, p.path))
        pending.clear()

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
        try:
            image = analyzer.load(data, name=path_s)
        except FaceprintError as exc:
            report.skip("unreadable", path_s, getattr(exc, "reason", str(exc)))
            _tick(on_image, path_s)
            continue
        faces = analyzer.detector.detect(image)
        if not faces:
            report.skip("no face", path_s)
        elif len(faces) > 1 and several == "skip":
            report.skip("several faces", path_s, f"{len(faces)} faces; crop the photo or use --largest")
        else:
            face = select_face(faces, image.shape, "largest")
            pending.append(_Pending(person, path_s, sha, face, analyzer.embedder.align(image, face)))
            seen[sha] = person
            if len(pending) >= batch_size:
                flush()
        _tick(on_image, path_s)
    flush()
    return report


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


def _tick(cb: Callable[[str], None] | None, path: str) -> None:
    if cb is not None:
        cb(path)
