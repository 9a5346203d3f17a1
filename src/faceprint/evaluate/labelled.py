"""Labelled embeddings: one vector per photo with its person, from identity folders (cached) or from a gallery.

What `eval identify`, `calibrate`, `viz tsne` and `export projector` all start from. Folder photos are embedded
the way `eval pairs` embeds LFW (the face nearest the centre), so both share the on-disk embedding cache.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from faceprint.analyzer import FaceAnalyzer
from faceprint.cache import EmbeddingCache
from faceprint.errors import InsufficientData, NoImagesFound
from faceprint.gallery.enroll import identity_folders
from faceprint.gallery.store import Gallery
from faceprint.models import get_model_spec
from faceprint.pipeline import item_pixels
from faceprint.types import Face

__all__ = ["InsufficientData", "LabelledEmbeddings", "embed_identity_folders", "gallery_labelled", "load_labelled"]


@dataclass(frozen=True, eq=False)
class LabelledEmbeddings:
    """Row i: the embedding of one face, the person it shows, the photo it came from and where the face is."""

    model: str
    metric: str
    vectors: np.ndarray
    labels: list[str]
    sources: list[str]
    faces: list[Face | None]
    """Face box and landmarks in the source photo (None when unknown)."""
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """(photo, reason) for photos that gave no embedding: 'no face' or 'unreadable: ...'."""

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    @property
    def people(self) -> list[str]:
        """Distinct persons, sorted."""
        return sorted(set(self.labels))

    def label_ids(self) -> tuple[np.ndarray, list[str]]:
        """Integer person id per row (index into the sorted person list) and that list."""
        people = self.people
        index = {p: i for i, p in enumerate(people)}
        return np.array([index[p] for p in self.labels], dtype=np.int64), people


def embed_identity_folders(
    root: str | os.PathLike[str],
    analyzer: FaceAnalyzer,
    cache: EmbeddingCache | None = None,
    on_image: Callable[[int, int], None] | None = None,
) -> LabelledEmbeddings:
    """Embed every photo of DIR/<person>/<images>: the face nearest the centre; photos without a face are skipped.

    Raises NoImagesFound when the folder has no identity sub-folders with images, or no photo had a face.
    """
    items = identity_folders(root)
    found: dict[int, tuple[np.ndarray, Face | None]] = {}
    errors: dict[int, str] = {}
    todo: list[int] = []
    for i, (_, path) in enumerate(items):
        hit = None
        if cache is not None:
            try:
                hit = cache.get(analyzer.model, path, detector=analyzer.detector)
            except OSError as exc:
                errors[i] = f"unreadable: {exc.strerror or exc}"
                continue
        if hit is None:
            todo.append(i)
        else:
            found[i] = (hit.vector, hit.face)
    done = len(items) - len(todo)
    if on_image is not None and done:
        on_image(done, len(items))
    results = analyzer.analyze_many(
        ((i, items[i][1]) for i in todo), select="center", fallback_center=True, load=lambda t: analyzer.load(t[1]),
        pixels=lambda t: item_pixels(t[1]),
    )
    for r in results:
        i, path = r.item
        if r.error is not None:
            errors[i] = f"unreadable: {getattr(r.error, 'reason', r.error)}"
        else:
            assert r.embeddings is not None
            face = r.chosen[0] if r.chosen else None
            found[i] = (r.embeddings.vectors[0], face)
            if cache is not None:
                cache.put(analyzer.model, path, found[i][0], face, len(r.faces), detector=analyzer.detector)
        done += 1
        if on_image is not None:
            on_image(done, len(items))
    vectors: list[np.ndarray] = []
    labels: list[str] = []
    sources: list[str] = []
    faces: list[Face | None] = []
    skipped: list[tuple[str, str]] = []
    for i, (person, path) in enumerate(items):
        if i in errors:
            skipped.append((str(path), errors[i]))
            continue
        vec, face = found[i]
        if face is None:  # the cache also holds central-region fallbacks made for LFW pairs
            skipped.append((str(path), "no face"))
        else:
            vectors.append(vec)
            labels.append(person)
            sources.append(str(path))
            faces.append(face)
    if not vectors:
        raise NoImagesFound(f"{root}: no face found in any of its {len(items)} photos")
    spec = analyzer.embedder.spec
    return LabelledEmbeddings(spec.name, spec.metric, np.stack(vectors).astype(np.float32), labels, sources, faces, skipped)


def gallery_labelled(gallery: Gallery, model: str) -> LabelledEmbeddings:
    """Every embedding of `model` in the gallery with its person, source photo and face box."""
    emb = gallery.embeddings(model)
    records = {f.id: f for f in gallery.faces()}
    rows = [records[int(fid)] for fid in emb.face_ids]
    return LabelledEmbeddings(
        model,
        _metric_of(gallery, model),
        emb.vectors,
        emb.labels(),
        [r.source for r in rows],
        [r.face for r in rows],
    )


def load_labelled(
    source: Path | None,
    gallery: Path | None,
    analyzer_factory: Callable[[], FaceAnalyzer],
    model: str,
    cache: bool = True,
    on_image: Callable[[int, int], None] | None = None,
) -> LabelledEmbeddings:
    """From identity folders (`source`) or from a gallery file: exactly one of the two must be given."""
    if (source is None) == (gallery is None):
        raise ValueError("give exactly one of a folder of identity folders and a gallery")
    if gallery is not None:
        with Gallery(gallery, create=False) as g:
            return gallery_labelled(g, model)
    store = EmbeddingCache() if cache else None
    try:
        return embed_identity_folders(source, analyzer_factory(), store, on_image)  # type: ignore[arg-type]
    finally:
        if store is not None:
            store.close()


def _metric_of(gallery: Gallery, model: str) -> str:
    """The distance metric of a model's stored embeddings: from the identity record the gallery keeps, so a
    checkpoint's ``<base>@<digest>`` works in any process; a gallery from before records asks the registry."""
    record = gallery.model_record(model)
    return record.metric if record is not None else get_model_spec(model).metric
