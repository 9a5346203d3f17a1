"""The gallery: enrolled people, their faces and embeddings in one SQLite file.

WAL mode, foreign keys, a schema version with migrations, and explicit transactions so that an enrolment
batch lands whole or not at all (an interrupted run leaves the gallery as it was after the last batch).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import platformdirs

from faceprint.errors import EmptyGallery, GalleryError, GalleryLocked, ModelNotInGallery, UnknownPerson
from faceprint.types import Face

__all__ = ["Gallery", "GalleryEmbeddings", "PersonInfo", "FaceRecord", "default_gallery_path", "SCHEMA_VERSION"]

APPLICATION_ID = 0x46505254  # "FPRT": marks the SQLite file as a faceprint gallery

# Migration i takes the schema from version i to i + 1. Never edit a released step; append a new one.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE people (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created REAL NOT NULL
    );
    CREATE TABLE faces (
        id INTEGER PRIMARY KEY,
        person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
        source TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        box TEXT,               -- JSON [x1, y1, x2, y2]; NULL when the whole crop was used
        landmarks TEXT,         -- JSON [[x, y] x 5]
        det_score REAL,
        created REAL NOT NULL,
        UNIQUE (person_id, sha256)
    );
    CREATE INDEX faces_sha256 ON faces(sha256);
    CREATE TABLE embeddings (
        id INTEGER PRIMARY KEY,
        face_id INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
        model TEXT NOT NULL,
        dim INTEGER NOT NULL,
        vector BLOB NOT NULL,   -- float32, little endian, dim values
        UNIQUE (face_id, model)
    );
    CREATE INDEX embeddings_model ON embeddings(model);
    CREATE TABLE settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE blobs (
        key TEXT PRIMARY KEY,
        meta TEXT NOT NULL,
        data BLOB NOT NULL
    );
    """,
    # 2: a per-model version counter that every change of that model's embeddings bumps (also cascaded deletes of
    # people and faces), so a derived vector index (gallery/milvus_index.py) knows cheaply whether it is in step;
    # and a random id that tells galleries apart when their indexes share one Milvus server.
    """
    CREATE TRIGGER embeddings_version_insert AFTER INSERT ON embeddings BEGIN
        INSERT INTO settings (key, value) VALUES ('vectors_version:' || NEW.model, '1')
        ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1;
    END;
    CREATE TRIGGER embeddings_version_delete AFTER DELETE ON embeddings BEGIN
        INSERT INTO settings (key, value) VALUES ('vectors_version:' || OLD.model, '1')
        ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1;
    END;
    CREATE TRIGGER embeddings_version_update AFTER UPDATE ON embeddings BEGIN
        INSERT INTO settings (key, value) VALUES ('vectors_version:' || OLD.model, '1')
        ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1;
        INSERT INTO settings (key, value) VALUES ('vectors_version:' || NEW.model, '1')
        ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1;
    END;
    INSERT OR IGNORE INTO settings (key, value) VALUES ('gallery_uid', lower(hex(randomblob(8))));
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)


def default_gallery_path() -> Path:
    """$FACEPRINT_GALLERY, else gallery.sqlite in the user's data directory."""
    env = os.environ.get("FACEPRINT_GALLERY")
    return Path(env).expanduser() if env else Path(platformdirs.user_data_dir("faceprint")) / "gallery.sqlite"


@dataclass(frozen=True)
class PersonInfo:
    id: int
    name: str
    n_faces: int
    models: tuple[str, ...]


@dataclass(frozen=True)
class FaceRecord:
    id: int
    person: str
    source: str
    sha256: str
    face: Face | None
    created: float
    models: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class GalleryEmbeddings:
    """Every enrolled embedding of one model, row-aligned with its face and person."""

    model: str
    vectors: np.ndarray
    face_ids: np.ndarray
    person_ids: np.ndarray
    names: dict[int, str]
    """person id -> name"""

    def labels(self) -> list[str]:
        return [self.names[int(p)] for p in self.person_ids]


def _translate(exc: sqlite3.Error, path: Path) -> GalleryError:
    msg = str(exc)
    if "locked" in msg or "busy" in msg:
        return GalleryLocked(f"{path}: the gallery is locked by another process ({msg}); try again when it has finished")
    if isinstance(exc, sqlite3.DatabaseError) and ("not a database" in msg or "malformed" in msg or "corrupt" in msg):
        return GalleryError(f"{path}: the gallery file is corrupt or not a database ({msg})")
    return GalleryError(f"{path}: gallery database error: {msg}")


