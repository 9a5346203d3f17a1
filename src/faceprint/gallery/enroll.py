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
from faceprint.errors import NoImagesFound
from faceprint.gallery.store import Gallery
from faceprint.image import list_images
from faceprint.types import Face

__all__ = ["EnrollReport", "enroll", "identity_folders", "split_per_person", "SKIP_REASONS"]

log = logging.getLogger(__name__)

SKIP_REASONS = ("already enrolled", "no face", "several faces", "unreadable")


@dataclass
class EnrollReport:
    """What an enrolment run did: per-person counts and every skipped image with its reason."""

    enrolled: dict[str, int] = field(default_factory=dict)
    images: int = 0
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
    if not root.is_dir():
        raise NoImagesFound(f"{root}: not a directory of identity folders")
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


@dataclass(frozen=True)
class _Read:
    """One photo read (and hashed) by the calling thread, on its way to the decode/detect workers."""

    person: str
    path: str
    sha256: str
    data: bytes


def enroll(
    gallery: Gallery,
    analyzer: FaceAnalyzer,
    items: Iterable[tuple[str, str | os.PathLike[str]]],
    batch_size: int = 16,
    several: Literal["skip", "largest"] = "skip",
    on_image: Callable[[str], None] | None = None,
) -> EnrollReport:
    """Enrol (person, image) pairs. Each batch is embedded together and written in one transaction.

    An image already enrolled with this model (same bytes) is skipped before it is decoded, so a rerun after an
    interruption picks up where it stopped. Images with no face, or with several faces (unless
    `several="largest"`), are skipped and reported, as are unreadable ones: nothing already enrolled is touched.
    Photos stream through the overlapped pipeline (faceprint.pipeline): decoding and detection of the next photos
    run while a batch is embedded.
    """
    report = EnrollReport()
    model = analyzer.model
    seen: dict[str, str] = {}  # sha256 -> person, for images enrolled earlier in this run

    def readable() -> Iterator[_Read]:
        """Read and hash each photo here (the gallery's SQLite connection belongs to this thread); skip the rest."""
        for person, path in items:
            path_s = str(path)
            report.images += 1
            report.enrolled.setdefault(person, 0)
            try:
                data = Path(path).read_bytes()
            except OSError as exc:
                report.skip("unreadable", path_s, exc.strerror or str(exc))
                _tick(on_image, path_s)
                continue
            sha = hashlib.sha256(data).hexdigest()
            already = gallery.enrolled_as(sha, model) or seen.get(sha)
            if already is not None:
                report.skip("already enrolled", path_s, f"as {already}")
                _tick(on_image, path_s)
                continue
            yield _Read(person, path_s, sha, data)

    rows: list[tuple[_Read, Face, np.ndarray]] = []

    def flush() -> None:
        if not rows:
            return
        with gallery.transaction():
            for r, face, vec in rows:
                gallery.add_face(r.person, r.path, r.sha256, face, vec, model)
        for r, _, _ in rows:
            report.enrolled[r.person] = report.enrolled.get(r.person, 0) + 1
        rows.clear()

    results = analyzer.analyze_many(
        readable(), select="largest", load=lambda r: analyzer.load(r.data, name=r.path), batch_faces=batch_size
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
