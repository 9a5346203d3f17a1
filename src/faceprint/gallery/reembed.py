"""Bring a gallery's stale vectors up to date: re-embed enrolled faces with the model's current pipeline.

A vector is stale when the model identity that made it (faceprint.models.identity) is not the current one: other
weights, alignment or test-time settings. Each stale face is re-read from its source photo, checked against the
sha256 recorded at enrolment, cropped at the box and landmarks found then (no new detection, so the same face is
embedded) and its vector replaced. Faces whose photo is gone or changed, or that were enrolled from memory
(``<array>``, ``<bytes>``), are reported and keep their old vector. Sources are found by one rule
(faceprint.gallery.sources): absolute paths as stored, older relative ones beside the gallery or in the current
folder, so a rerun from any folder finds the same photos.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from faceprint.analyzer import FaceAnalyzer
from faceprint.errors import FaceprintError
from faceprint.gallery.sources import find_source
from faceprint.gallery.store import FaceRecord, Gallery
from faceprint.models.identity import model_identity

__all__ = ["ReembedReport", "reembed"]

log = logging.getLogger(__name__)


@dataclass
class ReembedReport:
    """How many stale faces were re-embedded, and which could not be, with the reason."""

    model: str
    stale: int = 0
    updated: int = 0
    failed: list[tuple[int, str, str]] = field(default_factory=list)
    """(face id, source, reason)"""

    def to_dict(self) -> dict[str, object]:
        return {
            "model": self.model,
            "stale": self.stale,
            "updated": self.updated,
            "failed": [{"face_id": i, "source": s, "reason": r} for i, s, r in self.failed],
        }


def reembed(
    gallery: Gallery,
    analyzer: FaceAnalyzer,
    batch_size: int = 16,
    on_face: Callable[[int, int], None] | None = None,
) -> ReembedReport:
    """Re-embed every face of `analyzer`'s model whose vector another pipeline made; returns what happened.

    Each batch is written in one transaction, so an interrupted run keeps what it finished and a rerun continues.
    """
    identity = model_identity(analyzer.embedder.spec)
    stale = gallery.stale_faces(identity)
    report = ReembedReport(identity.name, stale=len(stale))
    pending: list[tuple[FaceRecord, np.ndarray]] = []

    def flush() -> None:
        if not pending:
            return
        vectors = analyzer.embedder.embed(np.stack([crop for _, crop in pending])).vectors
        with gallery.transaction():
            for (rec, _), vec in zip(pending, vectors):
                gallery.put_vector(rec.id, identity.name, vec, identity, replace=True)
        report.updated += len(pending)
        pending.clear()

    gallery_path = getattr(gallery, "path", None)  # a file for SQLite; a server backend holds absolute paths only
    for done, rec in enumerate(stale, start=1):
        path, reason = _locate(rec, gallery_path)
        if path is not None:
            try:
                image = analyzer.load(path.read_bytes(), name=rec.source)
            except (FaceprintError, OSError) as exc:
                reason = f"unreadable: {exc}"
            else:
                assert rec.face is not None
                pending.append((rec, analyzer.embedder.align(image, rec.face)))
        if reason is not None:
            log.info("face %d (%s) not re-embedded: %s", rec.id, rec.source, reason)
            report.failed.append((rec.id, rec.source, reason))
        if len(pending) >= batch_size:
            flush()
        if on_face is not None:
            on_face(done, len(stale))
    flush()
    return report


def _locate(rec: FaceRecord, gallery_path: str | os.PathLike[str] | None) -> tuple[Path | None, str | None]:
    """The face's source photo, or None and why it cannot be re-embedded from it."""
    if rec.face is None:
        return None, "no face box was stored for it"
    if rec.source.startswith("<"):
        return None, "enrolled from memory; enrol the photo again"
    return find_source(rec.source, rec.sha256, gallery_path if isinstance(gallery_path, (str, os.PathLike)) else None)