class Gallery:
    """A gallery file. Open with `Gallery(path)`; use as a context manager to close it.

    >>> with Gallery("people.sqlite") as g:          # doctest: +SKIP
    ...     print([p.name for p in g.people()])
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, timeout: float = 10.0, create: bool = True) -> None:
        self.path = Path(path) if path is not None else default_gallery_path()
        if not self.path.exists():
            if not create:
                raise GalleryError(f"{self.path}: no gallery here; enroll someone first (faceprint enroll)")
            self.path.parent.mkdir(parents=True, exist_ok=True)
        elif self.path.is_dir():
            raise GalleryError(f"{self.path}: is a directory, not a gallery file")
        try:
            self._db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
            self._db.execute("PRAGMA foreign_keys = ON")
            self._migrate()
            self._db.execute("PRAGMA journal_mode = WAL")
        except sqlite3.Error as exc:
            raise _translate(exc, self.path) from None

    # -- schema -----------------------------------------------------------------------------------------------

    def _migrate(self) -> None:
        db = self._db
        version = db.execute("PRAGMA user_version").fetchone()[0]
        app_id = db.execute("PRAGMA application_id").fetchone()[0]
        has_tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] > 0
        if has_tables and app_id != APPLICATION_ID:
            raise GalleryError(f"{self.path}: this SQLite file is not a faceprint gallery")
        if version > SCHEMA_VERSION:
            raise GalleryError(
                f"{self.path}: gallery schema version {version} is newer than this faceprint knows ({SCHEMA_VERSION}); upgrade faceprint"
            )
        for step in range(version, SCHEMA_VERSION):
            # One script per step inside BEGIN ... COMMIT, so a failed step leaves the previous version intact.
            try:
                db.executescript(
                    f"BEGIN IMMEDIATE;\n{MIGRATIONS[step]}\nPRAGMA application_id = {APPLICATION_ID};\n"
                    f"PRAGMA user_version = {step + 1};\nCOMMIT;"
                )
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    # -- plumbing ---------------------------------------------------------------------------------------------

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Gallery:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside land together or not at all (also on KeyboardInterrupt)."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise _translate(exc, self.path) from None
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        else:
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise _translate(exc, self.path) from None

    def _q(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple]:
        try:
            return self._db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise _translate(exc, self.path) from None

    # -- people -----------------------------------------------------------------------------------------------

    def person_id(self, name: str, create: bool = False) -> int:
        """Id of a person by name; with `create`, add them when missing."""
        row = self._q("SELECT id FROM people WHERE name = ?", (name,))
        if row:
            return int(row[0][0])
        if not create:
            raise UnknownPerson(f"no person named {name!r} in {self.path}")
        if not name.strip():
            raise GalleryError("a person's name cannot be empty")
        self._q("INSERT INTO people (name, created) VALUES (?, ?)", (name, time.time()))
        return int(self._db.execute("SELECT last_insert_rowid()").fetchone()[0])

    def people(self) -> list[PersonInfo]:
        """Everyone enrolled, by name, with face counts and the models their faces are embedded with."""
        rows = self._q(
            """SELECT p.id, p.name, count(DISTINCT f.id), group_concat(DISTINCT e.model)
               FROM people p LEFT JOIN faces f ON f.person_id = p.id LEFT JOIN embeddings e ON e.face_id = f.id
               GROUP BY p.id ORDER BY p.name"""
        )
        return [PersonInfo(int(i), n, int(c), tuple(sorted(m.split(","))) if m else ()) for i, n, c, m in rows]

    def rename_person(self, old: str, new: str) -> None:
        pid = self.person_id(old)
        if self._q("SELECT 1 FROM people WHERE name = ?", (new,)):
            raise GalleryError(f"cannot rename {old!r}: {new!r} is already enrolled")
        with self.transaction():
            self._q("UPDATE people SET name = ? WHERE id = ?", (new, pid))

    def remove_person(self, name: str) -> int:
        """Remove a person with all their faces and embeddings; returns how many faces went."""
        pid = self.person_id(name)
        with self.transaction():
            n = self._q("SELECT count(*) FROM faces WHERE person_id = ?", (pid,))[0][0]
            self._q("DELETE FROM people WHERE id = ?", (pid,))
        return int(n)

    # -- faces ------------------------------------------------------------------------------------------------

    def faces(self, person: str | None = None) -> list[FaceRecord]:
        """Enrolled faces, of one person or of everyone."""
        where, params = ("WHERE p.name = ?", (person,)) if person is not None else ("", ())
        if person is not None:
            self.person_id(person)
        rows = self._q(
            f"""SELECT f.id, p.name, f.source, f.sha256, f.box, f.landmarks, f.det_score, f.created,
                       group_concat(e.model)
                FROM faces f JOIN people p ON p.id = f.person_id LEFT JOIN embeddings e ON e.face_id = f.id
                {where} GROUP BY f.id ORDER BY p.name, f.id""",
            params,
        )
        out = []
        for fid, name, src, sha, box, lms, score, created, models in rows:
            face = None
            if box is not None:
                face = Face(tuple(json.loads(box)), float(score), tuple(tuple(p) for p in json.loads(lms)))
            out.append(FaceRecord(int(fid), name, src, sha, face, float(created), tuple(sorted(models.split(","))) if models else ()))
        return out

    def remove_face(self, face_id: int) -> None:
        if not self._q("SELECT 1 FROM faces WHERE id = ?", (face_id,)):
            raise UnknownPerson(f"no face with id {face_id} in {self.path}")
        with self.transaction():
            self._q("DELETE FROM faces WHERE id = ?", (face_id,))

    def enrolled_as(self, sha256: str, model: str) -> str | None:
        """Name of the person this image (by content hash) is already enrolled as with `model`, if any."""
        row = self._q(
            """SELECT p.name FROM faces f JOIN embeddings e ON e.face_id = f.id JOIN people p ON p.id = f.person_id
               WHERE f.sha256 = ? AND e.model = ? LIMIT 1""",
            (sha256, model),
        )
        return row[0][0] if row else None

    def add_face(self, person: str, source: str, sha256: str, face: Face | None, vector: np.ndarray, model: str) -> int:
        """Store one face and its embedding (call inside `transaction()` to batch); returns the face id.

        The same image enrolled for the same person again with another model gains that model's embedding.
        """
        pid = self.person_id(person, create=True)
        row = self._q("SELECT id FROM faces WHERE person_id = ? AND sha256 = ?", (pid, sha256))
        if row:
            fid = int(row[0][0])
        else:
            box = json.dumps([round(v, 2) for v in face.box]) if face else None
            lms = json.dumps([[round(x, 2), round(y, 2)] for x, y in face.landmarks]) if face else None
            self._q(
                "INSERT INTO faces (person_id, source, sha256, box, landmarks, det_score, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (pid, source, sha256, box, lms, face.score if face else None, time.time()),
            )
            fid = int(self._db.execute("SELECT last_insert_rowid()").fetchone()[0])
        vec = np.ascontiguousarray(vector, dtype="<f4").reshape(-1)
        self._q(
            "INSERT OR REPLACE INTO embeddings (face_id, model, dim, vector) VALUES (?, ?, ?, ?)",
            (fid, model, int(vec.size), vec.tobytes()),
        )
        return fid

    # -- embeddings -------------------------------------------------------------------------------------------

    def models(self) -> dict[str, int]:
        """Embedding counts per model."""
        return {m: int(n) for m, n in self._q("SELECT model, count(*) FROM embeddings GROUP BY model ORDER BY model")}

    def embeddings(self, model: str) -> GalleryEmbeddings:
        """All embeddings of one model; EmptyGallery when there are none (naming the models that are there)."""
        rows = self._q(
            """SELECT e.face_id, f.person_id, e.dim, e.vector FROM embeddings e JOIN faces f ON f.id = e.face_id
               WHERE e.model = ? ORDER BY e.face_id""",
            (model,),
        )
        if not rows:
            present = self.models()
            if not present:
                raise EmptyGallery(f"{self.path}: the gallery is empty; enroll people first (faceprint enroll DIR)")
            have = ", ".join(f"{m} ({n})" for m, n in present.items())
            raise ModelNotInGallery(
                f"{self.path}: no faces enrolled with model {model!r}; the gallery holds embeddings of {have}. "
                f"Use --model with one of those, or re-enroll with --model {model}"
            )
        dims = {r[2] for r in rows}
        if len(dims) != 1:
            raise GalleryError(f"{self.path}: embeddings of {model!r} have mixed sizes {sorted(dims)}")
        vectors = np.frombuffer(b"".join(r[3] for r in rows), dtype="<f4").reshape(len(rows), dims.pop()).astype(np.float32)
        names = {int(i): n for i, n in self._q("SELECT id, name FROM people")}
        return GalleryEmbeddings(
            model, vectors, np.array([r[0] for r in rows], np.int64), np.array([r[1] for r in rows], np.int64), names
        )

    def state(self, model: str) -> str:
        """A fingerprint of everything enrolled with `model` (faces, people, names); changes on any edit."""
        h = hashlib.sha256(model.encode())
        for row in self._q(
            """SELECT e.id, e.face_id, p.id, p.name FROM embeddings e JOIN faces f ON f.id = e.face_id
               JOIN people p ON p.id = f.person_id WHERE e.model = ? ORDER BY e.id""",
            (model,),
        ):
            h.update(repr(row).encode())
        return h.hexdigest()[:16]

    def vectors_version(self, model: str) -> int:
        """A counter that every insert, replacement or deletion of `model`'s embeddings raises (0: never any)."""
        value = self.get_setting(f"vectors_version:{model}")
        return int(value) if value is not None else 0

    # -- settings and stored objects --------------------------------------------------------------------------

    def get_setting(self, key: str) -> str | None:
        row = self._q("SELECT value FROM settings WHERE key = ?", (key,))
        return row[0][0] if row else None

    def set_setting(self, key: str, value: str) -> None:
        with self.transaction():
            self._q("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", (key, value))

    def put_blob(self, key: str, meta: dict[str, object], data: bytes) -> None:
        with self.transaction():
            self._q("INSERT OR REPLACE INTO blobs (key, meta, data) VALUES (?, ?, ?)", (key, json.dumps(meta), data))

    def get_blob(self, key: str) -> tuple[dict[str, object], bytes] | None:
        row = self._q("SELECT meta, data FROM blobs WHERE key = ?", (key,))
        return (json.loads(row[0][0]), bytes(row[0][1])) if row else None
