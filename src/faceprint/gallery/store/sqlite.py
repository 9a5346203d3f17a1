"""The SQLite gallery: one file, the embedded default.

WAL mode, foreign keys, a schema version with migrations, and explicit transactions so that an enrolment
batch lands whole or not at all (an interrupted run leaves the gallery as it was after the last batch). Existing
files open as they are: the schema and its steps are unchanged from the single-backend gallery.
"""

from __future__ import annotations

import itertools
import logging
import os
import sqlite3
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from faceprint.errors import AlreadyEnrolled, GalleryError, GalleryLocked
from faceprint.gallery.store.base import GalleryStore, default_gallery_path

__all__ = ["SQLiteStore", "SCHEMA_VERSION", "MIGRATIONS", "APPLICATION_ID"]

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
    # 6: every stored-cluster face (blobs ``clusters:*``, gallery/stored_clusters.py) gets the time it was kept
    # (``created``, unix seconds; faces kept before this step: now), so that retention expires them one by one.
    # json_each walks the array in order, and the aggregate keeps that order (the faces' order is the vectors'); json()
    # keeps the array an array (a subquery's result loses its JSON subtype).
    """
    UPDATE blobs SET meta = json_set(meta, '$.faces', json((
            SELECT json_group_array(CASE WHEN json_type(value, '$.created') IS NULL
                                         THEN json_set(value, '$.created', (julianday('now') - 2440587.5) * 86400.0)
                                         ELSE json(value) END)
            FROM json_each(blobs.meta, '$.faces'))))
        WHERE key LIKE 'clusters:%' AND json_extract(meta, '$.format') = 1;
    """,
    # 7: stored clusters one row per face (faceprint.gallery.stored_clusters, format 2): keeping one face writes its
    # row and the clustering's small header blob, not every face again. Format-1 clusterings (one blob holding every
    # face's record and the vectors end to end) are split into rows here; their blob keeps the header.
    """
    CREATE TABLE cluster_faces (
        id INTEGER PRIMARY KEY,
        clustering TEXT NOT NULL,       -- its clustering's header blob: clusters:<model identity>
        face_id INTEGER NOT NULL,       -- the face's id within the clustering
        record TEXT NOT NULL,           -- JSON: id, image, box, landmarks, score, cluster and the per-face extras
        vector BLOB NOT NULL,           -- float32, little-endian
        UNIQUE (clustering, face_id)
    );
    INSERT INTO cluster_faces (clustering, face_id, record, vector)
    SELECT b.key, CAST(json_extract(j.value, '$.id') AS INTEGER), j.value,
           substr(b.data, CAST(j.key AS INTEGER) * 4 * json_extract(b.meta, '$.dim') + 1, 4 * json_extract(b.meta, '$.dim'))
    FROM blobs b, json_each(b.meta, '$.faces') j
    WHERE b.key LIKE 'clusters:%' AND json_extract(b.meta, '$.format') = 1
    ORDER BY b.key, CAST(j.key AS INTEGER);
    UPDATE blobs SET meta = json_set(json_remove(meta, '$.faces'), '$.format', 2), data = x''
    WHERE key LIKE 'clusters:%' AND json_extract(meta, '$.format') = 1;
    """
    + "".join(
        f"""
    CREATE TRIGGER gallery_version_cluster_faces_{op.lower()} AFTER {op} ON cluster_faces BEGIN
        INSERT INTO settings (key, value) VALUES ('gallery_version', '1')
        ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1;
    END;"""
        for op in ("INSERT", "UPDATE", "DELETE")
    ),
]
SCHEMA_VERSION = len(MIGRATIONS)
READABLE_FROM = 2
"""The oldest schema version a read-only gallery can be read at without migrating (later steps only add rules
for writes; step 2 added the identity records that reads check)."""


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


class SQLiteStore(GalleryStore):
    """A gallery file. Open with `open_store(path)` (or `GalleryStore(path)`); use as a context manager to close it.

    >>> with open_store("people.sqlite") as g:          # doctest: +SKIP
    ...     print([p.name for p in g.people()])
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, timeout: float = 10.0, create: bool = True) -> None:
        self.path = Path(path) if path is not None else Path(default_gallery_path())
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
        self._finish_erasures()
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

    _savepoints = itertools.count()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside land together or not at all (also on KeyboardInterrupt); inside another transaction,
        a savepoint that undoes only its own writes when it fails."""
        if self._db.in_transaction:
            name = f"sp{next(self._savepoints)}"
            self._q(f"SAVEPOINT {name}")
            try:
                yield
            except BaseException:
                self._q(f"ROLLBACK TO {name}")
                self._q(f"RELEASE {name}")
                raise
            self._q(f"RELEASE {name}")
            return
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

    def _q(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        try:
            return self._db.execute(sql, tuple(params)).fetchall()
        except sqlite3.Error as exc:
            raise _translate(exc, self.path) from None

    def _insert(self, sql: str, params: Sequence[object] = ()) -> int:
        try:
            cur = self._db.execute(sql, tuple(params))
        except sqlite3.Error as exc:
            raise _translate(exc, self.path) from None
        return int(cur.lastrowid)  # type: ignore[arg-type]

    def _insert_vector(self, face_id: int, sha256: str, model: str, dim: int, data: bytes, identity: str | None, replace: bool) -> None:
        # The one-embedding-per-image rule is the trigger of schema step 3; a second vector of the same face and
        # model breaks the UNIQUE (face_id, model) constraint. Both reach here as IntegrityError.
        sql = f"INSERT{' OR REPLACE' if replace else ''} INTO embeddings (face_id, model, dim, vector, identity) VALUES (?, ?, ?, ?, ?)"
        try:
            self._db.execute(sql, (face_id, model, dim, data, identity))
        except sqlite3.IntegrityError as exc:
            if DUPLICATE_MARK in str(exc) or "embeddings.face_id, embeddings.model" in str(exc):
                raise AlreadyEnrolled(sha256, model, None) from None
            raise _translate(exc, self.path) from None
        except sqlite3.Error as exc:
            raise _translate(exc, self.path) from None

    def change_token(self) -> object:
        # From schema step 5 the gallery_version counter (triggers on everything identification reads; audit
        # records do not move it, so recording an identification does not make every other connection rebuild
        # its identifier). Before: data_version moves when another connection commits; total_changes when this
        # one writes.
        if self.schema_version >= self.AUDIT_FROM:
            return self._q("SELECT value FROM settings WHERE key = 'gallery_version'")
        return (self._q("PRAGMA data_version")[0][0], self._db.total_changes)

    AUDIT_FROM = 5
    """The schema version that has the audit, erasures and written_files tables."""

    def checkpoint(self) -> bool:
        """Copy the write-ahead log into the file and truncate it to zero bytes (after an erasure, so that no old
        page image of a deleted row stays in the ``-wal`` file), trying for a few seconds while readers finish.
        False when a reader still holds an older snapshot and the log could not be emptied."""
        for wait in (0.0, 0.05, 0.2, 0.5, 1.0, 2.0):
            time.sleep(wait)
            busy, _, _ = self._q("PRAGMA wal_checkpoint(TRUNCATE)")[0]
            if int(busy) == 0:
                return True
        return False
