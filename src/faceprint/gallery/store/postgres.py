"""The PostgreSQL gallery: one database that several processes, replicas or hosts share.

Same semantics as the SQLite file (base.GalleryStore holds the rules), held by the database's own constraints:
an image holds one embedding per model (UNIQUE (sha256, model) on the embeddings, whose (face_id, sha256) is a
foreign key to the face, so the hash cannot disagree), every transaction that changes a model's vectors raises
its ``vectors_version:<model>`` setting (a trigger, also on cascaded deletes), and every commit that changes the
gallery raises its change counter that cached identifiers compare (once per transaction: schema step 5). Writers
take one transaction-scoped advisory lock per gallery, so writes are serialised as SQLite's BEGIN IMMEDIATE
serialises them (no deadlocks between batches), while reads never wait. Commits that change vectors NOTIFY ``faceprint_vectors`` with the model's name, so a process that
LISTENs learns of them without asking.

Connections come from a pool per database URL, shared by every store of the process (psycopg_pool), each checked
before use, so a restarted server is reconnected to by itself; while the server cannot be reached, every call
raises GalleryUnavailable (the service answers 503 gallery_unavailable).
"""

from __future__ import annotations

import logging
import threading
import urllib.parse
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from faceprint._extras import optional_module
from faceprint.errors import AlreadyEnrolled, GalleryError, GalleryLocked, GalleryUnavailable
from faceprint.gallery.store.base import GalleryStore

__all__ = ["PostgresStore", "PG_MIGRATIONS", "PG_SCHEMA_VERSION", "display_url", "gallery_url", "list_galleries"]

log = logging.getLogger(__name__)

WRITE_LOCK = 0x46505254
"""The advisory lock every writing transaction takes ("FPRT", with the schema's hash): one writer at a time per
gallery."""
LOCK_SQL = "SELECT pg_advisory_xact_lock(%s, hashtext(coalesce(current_schema(), '')))"

