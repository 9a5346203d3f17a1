"""The one on-disk cache of what a pipeline found in each photo: one SQLite file, ``photos.sqlite`` in the cache
directory, that `eval` (one face per photo) and `cluster` (every face of a photo) both fill.

Key rule (`photo_key`): a row belongs to a view (``one``: the face `eval` embeds, or the central-region fallback;
``all-vN``: every face with its sharpness), the model's identity key (faceprint.models.identity: name, weights,
every setting that shapes its input, and the version bumped when detection or alignment code changes what a model
sees), and the detector with its settings (`detector_key`: its box and landmarks make the crop). A row is stored
under the photo's absolute path and holds the sha256 of the photo's bytes; a lookup hits only when the file's
content is the one stored, so an edited photo is a miss and a copied or touched one (new mtime, same bytes) is not
embedded again at its path.

Storage policy, written once here (`PhotoCache`): WAL journal, a 30 s busy timeout, ``secure_delete`` on, and rows
written in short ``BEGIN IMMEDIATE`` transactions (a view buffers up to `batch` photos and writes them together),
so several processes can fill one cache and a process killed mid-write leaves a readable file with every photo it
had committed.

Format: ``PRAGMA user_version`` holds `SCHEMA_VERSION`. A cache file of another version is emptied and rebuilt on
open (a cache may be discarded: its rows are computed again); a file that holds other tables is another program's
and is refused (OutputError), never emptied. The two files older faceprint versions wrote in the cache directory
(``embeddings.sqlite``, ``faces.sqlite``, each recognised by its one table) are deleted when a cache in their
folder is opened or erased, so no vector stays in a file that nothing reads or erases any more.

Erasure (`erase_photos`, used by faceprint.gallery.erasure): rows whose photo is a removed face's source (same
path or same content hash) or that hold one of the removed vectors are deleted and the WAL is truncated.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from faceprint.errors import OutputError
from faceprint.models._weights import cache_dir, sha256_file
from faceprint.types import Face, face_from_json, face_to_json

if TYPE_CHECKING:
    from faceprint.detect.base import Detector

__all__ = [
    "CACHE_FILE", "SCHEMA_VERSION", "CachedEmbedding", "EmbeddingCache", "FaceCache", "PhotoCache", "detector_key",
    "erase_photos", "photo_key", "pipeline_key",
]

CACHE_FILE = "photos.sqlite"
"""The cache's file name in the cache directory."""
LEGACY_FILES = ("embeddings.sqlite", "faces.sqlite")
"""The files of the two caches this one replaced (schema version 0): deleted, never read."""
SCHEMA_VERSION = 1
"""Bump when the table changes; a file of another version is emptied on open."""
FACE_CACHE_VERSION = 1
"""Bump when what `FaceCache` stores per face changes (e.g. how sharpness is measured): its rows get a new key."""
BUSY_TIMEOUT_S = 30.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS photos (
    key TEXT NOT NULL,          -- view | model identity key | detector key (photo_key)
    path TEXT NOT NULL,         -- the photo's absolute, resolved path
    sha256 TEXT NOT NULL,       -- of the photo's bytes when it was embedded
    faces TEXT NOT NULL,        -- JSON list, one entry per stored vector: a face (with the view's extra fields) or null
    vectors BLOB NOT NULL,      -- float32 (len(faces), dim)
    n_faces INTEGER NOT NULL,   -- faces the detector found in the photo
    PRIMARY KEY (key, path)
);
CREATE INDEX IF NOT EXISTS photos_sha256 ON photos (sha256);
"""

_NOT_SETTINGS = frozenset({"num_threads"})
"""Detector attributes that do not change what it finds."""


def pipeline_key(model: str) -> str:
    """The cache key of a model: its identity key (faceprint.models.identity), or for a name faceprint cannot build,
    the name alone."""
    from faceprint.errors import UnknownModel
    from faceprint.models.identity import model_identity

    try:
        return model_identity(model).key
    except UnknownModel:  # not a model faceprint can build: its name is all we know
        return f"{model}#unknown"


def _plain(value: object) -> object:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return repr(value)


def detector_key(detector: Detector | str) -> str:
    """A detector and its settings: its name and the public attributes its constructor set (minimum face size,
    score and NMS thresholds, upsampling, ...), but not the thread count. A name stands for that detector at its
    defaults; a name faceprint has no detector for is kept as it is."""
    if isinstance(detector, str):
        from faceprint.detect import create_detector, list_detectors

        if detector not in list_detectors():
            return detector
        detector = create_detector(detector)  # cheap: detectors load their networks on the first detect
    settings = {k: v for k, v in vars(detector).items() if not k.startswith("_") and k not in _NOT_SETTINGS}
    return f"{detector.name}{json.dumps(settings, sort_keys=True, default=_plain)}"


def photo_key(view: str, model: str, detector: Detector | str) -> str:
    """The key of a cache row: what was stored (the view), by which model and which detector with its settings."""
    return f"{view}|{pipeline_key(model)}|{detector_key(detector)}"


_LEGACY_TABLES = {
    "embeddings": {"model", "path", "size", "mtime_ns", "vector", "face", "n_faces"},
    "photo_faces": {"key", "path", "size", "mtime_ns", "faces", "vectors"},
}
"""The one table of each older cache file, with its columns: only a file of exactly that is deleted."""


def _table_columns(db: sqlite3.Connection) -> dict[str, set[str]]:
    """Every table of a database, with its columns."""
    names = [n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()]
    return {n: {c[1] for c in db.execute(f'PRAGMA table_info("{n}")')} for n in names}


def _tables(path: Path) -> dict[str, set[str]] | None:
    """The tables of a SQLite file and their columns, or None when it is not one that SQLite reads."""
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
    except sqlite3.Error:
        return None
    try:
        return _table_columns(db)
    except sqlite3.Error:
        return None
    finally:
        db.close()


def _discard_legacy(folder: Path) -> int:
    """Delete the files of the caches this one replaced (with their WAL and shared-memory files); how many. A file
    of that name that is not such a cache is left alone."""
    n = 0
    for name in LEGACY_FILES:
        main = folder / name
        found = _tables(main) if main.is_file() else None
        if not found or not _ours(found, 0):  # absent, unreadable, empty or another program's: left alone
            continue
        for suffix in ("", "-wal", "-shm", "-journal"):
            p = folder / (name + suffix)
            if p.is_file():
                p.unlink(missing_ok=True)
                n += 1
    return n


def _ours(tables: dict[str, set[str]], version: int) -> bool:
    """Whether a SQLite file with these tables (name -> columns) and this user_version is a faceprint cache that may
    be emptied: a new file, one of another version of this cache, or one of the older caches' files."""
    return (not tables or (version >= 1 and set(tables) == {"photos"})
            or any(tables == {t: c} for t, c in _LEGACY_TABLES.items()))


def _connect(path: Path) -> sqlite3.Connection:
    """A connection with the cache's policy: autocommit (transactions are explicit), WAL, busy timeout, zeroed
    deletes, and the table of this schema version (a file of another version is emptied first).

    Several processes may open a new cache file at once: switching a file to WAL takes a lock for which SQLite does
    not always wait (it answers "database is locked" at once), so a locked start is retried until the busy timeout,
    and is never reported as a file that is not a cache."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as exc:
            raise OutputError(f"{path}: cannot open the cache ({exc})") from None
        try:
            _prepare(path, db)
            return db
        except sqlite3.OperationalError as exc:
            db.close()
            if not _locked(exc):
                raise OutputError(f"{path}: not a faceprint cache ({exc}); give another cache path") from None
            if time.monotonic() >= deadline:
                raise OutputError(f"{path}: the cache stayed locked by another process for {BUSY_TIMEOUT_S:.0f} s") from None
            time.sleep(random.uniform(0.02, 0.1))
        except sqlite3.DatabaseError as exc:
            db.close()
            raise OutputError(f"{path}: not a faceprint cache ({exc}); give another cache path") from None
        except BaseException:
            db.close()
            raise


def _locked(exc: sqlite3.OperationalError) -> bool:
    """Whether SQLite refused for another connection's lock (busy or locked), not for what the file holds."""
    return "locked" in str(exc) or "busy" in str(exc)


def _prepare(path: Path, db: sqlite3.Connection) -> None:
    """Set the cache's policy on a new connection and make its schema current, in one write transaction."""
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA secure_delete=ON")
    db.execute("BEGIN IMMEDIATE")  # one process checks and creates the schema at a time
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version != SCHEMA_VERSION:
        tables = _table_columns(db)
        if not _ours(tables, version):  # another program's database: never emptied
            raise OutputError(f"{path}: not a faceprint cache (it holds tables {', '.join(sorted(tables))}); "
                              "give another cache path")
        for table in tables:
            db.execute(f'DROP TABLE "{table}"')
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    for statement in _SCHEMA.split(";"):  # (executescript would commit the open transaction first)
        if statement.strip():
            db.execute(statement)
    db.execute("COMMIT")


@dataclass(frozen=True)
class _Row:
    key: str
    path: str
    sha256: str
    faces: list[dict[str, Any] | None]
    vectors: np.ndarray
    n_faces: int


class PhotoCache:
    """The cache file and its policy; the views `EmbeddingCache` and `FaceCache` say what a row holds.

    `path=None` uses <cache dir>/photos.sqlite. Rows are written when `batch` of them wait, at `commit` and at
    `close`, each batch in one short transaction.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, batch: int = 1) -> None:
        self.path = Path(path) if path is not None else cache_dir() / CACHE_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _discard_legacy(self.path.parent)
        self.batch = max(1, int(batch))
        self._db = _connect(self.path)
        self._pending: list[_Row] = []
        self._digests: dict[tuple[str, int, int], str] = {}
        self._keys: dict[tuple[str, str, str], str] = {}

    def _key(self, view: str, model: str, detector: Detector | str) -> str:
        """`photo_key`, computed once per model and detector name while this cache is open."""
        if not isinstance(detector, str):
            return photo_key(view, model, detector)
        memo = (view, model, detector)
        if memo not in self._keys:
            self._keys[memo] = photo_key(view, model, detector)
        return self._keys[memo]

    def _photo(self, image: str | os.PathLike[str]) -> tuple[str, str]:
        """The photo's absolute path and content hash (hashed once per file state while this cache is open)."""
        path = Path(image).resolve()
        st = path.stat()
        stamp = (str(path), st.st_size, st.st_mtime_ns)
        digest = self._digests.get(stamp)
        if digest is None:
            if len(self._digests) > 4096:
                self._digests.clear()
            digest = self._digests[stamp] = sha256_file(path)
        return str(path), digest

    def _get(self, key: str, image: str | os.PathLike[str]) -> _Row | None:
        path, digest = self._photo(image)
        for row in reversed(self._pending):
            if row.key == key and row.path == path and row.sha256 == digest:
                return row
        found = self._db.execute(
            "SELECT faces, vectors, n_faces FROM photos WHERE key=? AND path=? AND sha256=?", (key, path, digest)
        ).fetchone()
        if found is None:
            return None
        faces = json.loads(found[0])
        blob = bytes(found[1])
        vectors = np.frombuffer(blob, "<f4").reshape(len(faces), -1) if faces else np.zeros((0, 0), np.float32)
        return _Row(key, path, digest, faces, vectors, int(found[2]))

    def _put(self, key: str, image: str | os.PathLike[str], faces: list[dict[str, Any] | None], vectors: np.ndarray,
             n_faces: int) -> None:
        path, digest = self._photo(image)
        x = np.asarray(vectors, np.float32).reshape(len(faces), -1) if faces else np.zeros((0, 0), np.float32)
        self._pending.append(_Row(key, path, digest, faces, x, int(n_faces)))
        if len(self._pending) >= self.batch:
            self.commit()

    def commit(self) -> None:
        """Write the waiting rows in one transaction."""
        if not self._pending:
            return
        rows = [(r.key, r.path, r.sha256, json.dumps(r.faces), r.vectors.astype("<f4").tobytes(), r.n_faces)
                for r in self._pending]
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany("INSERT OR REPLACE INTO photos VALUES (?, ?, ?, ?, ?, ?)", rows)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        self._pending.clear()

    def erase(self, paths: Collection[str] = (), sha256: Collection[str] = (),
              holds: Callable[[np.ndarray], np.ndarray] | None = None) -> int:
        """Delete the rows of these photos (by absolute path or by content hash) and the rows with a vector that
        `holds` marks (it gets (N, D) float32 vectors and returns N booleans); zeroes the freed space and empties
        the WAL. Returns how many rows went."""
        self.commit()
        paths, sha256 = set(paths), set(sha256)
        doomed: list[int] = []
        by_shape: dict[tuple[int, int], list[tuple[int, bytes]]] = {}  # (vectors, bytes) -> rows, matched in bulk
        for rowid, path, digest, count, blob in self._db.execute(
            "SELECT rowid, path, sha256, json_array_length(faces), vectors FROM photos"
        ):
            data = bytes(blob)
            if path in paths or digest in sha256:
                doomed.append(rowid)
            elif holds is not None and data and count and len(data) % (4 * count) == 0:
                by_shape.setdefault((int(count), len(data)), []).append((rowid, data))
        for (count, _), rows in by_shape.items():  # (filled only when `holds` is given)
            assert holds is not None
            x = np.frombuffer(b"".join(d for _, d in rows), "<f4").reshape(len(rows) * count, -1)
            hit = np.asarray(np.asarray(holds(x), bool).reshape(len(rows), count).any(axis=1))
            doomed += [rowid for (rowid, _), h in zip(rows, hit.tolist()) if h]
        if doomed:
            self._db.execute("BEGIN IMMEDIATE")
            for s in range(0, len(doomed), 500):
                part = doomed[s : s + 500]
                self._db.execute(f"DELETE FROM photos WHERE rowid IN ({','.join('?' * len(part))})", part)
            self._db.execute("COMMIT")
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return len(doomed)

    def close(self) -> None:
        """Write the waiting rows and close the file."""
        try:
            self.commit()
        finally:
            self._db.close()

    def __enter__(self) -> PhotoCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def erase_photos(folder: str | os.PathLike[str], paths: Iterable[str] = (), sha256: Iterable[str] = (),
                 holds: Callable[[np.ndarray], np.ndarray] | None = None) -> int:
    """Erase photos from the cache in `folder` (see `PhotoCache.erase`), and delete the older caches' files there.
    A folder without a cache file is left without one. Returns how many rows (and older files) went."""
    folder = Path(folder)
    n = _discard_legacy(folder) if folder.is_dir() else 0
    if not (folder / CACHE_FILE).is_file():
        return n
    with PhotoCache(folder / CACHE_FILE) as cache:
        return n + cache.erase(set(paths), set(sha256), holds)


@dataclass(frozen=True)
class CachedEmbedding:
    """The face `eval` embedded in a photo (None: the central-region fallback), its vector, and how many faces the
    detector found."""

    vector: np.ndarray
    face: Face | None
    n_faces: int


class EmbeddingCache(PhotoCache):
    """One face per photo, as `eval` embeds it; each `put` is committed at once so an interrupted run keeps it."""

    VIEW = "one"

    def get(self, model: str, image: str | os.PathLike[str], *, detector: Detector | str) -> CachedEmbedding | None:
        """The cached result for this image file as it is now, found by `detector`, or None if missing or stale."""
        row = self._get(self._key(self.VIEW, model, detector), image)
        if row is None or len(row.faces) != 1:
            return None
        face = row.faces[0]
        return CachedEmbedding(row.vectors[0].copy(), None if face is None else face_from_json(face), row.n_faces)

    def put(self, model: str, image: str | os.PathLike[str], vector: np.ndarray, face: Face | None, n_faces: int, *,
            detector: Detector | str) -> None:
        """Store (or replace) one image's embedding."""
        self._put(self._key(self.VIEW, model, detector), image, [None if face is None else face_to_json(face)],
                  np.asarray(vector, np.float32).reshape(1, -1), n_faces)

    def __enter__(self) -> EmbeddingCache:
        return self


class FaceCache(PhotoCache):
    """Every face of a photo with its vector and sharpness, as `cluster` collects them; rows are written 32 photos
    at a time (and at `commit` and `close`)."""

    VIEW = f"all-v{FACE_CACHE_VERSION}"

    def __init__(self, path: str | os.PathLike[str] | None = None, *, batch: int = 32) -> None:
        super().__init__(path, batch=batch)

    def get(self, model: str, detector: Detector | str, image: str | os.PathLike[str]
            ) -> list[tuple[Face, np.ndarray, float]] | None:
        """The faces (largest first) of this photo as it is now, with their vectors and sharpness, or None."""
        row = self._get(self._key(self.VIEW, model, detector), image)
        if row is None:
            return None
        faces = [m for m in row.faces if m is not None]  # (this view stores no fallback)
        return [(face_from_json(m), row.vectors[i].copy(), float(m["sharpness"])) for i, m in enumerate(faces)]

    def put(self, model: str, detector: Detector | str, image: str | os.PathLike[str],
            faces: list[tuple[Face, np.ndarray, float]]) -> None:
        """Store (or replace) every face of one photo."""
        meta: list[dict[str, Any] | None] = [dict(face_to_json(f), sharpness=float(s)) for f, _, s in faces]
        vectors = np.stack([v for _, v, _ in faces]) if faces else np.zeros((0, 0), np.float32)
        self._put(self._key(self.VIEW, model, detector), image, meta, vectors, len(faces))

    def __enter__(self) -> FaceCache:
        return self
