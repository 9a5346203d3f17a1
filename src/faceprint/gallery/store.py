"""The gallery: enrolled people, their faces and embeddings in one SQLite file.

WAL mode, foreign keys, a schema version with migrations, and explicit transactions so that an enrolment
batch lands whole or not at all (an interrupted run leaves the gallery as it was after the last batch).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import platformdirs

from faceprint.errors import (
    AlreadyEnrolled,
    EmptyGallery,
    GalleryError,
    GalleryLocked,
    InvalidName,
    ModelNotInGallery,
    StaleEmbeddings,
    UnknownPerson,
)
from faceprint.types import Face

if TYPE_CHECKING:
    from faceprint.models.identity import ModelIdentity

__all__ = ["Gallery", "GalleryEmbeddings", "PersonInfo", "FaceRecord", "default_gallery_path", "SCHEMA_VERSION"]

log = logging.getLogger(__name__)

APPLICATION_ID = 0x46505254  # "FPRT": marks the SQLite file as a faceprint gallery
DUPLICATE_MARK = "faceprint: image already enrolled with this model"
AUDIT_MARK = "faceprint: the audit log is append-only"

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
    # 2: every vector records the identity of the pipeline that made it (faceprint.models.identity), and the
    # identity records themselves are kept, so a gallery knows when its vectors are stale and how to rebuild them.
    """
    ALTER TABLE embeddings ADD COLUMN identity TEXT;  -- ModelIdentity.key, NULL when stored before identities were kept
    CREATE TABLE models (
        identity TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        record TEXT NOT NULL    -- ModelIdentity as JSON
    );
    CREATE INDEX models_name ON models(name);
    """,
    # 3: an image (by content hash) holds at most one embedding per model, whoever it is enrolled as. Enforced by the
    # database, so two processes enrolling the same photos at once cannot store them under two names.
    f"""
    CREATE TRIGGER embeddings_image_once_per_model BEFORE INSERT ON embeddings
    WHEN EXISTS (
        SELECT 1 FROM faces f JOIN embeddings e ON e.face_id = f.id
        WHERE f.sha256 = (SELECT sha256 FROM faces WHERE id = NEW.face_id) AND f.id != NEW.face_id
          AND e.model = NEW.model
    )
    BEGIN
        SELECT RAISE(ABORT, '{DUPLICATE_MARK}');
    END;
    """,
    # 4: a per-model version counter that every change of that model's embeddings bumps (also cascaded deletes of
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
    # 5: erasure and audit (gallery/erasure.py, gallery/audit.py). An append-only audit log (the triggers refuse
    # updates, and deletes of rows newer than the retention cut-off that `expire_audit` sets); pending erasures, so
    # that a removal interrupted after its rows went is finished by the next open; and the files faceprint wrote
    # outside the gallery that hold faces (video thumbnails), so that erasure and retention can find them.
    f"""
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,               -- unix time
        actor TEXT NOT NULL,            -- 'key:<id>' (HTTP service) or 'user:<OS user>'
        action TEXT NOT NULL,           -- enroll, identify, verify, rename, remove, remove-face, key-create, ...
        people TEXT NOT NULL,           -- JSON list of names concerned (never an image or a vector)
        detail TEXT NOT NULL,           -- JSON object: counts, sources' labels, channel
        result TEXT NOT NULL            -- ok, or the error's name
    );
    CREATE INDEX audit_at ON audit(at);
    CREATE TRIGGER audit_append_only BEFORE UPDATE ON audit BEGIN
        SELECT RAISE(ABORT, '{AUDIT_MARK}');
    END;
    CREATE TRIGGER audit_expire_only BEFORE DELETE ON audit
    WHEN OLD.at >= coalesce((SELECT CAST(value AS REAL) FROM settings WHERE key = 'audit_expire_before'), 0)
    BEGIN
        SELECT RAISE(ABORT, '{AUDIT_MARK}');
    END;
    CREATE TABLE erasures (
        id TEXT PRIMARY KEY,
        created REAL NOT NULL,
        plan TEXT NOT NULL              -- JSON ErasurePlan: ids, paths, content and vector digests; never a vector
    );
    CREATE TABLE written_files (
        path TEXT PRIMARY KEY,          -- absolute
        kind TEXT NOT NULL,             -- 'thumbnail'
        person_id INTEGER,              -- whom it shows when named, NULL for an unknown face
        created REAL NOT NULL
    );
    """
    # ... and a counter of changes to what identification reads (people, faces, vectors, models, settings, stored
    # objects), which audit records do not move: a process knows its identifier is current without SQLite's
    # data_version, which every audit record of another connection would change.
    + "".join(
        f"""
    CREATE TRIGGER gallery_version_{table}_{op.lower()} AFTER {op} ON {table}{when} BEGIN
        INSERT INTO settings (key, value) VALUES ('gallery_version', '1')
        ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1;
    END;"""
        for table in ("people", "faces", "embeddings", "models", "blobs", "settings")
        for op in ("INSERT", "UPDATE", "DELETE")
        for when in [(f" WHEN {'OLD' if op == 'DELETE' else 'NEW'}.key NOT IN ('gallery_version', 'audit_expire_before')"
                      if table == "settings" else "")]
    ),
]
SCHEMA_VERSION = len(MIGRATIONS)
READABLE_FROM = 2
"""The oldest schema version a read-only gallery can be read at without migrating (later steps only add rules
for writes; step 2 added the identity records that reads check)."""


def check_name(name: str) -> str:
    """A person's name must hold a visible character (an empty or blank name would print as nothing)."""
    if not name.strip() or not name.isprintable():
        raise InvalidName(f"a person's name must hold visible characters (and no control characters), got {name!r}")
    return name