# Step i takes the schema from version i to i + 1. Never edit a released step; append a new one.
PG_MIGRATIONS: list[str] = [
    """
    CREATE TABLE faceprint_schema (version integer NOT NULL);
    INSERT INTO faceprint_schema (version) VALUES (0);
    CREATE TABLE people (
        id bigserial PRIMARY KEY,
        name text NOT NULL UNIQUE,
        created double precision NOT NULL
    );
    CREATE TABLE faces (
        id bigserial PRIMARY KEY,
        person_id bigint NOT NULL REFERENCES people(id) ON DELETE CASCADE,
        source text NOT NULL,
        sha256 text NOT NULL,
        box text,
        landmarks text,
        det_score double precision,
        created double precision NOT NULL,
        UNIQUE (person_id, sha256),
        UNIQUE (id, sha256)
    );
    CREATE INDEX faces_sha256 ON faces(sha256);
    CREATE TABLE embeddings (
        id bigserial PRIMARY KEY,
        face_id bigint NOT NULL,
        sha256 text NOT NULL,
        model text NOT NULL,
        dim integer NOT NULL,
        vector bytea NOT NULL,
        identity text,
        UNIQUE (face_id, model),
        CONSTRAINT embeddings_image_once_per_model UNIQUE (sha256, model),
        FOREIGN KEY (face_id, sha256) REFERENCES faces(id, sha256) ON DELETE CASCADE
    );
    CREATE INDEX embeddings_model ON embeddings(model, face_id);
    CREATE TABLE settings (key text PRIMARY KEY, value text NOT NULL);
    CREATE TABLE blobs (key text PRIMARY KEY, meta text NOT NULL, data bytea NOT NULL);
    CREATE TABLE models (
        n bigserial,
        identity text PRIMARY KEY,
        name text NOT NULL,
        record text NOT NULL
    );
    CREATE INDEX models_name ON models(name);
    CREATE TABLE api_keys (
        id text PRIMARY KEY, hash text NOT NULL UNIQUE, scope text NOT NULL, gallery text,
        label text NOT NULL, created double precision NOT NULL, revoked double precision
    );
    CREATE TABLE changes (one boolean PRIMARY KEY DEFAULT true CHECK (one), n bigint NOT NULL);
    INSERT INTO changes (n) VALUES (0);

    -- the vectors version: statement-level, over the statement's rows (one upsert per model per statement)
    CREATE FUNCTION faceprint_vectors_bump(model text, n bigint) RETURNS void LANGUAGE sql AS $$
        INSERT INTO settings (key, value) VALUES ('vectors_version:' || model, n::text)
        ON CONFLICT (key) DO UPDATE SET value = (settings.value::bigint + n)::text;
        SELECT pg_notify('faceprint_vectors', model);
    $$;
    CREATE FUNCTION faceprint_vectors_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM faceprint_vectors_bump(model, count(*)) FROM new_rows GROUP BY model;
        RETURN NULL;
    END $$;
    CREATE FUNCTION faceprint_vectors_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM faceprint_vectors_bump(model, count(*)) FROM old_rows GROUP BY model;
        RETURN NULL;
    END $$;
    CREATE FUNCTION faceprint_vectors_updated() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM faceprint_vectors_bump(model, count(*)) FROM new_rows GROUP BY model;
        PERFORM faceprint_vectors_bump(o.model, count(*)) FROM old_rows o JOIN new_rows n ON n.face_id = o.face_id
            WHERE o.model <> n.model GROUP BY o.model;
        RETURN NULL;
    END $$;
    CREATE TRIGGER embeddings_version_insert AFTER INSERT ON embeddings REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION faceprint_vectors_inserted();
    CREATE TRIGGER embeddings_version_delete AFTER DELETE ON embeddings REFERENCING OLD TABLE AS old_rows
        FOR EACH STATEMENT EXECUTE FUNCTION faceprint_vectors_deleted();
    CREATE TRIGGER embeddings_version_update AFTER UPDATE ON embeddings REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION faceprint_vectors_updated();
    CREATE FUNCTION faceprint_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE changes SET n = n + 1;
        RETURN NULL;
    END $$;
    CREATE TRIGGER people_changed AFTER INSERT OR UPDATE OR DELETE ON people FOR EACH STATEMENT EXECUTE FUNCTION faceprint_changed();
    CREATE TRIGGER faces_changed AFTER INSERT OR UPDATE OR DELETE ON faces FOR EACH STATEMENT EXECUTE FUNCTION faceprint_changed();
    CREATE TRIGGER embeddings_changed AFTER INSERT OR UPDATE OR DELETE ON embeddings FOR EACH STATEMENT EXECUTE FUNCTION faceprint_changed();
    CREATE TRIGGER settings_changed AFTER INSERT OR UPDATE OR DELETE ON settings FOR EACH STATEMENT EXECUTE FUNCTION faceprint_changed();
    CREATE TRIGGER blobs_changed AFTER INSERT OR UPDATE OR DELETE ON blobs FOR EACH STATEMENT EXECUTE FUNCTION faceprint_changed();
    CREATE TRIGGER models_changed AFTER INSERT OR UPDATE OR DELETE ON models FOR EACH STATEMENT EXECUTE FUNCTION faceprint_changed();
    INSERT INTO settings (key, value) VALUES ('gallery_uid', substr(md5(random()::text || clock_timestamp()::text), 1, 16));
    """,
    # 2: erasure and audit (gallery/erasure.py, gallery/audit.py), as SQLite's schema step 5: an append-only audit
    # log (updates refused, deletes only of rows older than the cut-off that expire_audit sets), pending erasures,
    # and the files written outside the gallery that show faces (video thumbnails). The audit table has no
    # `changes` trigger: recording an identification does not make other processes rebuild their identifiers.
    """
    CREATE TABLE audit (
        id bigserial PRIMARY KEY,
        at double precision NOT NULL,
        actor text NOT NULL,
        action text NOT NULL,
        people text NOT NULL,
        detail text NOT NULL,
        result text NOT NULL
    );
    CREATE INDEX audit_at ON audit(at);
    CREATE FUNCTION faceprint_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'UPDATE' OR OLD.at >= coalesce(
                (SELECT value::double precision FROM settings WHERE key = 'audit_expire_before'), 0) THEN
            RAISE EXCEPTION 'faceprint: the audit log is append-only';
        END IF;
        RETURN OLD;
    END $$;
    CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit
        FOR EACH ROW EXECUTE FUNCTION faceprint_audit_append_only();
    CREATE TABLE erasures (id text PRIMARY KEY, created double precision NOT NULL, plan text NOT NULL);
    CREATE TABLE written_files (
        path text PRIMARY KEY, kind text NOT NULL, person_id bigint, created double precision NOT NULL
    );
    """,
    # 3: erasure leaves no copy in the planner's statistics: ANALYZE samples a column's values into pg_statistic
    # (its histogram holds whole 128-d vectors and small blobs), which DELETE and VACUUM FULL of the gallery's
    # tables do not touch. The biometric columns get no statistics from now on; the ones gathered are dropped (a
    # change of a column's type to its own type removes them, without rewriting the table), and the purge rewrites
    # pg_statistic once (setting statistics_purge). And every stored-cluster face gets the time it was kept
    # (``created``, unix seconds; faces kept before this step: now), so that retention expires them one by one.
    """
    ALTER TABLE embeddings ALTER COLUMN vector SET STATISTICS 0;
    ALTER TABLE blobs ALTER COLUMN data SET STATISTICS 0;
    ALTER TABLE blobs ALTER COLUMN meta SET STATISTICS 0;
    INSERT INTO settings (key, value)
        SELECT 'statistics_purge', 'pending' FROM pg_stats WHERE schemaname = current_schema()
            AND (tablename, attname) IN (('embeddings', 'vector'), ('blobs', 'data'), ('blobs', 'meta')) LIMIT 1;
    ALTER TABLE embeddings ALTER COLUMN vector TYPE bytea;
    ALTER TABLE blobs ALTER COLUMN data TYPE bytea;
    ALTER TABLE blobs ALTER COLUMN meta TYPE text;
    UPDATE blobs SET meta = jsonb_set(meta::jsonb, '{faces}', (
            SELECT coalesce(jsonb_agg(CASE WHEN f ? 'created' THEN f
                                           ELSE f || jsonb_build_object('created', extract(epoch FROM now())) END
                                      ORDER BY n), '[]'::jsonb)
            FROM jsonb_array_elements(meta::jsonb -> 'faces') WITH ORDINALITY AS t(f, n)))::text
        WHERE key LIKE 'clusters:%' AND meta::jsonb ->> 'format' = '1';
    """,
    # 4: stored clusters one row per face, as SQLite's schema step 7 (format-1 clusterings split into rows here).
    """
    CREATE TABLE cluster_faces (
        id bigserial PRIMARY KEY,
        clustering text NOT NULL,
        face_id bigint NOT NULL,
        record text NOT NULL,
        vector bytea NOT NULL,
        UNIQUE (clustering, face_id)
    );
    INSERT INTO cluster_faces (clustering, face_id, record, vector)
    SELECT b.key, (j.value ->> 'id')::bigint, j.value::text,
           substring(b.data FROM ((j.ord - 1) * 4 * (b.meta::jsonb ->> 'dim')::int + 1)::int FOR (4 * (b.meta::jsonb ->> 'dim')::int))
    FROM blobs b CROSS JOIN LATERAL jsonb_array_elements(b.meta::jsonb -> 'faces') WITH ORDINALITY AS j(value, ord)
    WHERE b.key LIKE 'clusters:%' AND b.meta::jsonb ->> 'format' = '1'
    ORDER BY b.key, j.ord;
    UPDATE blobs SET meta = ((meta::jsonb - 'faces') || '{"format": 2}'::jsonb)::text, data = ''::bytea
    WHERE key LIKE 'clusters:%' AND meta::jsonb ->> 'format' = '1';
    ALTER TABLE cluster_faces ALTER COLUMN vector SET STATISTICS 0;  -- biometric columns: no copies in pg_statistic (step 3)
    ALTER TABLE cluster_faces ALTER COLUMN record SET STATISTICS 0;
    CREATE TRIGGER cluster_faces_changed AFTER INSERT OR UPDATE OR DELETE ON cluster_faces FOR EACH STATEMENT EXECUTE FUNCTION faceprint_changed();
    """,
    # 5: the change counter and each model's vectors version move once per transaction, not once per statement.
    # PostgreSQL keeps every version of a row that one transaction updates again and again, and each update walks
    # them: a bulk enrolment in one transaction (a copy, a Ray batch) grew quadratically (4,000 faces: 17 s). The
    # first change of a transaction raises the counters; a transaction-local setting (one per gallery schema)
    # remembers that it did and holds a number from a sequence, new at each changing statement, which the writer's
    # own reads of the change token and vectors version return (PostgresStore.change_token): a sequence never hands
    # out a number twice, and a rollback to a savepoint restores the number together with the rows it stood for.
    # Other sessions see one step per commit, as before.
    """
    CREATE SEQUENCE IF NOT EXISTS faceprint_statements;
    CREATE OR REPLACE FUNCTION faceprint_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        counter text := 'faceprint.s_' || md5(current_schema());
    BEGIN
        IF coalesce(current_setting(counter, true), '') = '' THEN
            UPDATE changes SET n = n + 1;
        END IF;
        PERFORM set_config(counter, nextval('faceprint_statements')::text, true);
        RETURN NULL;
    END $$;
    CREATE OR REPLACE FUNCTION faceprint_vectors_bump(model text, n bigint) RETURNS void LANGUAGE plpgsql AS $$
    DECLARE
        flag text := 'faceprint.v_' || md5(current_schema() || '/' || model);
    BEGIN
        IF coalesce(current_setting(flag, true), '') = '' THEN
            INSERT INTO settings (key, value) VALUES ('vectors_version:' || model, n::text)
            ON CONFLICT (key) DO UPDATE SET value = (settings.value::bigint + n)::text;
            PERFORM set_config(flag, '1', true);
        END IF;
        PERFORM pg_notify('faceprint_vectors', model);
    END $$;
    """,
]
PG_SCHEMA_VERSION = len(PG_MIGRATIONS)

