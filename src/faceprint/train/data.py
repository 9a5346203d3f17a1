"""Training data: identity folders -> aligned face crops (detected and aligned once, cached on disk) -> splits.

A training set is a folder of identity folders (DIR/<person>/<images>, the layout of LFW, ORL and the Avengers).
Each photo becomes one face crop of the model's input size, made the way the model will see faces at inference:
the detector finds the faces, the largest is kept, and the model's own `align` warps it onto its template. With
`cropped=True` every file is taken to be one face already (ORL, the Avengers): its central square is resized to
the input size and no detector runs.

The crops of a folder are made once and kept in ``cache_dir()/train-faces/<key>.npz``, the key covering the
file list (path, size, modification time), the mode (detector or cropped) and the model's alignment, so a
second run, a resumed run or a run with another miner starts at once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from faceprint.detect import DEFAULT_DETECTOR
from faceprint._files import atomic_write
from faceprint.errors import FaceprintError, NoImagesFound
from faceprint.image import load_image
from faceprint.models._weights import cache_dir
from faceprint.models.base import Embedder
from faceprint.types import Face, face_from_json, face_to_json

if TYPE_CHECKING:
    from faceprint.detect.base import Detector

__all__ = [
    "CACHE_VERSION",
    "FaceSet",
    "export_faces",
    "face_cache_path",
    "prepare_faces",
    "select_people",
    "square_crop",
    "split_people",
]

log = logging.getLogger(__name__)

CACHE_VERSION = 3
"""Bump when the way crops are made changes, so cached crops are made again."""

Items = Sequence[tuple[str, Path]]


@dataclass(frozen=True, eq=False)
class FaceSet:
    """Aligned face crops (N, S, S, 3) uint8 RGB with their person and source file, plus what was skipped."""

    crops: np.ndarray
    persons: list[str]
    """One person name per crop (not deduplicated)."""
    sources: list[str]
    faces: list[Face | None]
    """The detected face each crop was aligned from (None for pre-cropped files)."""
    skipped: dict[str, list[str]] = field(default_factory=dict)
    """reason -> source files that gave no crop ("no face", "unreadable")."""

    def __len__(self) -> int:
        return len(self.persons)

    @property
    def people(self) -> list[str]:
        """Distinct person names, sorted."""
        return sorted(set(self.persons))

    def labels(self, people: Sequence[str] | None = None) -> np.ndarray:
        """Integer label per crop: the index of its person in `people` (default: `self.people`)."""
        pos = {p: i for i, p in enumerate(self.people if people is None else people)}
        return np.array([pos[p] for p in self.persons], np.int64)

    def subset(self, keep: np.ndarray | Sequence[int]) -> FaceSet:
        """The crops at the given indices (or boolean mask)."""
        idx = np.flatnonzero(keep) if np.asarray(keep).dtype == bool else np.asarray(keep, np.int64)
        return FaceSet(
            self.crops[idx],
            [self.persons[i] for i in idx],
            [self.sources[i] for i in idx],
            [self.faces[i] for i in idx],
            self.skipped,
        )

    def of_people(self, people: Sequence[str]) -> FaceSet:
        """The crops of the named people only."""
        wanted = set(people)
        return self.subset(np.array([p in wanted for p in self.persons], bool))


def square_crop(image: np.ndarray, size: int) -> np.ndarray:
    """The central square of an image (side = its shorter side), resized to size x size: a pre-cropped face."""
    h, w = image.shape[:2]
    side = min(h, w)
    y0, x0 = (h - side) // 2, (w - side) // 2
    crop = image[y0 : y0 + side, x0 : x0 + side]
    if side == size:
        return np.ascontiguousarray(crop)
    interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(crop, (size, size), interpolation=interp)


def select_people(
    items: Items, min_images: int = 1, people: Sequence[str] | None = None
) -> list[tuple[str, Path]]:
    """The (person, image) items of people with at least `min_images` photos, optionally only those in `people`."""
    wanted = set(people) if people is not None else None
    counts: dict[str, int] = {}
    for person, _ in items:
        counts[person] = counts.get(person, 0) + 1
    kept = [(p, f) for p, f in items if counts[p] >= min_images and (wanted is None or p in wanted)]
    if not kept:
        what = f" among the {len(wanted)} people asked for" if wanted is not None else ""
        raise NoImagesFound(f"no person has at least {min_images} photos{what}")
    return kept


def split_people(people: Sequence[str], val: float, seed: int) -> tuple[list[str], list[str]]:
    """(train, validation) people: a seeded random `val` share of them (or `val` people when val >= 1) held out."""
    people = sorted(people)
    n_val = int(round(val * len(people))) if val < 1 else int(val)
    if val > 0:
        n_val = max(n_val, 2)
    if n_val > len(people) - 2:
        raise ValueError(
            f"cannot hold out {n_val} of {len(people)} people for validation: at least 2 must be left to train on"
        )
    order = np.random.default_rng(seed).permutation(len(people))
    held = {people[i] for i in order[:n_val]}
    return [p for p in people if p not in held], [p for p in people if p in held]


def _alignment_key(embedder: Embedder, cropped: bool, detector: str) -> dict[str, object]:
    spec = embedder.spec
    align = type(embedder).align
    return {
        "version": CACHE_VERSION,
        "mode": "cropped" if cropped else f"detect:{detector}",
        "size": spec.input_size,
        "template": None if cropped else spec.template,
        "padding": None if cropped else spec.padding,
        "align": None if cropped else f"{align.__module__}.{align.__qualname__}",
        # embedder options that change the crop (facenet's box/align crop, openface's 68/5-point alignment)
        "options": None if cropped else {k: getattr(embedder, k, None) for k in ("crop", "alignment")},
    }


def face_cache_path(items: Items, embedder: Embedder, cropped: bool, detector: str = DEFAULT_DETECTOR) -> Path:
    """Where the crops of these files, made this way for this model's alignment, are cached."""
    h = hashlib.sha256(json.dumps(_alignment_key(embedder, cropped, detector), sort_keys=True).encode())
    for person, path in items:
        p = Path(path).resolve()
        st = p.stat()
        h.update(f"{person}\0{p}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return cache_dir() / "train-faces" / f"{h.hexdigest()[:24]}.npz"


def _save_npz(path: Path, **arrays: np.ndarray) -> None:
    atomic_write(path, lambda f: np.savez(f, **arrays))


def _load_cached(path: Path, items: Items) -> FaceSet | None:
    """The cached crops, with persons and sources taken from `items` as the caller spells them (the cache key
    covers the same files in the same order, perhaps spelled otherwise: relative, from another directory)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            crops = z["crops"]
        faces = [None if f is None else face_from_json(f) for f in meta["faces"]]
        index = meta["index"]
        skipped = {reason: [str(items[i][1]) for i in idx] for reason, idx in meta["skipped_index"].items()}
        return FaceSet(crops, [items[i][0] for i in index], [str(items[i][1]) for i in index], faces, skipped)
    except Exception as exc:  # a damaged or foreign file (BadZipFile, EOFError, ...) is rebuilt, not fatal
        log.warning("ignoring unreadable face cache %s: %s", path, exc)
        return None


def _crop_one(
    file: Path, embedder: Embedder, size: int, det: Detector | None
) -> tuple[np.ndarray | None, Face | None, str]:
    """(crop, face, "") for one photo, or (None, None, reason) when it gives none."""
    try:
        image = load_image(file)
    except FaceprintError:
        return None, None, "unreadable"
    if det is None:
        return square_crop(image, size), None, ""
    faces = det.detect(image)  # largest first
    if not faces:
        return None, None, "no face"
    return embedder.align(image, faces[0]), faces[0], ""


def prepare_faces(
    items: Items,
    embedder: Embedder,
    cropped: bool = False,
    detector: str = DEFAULT_DETECTOR,
    use_cache: bool = True,
    on_image: Callable[[str], None] | None = None,
) -> FaceSet:
    """One aligned crop per photo, made with `embedder.align` (or as a pre-cropped face), cached on disk.

    Photos with no face, and unreadable files, are skipped and listed in `FaceSet.skipped`. With several faces
    the largest is used. `on_image(path)` is called after each photo that had to be processed.
    """
    if not items:
        raise NoImagesFound("no images to prepare")
    path = face_cache_path(items, embedder, cropped, detector) if use_cache else None
    if path is not None and path.is_file():
        cached = _load_cached(path, items)
        if cached is not None:
            log.info("face crops from the cache %s", path)
            return cached
    size = embedder.spec.input_size
    det = None
    if not cropped:
        from faceprint.detect import create_detector

        det = create_detector(detector)
    crops: list[np.ndarray] = []
    persons: list[str] = []
    sources: list[str] = []
    found: list[Face | None] = []
    index: list[int] = []
    skipped: dict[str, list[str]] = {"no face": [], "unreadable": []}
    skipped_index: dict[str, list[int]] = {"no face": [], "unreadable": []}
    for i, (person, file) in enumerate(items):
        src = str(file)
        crop, face, reason = _crop_one(file, embedder, size, det)
        if crop is None:
            skipped[reason].append(src)
            skipped_index[reason].append(i)
            log.info("skipped %s: %s", src, reason)
        else:
            crops.append(crop)
            persons.append(person)
            sources.append(src)
            found.append(face)
            index.append(i)
        if on_image is not None:
            on_image(src)
    if not crops:
        raise NoImagesFound(f"no face crop could be made from the {len(items)} images given")
    faces_arr = np.stack(crops).astype(np.uint8, copy=False)
    out = FaceSet(faces_arr, persons, sources, found, skipped)
    if path is not None:
        faces_json = [None if f is None else face_to_json(f) for f in found]
        meta = json.dumps({"index": index, "faces": faces_json, "skipped_index": skipped_index})
        _save_npz(path, crops=faces_arr, meta=np.array(meta))
    return out


def export_faces(faces: FaceSet, out_dir: str | os.PathLike[str]) -> int:
    """Write every crop as a lossless PNG into out_dir/<person>/, an identity folder to train on with `cropped`.

    Lets the crops made here (detection, alignment) travel to another machine; returns the number written.
    """
    out = Path(out_dir)
    seen: dict[str, int] = {}
    for crop, person, src in zip(faces.crops, faces.persons, faces.sources):
        folder = out / person
        folder.mkdir(parents=True, exist_ok=True)
        stem = Path(src).stem
        n = seen.get(f"{person}/{stem}", 0)
        seen[f"{person}/{stem}"] = n + 1
        name = f"{stem}.png" if n == 0 else f"{stem}-{n}.png"
        if not cv2.imwrite(str(folder / name), cv2.cvtColor(crop, cv2.COLOR_RGB2BGR)):
            raise OSError(f"could not write {folder / name}")
    return len(faces)