def face_image_key(face_id: int) -> str:
    """The blob key of an enrolled face's crop (kept by the HTTP service); removed with the face."""
    return f"face-image:{face_id}"


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


def _statements(script: str) -> Iterator[str]:
    """The SQL statements of a script, one by one (a trigger's body stays whole)."""
    current = ""
    for piece in script.split(";"):
        current += piece + ";"
        if sqlite3.complete_statement(current):
            if current.strip(" \n;"):
                yield current.strip()
            current = ""


def _translate(exc: sqlite3.Error, path: Path) -> GalleryError:
    msg = str(exc)
    if "readonly" in msg or "read-only" in msg:
        return GalleryError(f"{path}: the gallery is read-only (no write permission on the file or its folder); "
                            "this command writes to it: use a copy you may write, or ask its owner")
    if "unable to open database file" in msg:
        return GalleryError(f"{path}: cannot open the gallery file ({msg}): check that its folder {path.parent} exists "
                            "and that you may write in it")
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
        self.read_only = False
        """True when the file or its folder may not be written: reads work, writes raise GalleryError."""
        if not self.path.exists():
            if not create:
                raise GalleryError(f"{self.path}: no gallery here; enroll someone first (faceprint enroll)")
            self._make_folder()
        elif self.path.is_dir():
            raise GalleryError(f"{self.path}: is a directory, not a gallery file")
        else:
            self.read_only = not (os.access(self.path, os.W_OK) and os.access(self.path.parent, os.W_OK | os.X_OK))
        try:
            self._db = self._connect(timeout)
            self._db.execute("PRAGMA foreign_keys = ON")
            if not self.read_only:  # deleted rows are overwritten with zeros, not left in free space (erasure.py)
                self._db.execute("PRAGMA secure_delete = ON")
            self._migrate()
            if not self.read_only and self._db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                self._db.execute("PRAGMA journal_mode = WAL")
        except sqlite3.Error as exc:
            raise _translate(exc, self.path) from None
        if not self.read_only and self.pending_erasures():  # a removal was interrupted (kill -9): finish it now
            from faceprint.gallery.erasure import finish_pending

            finish_pending(self)
        log.info("opened gallery %s%s", self.path, " (read-only)" if self.read_only else "")

    def _make_folder(self) -> None:
        """Create the gallery's folder, or say why it cannot be and what to do instead."""
        folder = self.path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise GalleryError(f"{self.path}: cannot create the gallery's folder {folder} ({exc.strerror or exc}); "
                               "choose another place with --gallery or $FACEPRINT_GALLERY") from None
        if not os.access(folder, os.W_OK | os.X_OK):
            raise GalleryError(f"{self.path}: no permission to create a file in {folder}; "
                               "choose another place with --gallery or $FACEPRINT_GALLERY")

    def _connect(self, timeout: float) -> sqlite3.Connection:
        """A connection; read-only (``mode=ro``, or ``immutable`` where SQLite cannot share the WAL index) when the
        file or its folder may not be written."""
        if not self.read_only:
            return sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
        uri = "file:" + urllib.parse.quote(str(self.path.resolve()))
        for flags in ("?mode=ro", "?mode=ro&immutable=1"):
            db = sqlite3.connect(uri + flags, uri=True, timeout=timeout, isolation_level=None)
            try:
                db.execute("SELECT count(*) FROM sqlite_master").fetchone()
                return db
            except sqlite3.OperationalError:
                db.close()
                if flags.endswith("immutable=1"):
                    raise
        raise AssertionError("unreachable")

    # -- schema -----------------------------------------------------------------------------------------------

    def _check_schema(self) -> int:
        """The schema version, after checking that the file is a faceprint gallery this code can read."""
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
        return int(version)

    def _migrate(self) -> None:
        db = self._db
        version = self._check_schema()
        if version == SCHEMA_VERSION:
            return
        if self.read_only:
            if version < READABLE_FROM:
                raise GalleryError(
                    f"{self.path}: the gallery is read-only and empty or too old to read (schema {version}); "
                    "open it once with write access to upgrade it"
                )
            return  # readable as it is; the steps since only add rules for writes
        # All steps in one transaction that holds the write lock, with the version read again under it: a process
        # that opens the same new gallery at the same moment waits, then finds it migrated.
        db.execute("BEGIN IMMEDIATE")
        try:
            version = self._check_schema()
            for step in range(version, SCHEMA_VERSION):
                for statement in _statements(MIGRATIONS[step]):
                    db.execute(statement)
            db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            db.execute("COMMIT")
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
        check_name(name)
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
        """Rename a person; InvalidName for an empty name or one already enrolled (checked under the write lock)."""
        check_name(new)
        with self.transaction():
            pid = self.person_id(old)
            if self._q("SELECT 1 FROM people WHERE name = ?", (new,)):
                raise InvalidName(f"cannot rename {old!r}: {new!r} is already enrolled (remove or rename them first)")
            self._q("UPDATE people SET name = ? WHERE id = ?", (new, pid))
            from faceprint.gallery.audit import record

            record(self, "rename", [old, new])

    def remove_person(self, name: str) -> int:
        """Erase a person: their faces, vectors and crops, and every copy faceprint derived from them (index files,
        Milvus, stored clusters, caches, thumbnails: faceprint.gallery.erasure); returns how many faces went."""
        from faceprint.gallery.erasure import erase_person

        return erase_person(self, name).faces

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
        """Erase one face with its vectors, crop and derived copies (faceprint.gallery.erasure)."""
        from faceprint.gallery.erasure import erase_face

        erase_face(self, face_id)

    def enrolled_as(self, sha256: str, model: str) -> str | None:
        """Name of the person this image (by content hash) is already enrolled as with `model`, if any."""
        row = self._q(
            """SELECT p.name FROM faces f JOIN embeddings e ON e.face_id = f.id JOIN people p ON p.id = f.person_id
               WHERE f.sha256 = ? AND e.model = ? LIMIT 1""",
            (sha256, model),
        )
        return row[0][0] if row else None

    def add_face(
        self,
        person: str,
        source: str,
        sha256: str,
        face: Face | None,
        vector: np.ndarray,
        model: str,
        identity: ModelIdentity | None = None,
    ) -> int:
        """Store one face and its embedding (call inside `transaction()` to batch); returns the face id.

        `identity` is the record of the pipeline that made the vector (faceprint.models.identity.model_identity);
        the gallery keeps it so that it can tell stale vectors from current ones. The same image enrolled for the
        same person again with another model gains that model's embedding. An image already enrolled with `model`
        (as anyone, this person included) raises AlreadyEnrolled and stores nothing: the database enforces it, so it
        holds when several processes enrol the same photos at once.
        """
        if identity is not None and identity.name != model:
            raise ValueError(f"identity {identity.name!r} is not of model {model!r}")
        self._q("SAVEPOINT add_face")
        try:
            fid = self._add_face(person, source, sha256, face, vector, model, identity)
        except sqlite3.IntegrityError as exc:
            self._q("ROLLBACK TO add_face")
            self._q("RELEASE add_face")
            if DUPLICATE_MARK in str(exc) or "embeddings.face_id, embeddings.model" in str(exc):
                raise AlreadyEnrolled(sha256, model, self.enrolled_as(sha256, model)) from None
            raise _translate(exc, self.path) from None
        except BaseException:
            self._q("ROLLBACK TO add_face")
            self._q("RELEASE add_face")
            raise
        self._q("RELEASE add_face")
        return fid

    def _add_face(
        self, person: str, source: str, sha256: str, face: Face | None, vector: np.ndarray, model: str, identity: ModelIdentity | None
    ) -> int:
        pid = self.person_id(person, create=True)
        row = self._q("SELECT id FROM faces WHERE person_id = ? AND sha256 = ?", (pid, sha256))
        if row:
            fid = int(row[0][0])
        else:
            # Full precision: `gallery reembed` crops the face again from these points, and must get the same crop.
            box = json.dumps([float(v) for v in face.box]) if face else None
            lms = json.dumps([[float(x), float(y)] for x, y in face.landmarks]) if face else None
            self._q(
                "INSERT INTO faces (person_id, source, sha256, box, landmarks, det_score, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (pid, source, sha256, box, lms, face.score if face else None, time.time()),
            )
            fid = int(self._db.execute("SELECT last_insert_rowid()").fetchone()[0])
        self.put_vector(fid, model, vector, identity)
        return fid

    def put_vector(
        self, face_id: int, model: str, vector: np.ndarray, identity: ModelIdentity | None, *, replace: bool = False
    ) -> None:
        """Store a face's vector of `model` made by `identity`'s pipeline (call inside `transaction()` to batch).

        `replace` overwrites the face's existing vector of `model` (gallery reembed); without it a second vector
        is refused by the database (sqlite3.IntegrityError, which add_face turns into AlreadyEnrolled).
        """
        vec = np.ascontiguousarray(vector, dtype="<f4").reshape(-1)
        if identity is not None:
            self._q("INSERT OR IGNORE INTO models (identity, name, record) VALUES (?, ?, ?)", (identity.key, identity.name, identity.to_json()))
        sql = f"INSERT{' OR REPLACE' if replace else ''} INTO embeddings (face_id, model, dim, vector, identity) VALUES (?, ?, ?, ?, ?)"
        params = (face_id, model, int(vec.size), vec.tobytes(), identity.key if identity is not None else None)
        if replace:
            self._q(sql, params)
        else:
            self._db.execute(sql, params)  # not _q: add_face tells the duplicate rule's IntegrityError from other errors

    def model_record(self, model: str) -> ModelIdentity | None:
        """The identity record the gallery keeps for a model name (the newest, when several pipelines of it stored
        vectors); None when no vector of it was stored with one."""
        from faceprint.models.identity import ModelIdentity

        row = self._q("SELECT record FROM models WHERE name = ? ORDER BY rowid DESC LIMIT 1", (model,))
        return ModelIdentity.from_json(row[0][0]) if row else None

    def stale_faces(self, identity: ModelIdentity) -> list[FaceRecord]:
        """Faces whose vector of `identity.name` was made by another pipeline (or before identities were kept)."""
        ids = {
            int(r[0])
            for r in self._q(
                "SELECT face_id FROM embeddings WHERE model = ? AND (identity IS NULL OR identity != ?)",
                (identity.name, identity.key),
            )
        }
        return [f for f in self.faces() if f.id in ids]

    # -- embeddings -------------------------------------------------------------------------------------------

    def models(self) -> dict[str, int]:
        """Embedding counts per model."""
        return {m: int(n) for m, n in self._q("SELECT model, count(*) FROM embeddings GROUP BY model ORDER BY model")}

    def embeddings(self, model: str, identity: ModelIdentity | None = None) -> GalleryEmbeddings:
        """All embeddings of one model; EmptyGallery when there are none (naming the models that are there).

        With `identity` (the pipeline the caller will compare them with), vectors made by another version of the
        model's pipeline raise StaleEmbeddings instead of being silently mixed with new ones.
        """
        rows = self._q(
            """SELECT e.face_id, f.person_id, e.dim, e.vector, e.identity FROM embeddings e JOIN faces f ON f.id = e.face_id
               WHERE e.model = ? ORDER BY e.face_id""",
            (model,),
        )
        if identity is not None and rows:
            stale = sum(1 for r in rows if r[4] != identity.key)
            if stale:
                raise StaleEmbeddings(
                    f"{self.path}: {stale} of {len(rows)} faces enrolled with {model!r} were embedded by another version "
                    f"of its pipeline (weights, alignment or test-time settings changed since); "
                    f"run: faceprint gallery reembed --gallery {self.path} --model {model}"
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

    def gallery_version(self) -> int:
        """A counter that every change of people, faces, vectors, settings or stored objects raises (not the audit
        log): what a derived identifier compares to know it is current."""
        value = self.get_setting("gallery_version")
        return int(value) if value is not None else 0

    def vectors_version(self, model: str) -> int:
        """A counter that every insert, replacement or deletion of `model`'s embeddings raises (0: never any)."""
        value = self.get_setting(f"vectors_version:{model}")
        return int(value) if value is not None else 0

    # -- settings and stored objects --------------------------------------------------------------------------

    def data_key(self, kind: str, model: str) -> str:
        """The key of what a command derived from `model`'s vectors (a calibrated threshold, a fitted classifier):
        ``<kind>:<the model's identity key>``, so what was derived from one pipeline's vectors is never used with
        another's. A name this process cannot build (another process's checkpoint) takes the gallery's record."""
        from faceprint.errors import UnknownModel
        from faceprint.models.identity import model_identity

        try:
            ident = model_identity(model).key
        except UnknownModel:
            record = self.model_record(model)
            ident = record.key if record is not None else model
        return f"{kind}:{ident}"

    def get_setting(self, key: str) -> str | None:
        row = self._q("SELECT value FROM settings WHERE key = ?", (key,))
        return row[0][0] if row else None

    def set_setting(self, key: str, value: str) -> None:
        with self.transaction():
            self._q("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", (key, value))

    def put_blob(self, key: str, meta: dict[str, object], data: bytes) -> None:
        """Store an object under `key`; an enrolled face's crop (``face-image:<id>``) is not stored while the
        gallery's crops are off (`set_crops`)."""
        if key.startswith("face-image:") and self.get_setting("crops") == "off":
            log.info("%s: crops are off; the crop of %s is not stored", self.path, key)
            return
        with self.transaction():
            self._q("INSERT OR REPLACE INTO blobs (key, meta, data) VALUES (?, ?, ?)", (key, json.dumps(meta), data))

    def set_crops(self, enabled: bool) -> int:
        """Keep enrolled faces' crops (the default, for the service's face images) or not: off stops storing them
        and erases the ones stored (secure_delete, WAL truncated); returns how many were erased."""
        with self.transaction():
            self._q("INSERT OR REPLACE INTO settings (key, value) VALUES ('crops', ?)", ("on" if enabled else "off",))
            n = 0 if enabled else int(self._q("SELECT count(*) FROM blobs WHERE key LIKE 'face-image:%'")[0][0])
            if not enabled:
                self._q("DELETE FROM blobs WHERE key LIKE 'face-image:%'")
        self.checkpoint()
        return n

    def remove_blob(self, key: str) -> bool:
        """Delete a stored object (see ``put_blob``); returns whether there was one."""
        with self.transaction():
            found = bool(self._q("SELECT 1 FROM blobs WHERE key = ?", (key,)))
            self._q("DELETE FROM blobs WHERE key = ?", (key,))
        return found

    def get_blob(self, key: str) -> tuple[dict[str, object], bytes] | None:
        row = self._q("SELECT meta, data FROM blobs WHERE key = ?", (key,))
        return (json.loads(row[0][0]), bytes(row[0][1])) if row else None


    # -- erasure and audit (schema step 5; used by gallery/erasure.py and gallery/audit.py) ---------------------

    def checkpoint(self) -> bool:
        """Copy the write-ahead log into the file and truncate it to zero bytes (after an erasure, so that no old
        page image of a deleted row stays in the ``-wal`` file). False when a reader still holds an older
        snapshot and the log could not be emptied; the caller tries again later."""
        busy, _, _ = self._q("PRAGMA wal_checkpoint(TRUNCATE)")[0]
        return int(busy) == 0

    def erase_rows(self, erasure_id: str, plan_json: str, face_ids: list[int], person_ids: list[int],
                   audit: tuple[str, list[str], dict[str, object]] | None = None) -> None:
        """In one transaction: record a pending erasure, delete the faces (their vectors cascade), the people and
        the faces' crops, and every fitted classifier (a fit may hold the faces' vectors; it is refitted on use),
        and append the audit record `audit` (action, people, detail).
        With ``secure_delete`` on, the deleted bytes are overwritten in the file."""
        with self.transaction():
            if audit is not None:
                from faceprint.gallery.audit import record

                record(self, *audit)
            self._q("INSERT OR REPLACE INTO erasures (id, created, plan) VALUES (?, ?, ?)", (erasure_id, time.time(), plan_json))
            for fid in face_ids:
                self._q("DELETE FROM faces WHERE id = ?", (fid,))
                self._q("DELETE FROM blobs WHERE key = ?", (face_image_key(fid),))
            for pid in person_ids:
                self._q("DELETE FROM people WHERE id = ?", (pid,))
            self._q("DELETE FROM blobs WHERE key LIKE 'classifier:%'")

    def pending_erasures(self) -> list[tuple[str, str]]:
        """(id, plan JSON) of erasures whose rows are gone but whose derived copies may not be yet, oldest first."""
        if self.schema_version < 5:
            return []
        return [(str(i), str(p)) for i, p in self._q("SELECT id, plan FROM erasures ORDER BY created, id")]

    def erasure_done(self, erasure_id: str) -> None:
        with self.transaction():
            self._q("DELETE FROM erasures WHERE id = ?", (erasure_id,))

    def face_vectors(self, face_ids: list[int]) -> list[tuple[int, str, bytes]]:
        """(face id, model, float32 bytes) of every vector of these faces."""
        out: list[tuple[int, str, bytes]] = []
        for s in range(0, len(face_ids), 500):
            part = face_ids[s : s + 500]
            out += [(int(f), str(m), bytes(v)) for f, m, v in self._q(
                f"SELECT face_id, model, vector FROM embeddings WHERE face_id IN ({','.join('?' * len(part))})", tuple(part))]
        return out

    def blob_keys(self, prefix: str) -> list[str]:
        """Keys of the stored objects whose key starts with `prefix`."""
        return [str(r[0]) for r in self._q("SELECT key FROM blobs WHERE substr(key, 1, ?) = ?", (len(prefix), prefix))]

    def record_file(self, path: str | os.PathLike[str], kind: str, person: str | None) -> None:
        """Remember a file faceprint wrote outside the gallery that shows a face (a video thumbnail), and whom it
        shows (None: an unknown face), so that erasure and retention can delete it."""
        pid = None
        if person is not None:
            row = self._q("SELECT id FROM people WHERE name = ?", (person,))
            pid = int(row[0][0]) if row else None
        with self.transaction():
            self._q("INSERT OR REPLACE INTO written_files (path, kind, person_id, created) VALUES (?, ?, ?, ?)",
                    (str(Path(path).resolve()), kind, pid, time.time()))

    def written_files(self, person_ids: list[int] | None = None, unknown_before: float | None = None) -> list[str]:
        """Paths of recorded files that show one of `person_ids`, or an unknown face recorded before `unknown_before`."""
        out: list[str] = []
        for pid in person_ids or []:
            out += [str(r[0]) for r in self._q("SELECT path FROM written_files WHERE person_id = ?", (pid,))]
        if unknown_before is not None:
            out += [str(r[0]) for r in self._q("SELECT path FROM written_files WHERE person_id IS NULL AND created < ?",
                                               (unknown_before,))]
        return out

    def forget_files(self, paths: list[str]) -> None:
        with self.transaction():
            for p in paths:
                self._q("DELETE FROM written_files WHERE path = ?", (p,))

    def append_audit(self, actor: str, action: str, people: list[str], detail: dict[str, object], result: str,
                     at: float | None = None) -> None:
        """Append one audit record (its own transaction, or the caller's when inside `transaction()`)."""
        row = (time.time() if at is None else at, actor, action, json.dumps(list(people)), json.dumps(detail), result)
        sql = "INSERT INTO audit (at, actor, action, people, detail, result) VALUES (?, ?, ?, ?, ?, ?)"
        if self._db.in_transaction:
            self._q(sql, row)
        else:
            with self.transaction():
                self._q(sql, row)

    def audit_records(self, since: float | None = None, until: float | None = None, action: str | None = None,
                      actor: str | None = None, person: str | None = None, limit: int | None = None) -> list[tuple]:
        """Audit rows (id, at, actor, action, people JSON, detail JSON, result), oldest first, filtered."""
        where, params = ["1"], []
        for sql, value in (("at >= ?", since), ("at < ?", until), ("action = ?", action), ("actor = ?", actor)):
            if value is not None:
                where.append(sql)
                params.append(value)
        if person is not None:
            where.append("EXISTS (SELECT 1 FROM json_each(audit.people) WHERE value = ?)")
            params.append(person)
        tail = f" LIMIT {int(limit)}" if limit is not None else ""
        return self._q(f"SELECT id, at, actor, action, people, detail, result FROM audit WHERE {' AND '.join(where)} "
                       f"ORDER BY id{tail}", tuple(params))

    def expire_audit(self, before: float) -> int:
        """Delete the audit rows older than `before` (unix time); returns how many went."""
        with self.transaction():
            self._q("INSERT OR REPLACE INTO settings (key, value) VALUES ('audit_expire_before', ?)", (repr(float(before)),))
            n = int(self._q("SELECT count(*) FROM audit WHERE at < ?", (before,))[0][0])
            self._q("DELETE FROM audit WHERE at < ?", (before,))
            self._q("DELETE FROM settings WHERE key = 'audit_expire_before'")
        return n