_TX_STATEMENT = "coalesce(nullif(current_setting('faceprint.s_' || md5(current_schema()), true), ''), '0')::bigint"
"""SQL: the number (from the sequence faceprint_statements) of the last changing statement of this session's open
transaction in this gallery; 0 outside a transaction that changed it (schema step 5)."""


def display_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}@{host}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def gallery_url(base: str, name: str) -> str:
    """The URL of gallery `name` of a database that holds several (``serve --galleries postgresql://...``): the
    same database, its own schema (created on first write), chosen by libpq's ``options=-c search_path=...``."""
    sep = "&" if urllib.parse.urlsplit(base).query else "?"
    return f"{base}{sep}options=" + urllib.parse.quote(f'-csearch_path="{name}"', safe="")


def list_galleries(base: str, timeout: float = 10.0) -> list[str]:
    """The galleries (schemas holding a faceprint gallery) of the database at `base`, by name."""
    psycopg, _ = _psycopg()
    try:
        with psycopg.connect(base, connect_timeout=max(1, int(timeout)), autocommit=True) as conn:
            rows = conn.execute("SELECT table_schema FROM information_schema.tables WHERE table_name = 'faceprint_schema' "
                                "ORDER BY table_schema").fetchall()
    except psycopg.OperationalError as exc:
        raise GalleryUnavailable(f"{display_url(base)}: the PostgreSQL server cannot be reached ({str(exc).strip()})") from None
    return [r[0] for r in rows]


def _psycopg() -> tuple[Any, Any]:
    return optional_module("psycopg"), optional_module("psycopg_pool", "psycopg")


class _Pools:
    """One connection pool per database URL, shared by every store of the process and closed with the last."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pools: dict[str, tuple[Any, int]] = {}

    def get(self, url: str, timeout: float) -> Any:
        psycopg, psycopg_pool = _psycopg()
        with self._lock:
            pool, n = self._pools.get(url, (None, 0))
            if pool is None:
                pool = psycopg_pool.ConnectionPool(
                    url, min_size=1, max_size=8, timeout=timeout, open=False, name="faceprint",
                    kwargs={"autocommit": True}, check=psycopg_pool.ConnectionPool.check_connection,
                    # give up a failed reconnection soon: the next request then tries again at once, so a server
                    # that is back is used at the next request (instead of after an ever longer back-off)
                    reconnect_timeout=1.0,
                )
                try:
                    pool.open(wait=True, timeout=timeout)
                except (psycopg_pool.PoolTimeout, psycopg.Error) as exc:
                    pool.close()
                    raise GalleryUnavailable(f"{display_url(url)}: cannot reach the PostgreSQL server ({exc})") from None
            self._pools[url] = (pool, n + 1)
            return pool

    def release(self, url: str) -> None:
        with self._lock:
            pool, n = self._pools.get(url, (None, 0))
            if pool is None:
                return
            if n <= 1:
                del self._pools[url]
                pool.close()
            else:
                self._pools[url] = (pool, n - 1)


POOLS = _Pools()


class PostgresStore(GalleryStore):
    """A gallery in a PostgreSQL database; safe to share between threads (each borrows a pooled connection).

    >>> with open_store("postgresql://faceprint@db.internal:5432/people") as g:   # doctest: +SKIP
    ...     print([p.name for p in g.people()])
    """

    CONCAT = "string_agg({}, ',')"
    NEWEST_MODEL = "n"
    EMBEDDING_EXTRA = ("sha256",)

    def __init__(self, url: str, timeout: float = 10.0, create: bool = True) -> None:
        self.url = url
        self.path = display_url(url)
        self.read_only = False
        self._timeout = timeout
        self._psycopg, self._pool_mod = _psycopg()
        self._local = threading.local()
        self._pool = POOLS.get(url, timeout)
        self._closed = False
        try:
            self._migrate(create)
        except BaseException:
            self.close()
            raise
        log.info("opened gallery %s", self.path)
        self._finish_erasures()

    AUDIT_FROM = 2
    """The schema version that has the audit, erasures and written_files tables."""

    # -- connections and errors -------------------------------------------------------------------------------

    def _error(self, exc: Exception) -> GalleryError:
        if isinstance(exc, self._psycopg.errors.LockNotAvailable):
            return GalleryLocked(f"{self.path}: another process has been writing to the gallery for longer than "
                                 f"{self._timeout:g} s; try again when it has finished")
        if isinstance(exc, (self._psycopg.OperationalError, self._pool_mod.PoolTimeout, self._psycopg.InterfaceError)):
            return GalleryUnavailable(f"{self.path}: the PostgreSQL server cannot be reached ({str(exc).strip()}); try again")
        return GalleryError(f"{self.path}: gallery database error: {str(exc).strip()}")

    @contextmanager
    def _conn(self) -> Iterator[Any]:
        """The connection of the current transaction, or one borrowed from the pool for one statement."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            yield conn
            return
        try:
            with self._pool.connection() as conn:
                yield conn
        except self._pool_mod.PoolTimeout as exc:
            raise self._error(exc) from None

    def _run(self, sql: str, params: Sequence[object]) -> Any:
        with self._conn() as conn:
            try:
                cur = conn.execute(sql.replace("%", "%%").replace("?", "%s"), tuple(params))
                return cur.fetchall() if cur.description is not None else []
            except self._psycopg.Error as exc:
                raise self._error(exc) from None

    def _q(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        return self._run(sql, params)

    def _insert(self, sql: str, params: Sequence[object] = ()) -> int:
        return int(self._run(sql + " RETURNING id", params)[0][0])

    @contextmanager
    def _committed(self, conn: Any, lock: bool) -> Iterator[None]:
        """`conn.transaction()` around the body: committed when it returns, rolled back when it raises (the body's
        error is raised as it is). With `lock`, the gallery's write lock is taken first (GalleryLocked after the
        timeout). psycopg's own errors (begin, lock, commit) come out as faceprint's."""
        try:
            tx = conn.transaction()
            tx.__enter__()
        except self._psycopg.Error as exc:
            raise self._error(exc) from None

        def rollback(exc: BaseException) -> None:
            try:
                tx.__exit__(type(exc), exc, exc.__traceback__)
            except self._psycopg.Error:
                pass

        if lock:
            try:
                conn.execute(f"SET LOCAL lock_timeout = {max(1, int(self._timeout * 1000))}")  # then GalleryLocked
                conn.execute(LOCK_SQL, (WRITE_LOCK,))
            except self._psycopg.Error as exc:
                rollback(exc)
                raise self._error(exc) from None
        try:
            yield
        except BaseException as exc:
            rollback(exc)
            raise
        try:
            tx.__exit__(None, None, None)  # COMMIT
        except self._psycopg.Error as exc:
            raise self._error(exc) from None

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside land together or not at all (also on KeyboardInterrupt), one writer at a time; inside
        another transaction, a savepoint that undoes only its own writes when it fails."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            with self._committed(conn, lock=False):  # a savepoint
                yield
            return
        try:
            ctx = self._pool.connection()
            conn = ctx.__enter__()
        except self._pool_mod.PoolTimeout as exc:
            raise self._error(exc) from None
        failed: BaseException | None = None
        try:
            with self._committed(conn, lock=True):
                self._local.conn = conn
                try:
                    yield
                finally:
                    self._local.conn = None
        except BaseException as exc:
            failed = exc
            raise
        finally:
            try:
                ctx.__exit__(type(failed) if failed else None, failed, None)  # back to the pool
            except self._psycopg.Error as exc:
                if failed is None:
                    raise self._error(exc) from None

    # -- erasure: the documented procedure (docs/privacy.md, "PostgreSQL") --------------------------------------

    PURGED_TABLES = ("people", "faces", "embeddings", "blobs", "cluster_faces", "erasures", "written_files")
    """The tables an erasure deletes or rewrites rows of (blobs: crops and stored clusters)."""

    def purge(self) -> list[str]:
        """After an erasure, make the deleted rows' bytes leave every file under the server's data directory:

        1. ``VACUUM FULL`` of the gallery's tables: DELETE only marks a row version dead, and plain VACUUM frees its
           space without overwriting it; VACUUM FULL writes each table (and its TOAST table and indexes) anew from
           the live rows, and the old files are truncated to zero at commit (the table's owner may run it; it locks
           the tables against readers while it runs).
        2. ``pg_switch_wal()``: the WAL segment being written holds the deleted rows (the enrolment's insert
           records, full-page images); the switch closes it, so that
        3. ``CHECKPOINT`` can delete every segment before its redo point. Old segments are unlinked only with the
           server settings ``wal_recycle = off`` (else they are renamed for reuse, old bytes and all),
           ``wal_keep_size = 0``, ``archive_mode = off`` and no replication slot; each is checked and reported.

        Steps 2 and 3 need a superuser, or in PostgreSQL 15 the ``pg_checkpoint`` role and EXECUTE on
        ``pg_switch_wal``; without them they are reported, and the WAL keeps the bytes until 16 MB more has been
        written and a checkpoint has run. Returns what could not be done (empty: done)."""
        if getattr(self._local, "conn", None) is not None:  # VACUUM would wait for this very transaction's locks
            return [f"{self.path}: the erasure ran inside a transaction, so the purge (VACUUM FULL, WAL switch, "
                    "checkpoint) could not run; erase outside transaction(), or call the gallery's purge() after "
                    "the transaction commits"]
        problems: list[str] = []
        with self._conn() as conn:  # autocommit: VACUUM and CHECKPOINT run outside a transaction
            try:
                conn.execute("VACUUM FULL " + ", ".join(self.PURGED_TABLES))
                for name, bad, why in (
                    ("wal_recycle", ("on",), "old WAL segments are renamed for reuse and keep their bytes until overwritten"),
                    ("archive_mode", ("on", "always"), "WAL segments are copied to the archive (erase there too) and kept until archived"),
                ):
                    value = conn.execute(f"SHOW {name}").fetchone()[0]
                    if value in bad:
                        problems.append(f"server setting {name} = {value}: {why}")
                keep = conn.execute("SHOW wal_keep_size").fetchone()[0]
                if keep not in ("0", "0kB", "0MB"):
                    problems.append(f"server setting wal_keep_size = {keep}: that much old WAL is kept after a checkpoint")
                slots = [r[0] for r in conn.execute("SELECT slot_name FROM pg_replication_slots").fetchall()]
                if slots:
                    problems.append(f"replication slots {', '.join(slots)} keep old WAL (and replicas hold copies)")
                standbys = conn.execute("SELECT count(*) FROM pg_stat_replication").fetchone()[0]
                if standbys:
                    problems.append(f"{standbys} standby server(s) replay this WAL: run this procedure on each")
            except self._psycopg.Error as exc:
                raise self._error(exc) from None
            if self.get_setting("statistics_purge") == "pending":
                problems += self._purge_statistics(conn)
            for sql, need in (("SELECT pg_switch_wal()", "EXECUTE on pg_switch_wal()"),
                              ("CHECKPOINT", "the pg_checkpoint role")):
                try:
                    conn.execute(sql)
                except self._psycopg.errors.InsufficientPrivilege:
                    problems.append(f"{sql.removeprefix('SELECT ')} is not permitted to this role (it needs a superuser "
                                    f"or {need}): the WAL keeps the erased rows until the server switches segments "
                                    "and checkpoints by itself")
                except self._psycopg.Error as exc:
                    raise self._error(exc) from None
        return problems

    def _purge_statistics(self, conn: Any) -> list[str]:
        """Rewrite pg_statistic once after schema step 3 dropped the statistics of the biometric columns (their
        old row versions hold sampled vectors): the database's owner or a superuser may."""
        allowed = conn.execute(
            "SELECT r.rolsuper OR pg_has_role(current_user, d.datdba, 'MEMBER') FROM pg_roles r, pg_database d "
            "WHERE r.rolname = current_user AND d.datname = current_database()").fetchone()[0]
        if not allowed:
            return ["pg_statistic still holds the planner statistics of the vectors gathered before schema step 3: "
                    "its owner must run VACUUM FULL pg_statistic (a superuser or the database's owner may)"]
        try:
            conn.execute("VACUUM FULL pg_statistic")
        except self._psycopg.Error as exc:
            raise self._error(exc) from None
        self._q("DELETE FROM settings WHERE key = 'statistics_purge'")
        return []

    def _insert_vector(self, face_id: int, sha256: str, model: str, dim: int, data: bytes, identity: str | None, replace: bool) -> None:
        if replace:  # a new row id, as SQLite's INSERT OR REPLACE gives: a process following the vectors sees the change
            self._q(
                """INSERT INTO embeddings (face_id, sha256, model, dim, vector, identity) VALUES (?, ?, ?, ?, ?, ?)
                   ON CONFLICT (face_id, model) DO UPDATE SET id = nextval(pg_get_serial_sequence('embeddings', 'id')),
                       dim = excluded.dim, vector = excluded.vector, identity = excluded.identity""",
                (face_id, sha256, model, dim, data, identity),
            )
            return
        # Both uniqueness rules (this face and model; this image and model, under any name) make the insert a no-op:
        # a concurrent writer that stored the same photo first wins, and this one is told so.
        row = self._q(
            """INSERT INTO embeddings (face_id, sha256, model, dim, vector, identity) VALUES (?, ?, ?, ?, ?, ?)
               ON CONFLICT DO NOTHING RETURNING id""",
            (face_id, sha256, model, dim, data, identity),
        )
        if not row:
            raise AlreadyEnrolled(sha256, model, None)

    # -- schema -----------------------------------------------------------------------------------------------

    def _migrate(self, create: bool) -> None:
        with self._conn() as conn:
            try:
                with conn.transaction():
                    if create and conn.execute("SELECT current_schema()").fetchone()[0] is None:
                        # a gallery of a database that holds several: its schema (search_path) is made on first use
                        schema = conn.execute("SHOW search_path").fetchone()[0].split(",")[0].strip().strip('"')
                        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
                    conn.execute(LOCK_SQL, (WRITE_LOCK,))
                    version = self._version(conn)
                    if version > PG_SCHEMA_VERSION:
                        raise GalleryError(f"{self.path}: gallery schema version {version} is newer than this faceprint "
                                           f"knows ({PG_SCHEMA_VERSION}); upgrade faceprint")
                    if version == PG_SCHEMA_VERSION:
                        return
                    if version == 0 and not create:
                        raise GalleryError(f"{self.path}: no gallery here; enroll someone first (faceprint enroll)")
                    for step in range(version, PG_SCHEMA_VERSION):
                        conn.execute(PG_MIGRATIONS[step])
                    conn.execute("UPDATE faceprint_schema SET version = %s", (PG_SCHEMA_VERSION,))
            except self._psycopg.Error as exc:
                raise self._error(exc) from None

    def _version(self, conn: Any) -> int:
        """The schema version (0: an empty database), after checking that the database holds a faceprint gallery."""
        if conn.execute("SELECT to_regclass('faceprint_schema')").fetchone()[0] is not None:
            return int(conn.execute("SELECT version FROM faceprint_schema").fetchone()[0])
        if conn.execute("SELECT current_schema()").fetchone()[0] is None:
            return 0  # the schema of a gallery not made yet
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()").fetchone()[0]
        if tables:
            raise GalleryError(f"{self.path}: this database holds other tables and is not a faceprint gallery; "
                               "give faceprint a database of its own")
        return 0

    @property
    def schema_version(self) -> int:
        return int(self._q("SELECT version FROM faceprint_schema")[0][0])

    def _after_import(self) -> None:
        with self.transaction():
            for table in ("people", "faces", "embeddings", "cluster_faces"):
                self._q(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), coalesce((SELECT max(id) FROM {table}), 0) + 1, false)")

    def change_token(self) -> object:
        # (committed counter, this session's open transaction's last changing statement, 0 outside): schema step 5
        n, local = self._q(f"SELECT n, {_TX_STATEMENT} FROM changes")[0]
        return (int(n), int(local))

    def vectors_version(self, model: str) -> int:
        value, local = self._q(f"SELECT (SELECT value FROM settings WHERE key = ?), {_TX_STATEMENT}",
                               (f"vectors_version:{model}",))[0]
        # inside a writing transaction: the negative of its last changing statement's number (schema step 5), a
        # value no commit has and no other state of any transaction ever had
        return -int(local) if local else (int(value) if value is not None else 0)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            POOLS.release(self.url)
