"""API keys: created once (printed, never stored in clear), kept as SHA-256 hashes in a SQLite file beside the
galleries they open (or, for a PostgreSQL gallery, in its database, so every replica sees a key created or revoked
on any one at its next request), with a scope (read < write < admin), an optional bound gallery, a label and a
revoked time.

Keys are 32 random bytes, so a plain SHA-256 is enough to store them (there is nothing to brute-force).
Once any key has been created, the server asks for one on every route but /health, /ready and the page.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from faceprint.errors import FaceprintError
from faceprint.gallery.audit import record, record_key_change

__all__ = ["SCOPES", "ApiKey", "KeyStore", "keys_path", "GALLERY_NAME"]

SCOPES = ("read", "write", "admin")
"""Each scope allows what the ones before it allow."""

GALLERY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
"""A gallery name under --galleries DIR: the file DIR/<name>.sqlite."""

_PREFIX = "fpk_"


def keys_path(gallery: str | Path | None = None, galleries: str | Path | None = None) -> Path | str:
    """Where the keys of a server live: ``G.keys.sqlite`` beside a single gallery G (``people.sqlite`` ->
    ``people.keys.sqlite``), ``DIR/.keys.sqlite`` in a folder of galleries (hidden, so never taken for one), or
    a PostgreSQL gallery's own database (its URL)."""
    from faceprint.gallery.store import is_postgres_url

    if (gallery is None) == (galleries is None):
        raise ValueError("give exactly one of gallery and galleries")
    if is_postgres_url(gallery):
        return gallery  # type: ignore[return-value]
    if is_postgres_url(galleries):  # a schema no gallery name can take (names start with a letter or digit)
        from faceprint.gallery.store.postgres import gallery_url

        return gallery_url(galleries, "_keys")  # type: ignore[arg-type]
    if galleries is not None:
        return Path(galleries) / ".keys.sqlite"
    g = Path(gallery)  # type: ignore[arg-type]
    return g.with_name(f"{g.stem}.keys.sqlite")


@dataclass(frozen=True)
class ApiKey:
    """A stored key (without the key itself)."""

    id: str
    scope: str
    gallery: str | None
    """The one gallery (of --galleries) this key opens; None for all."""
    label: str
    created: float
    revoked: float | None

    def allows(self, scope: str) -> bool:
        return SCOPES.index(self.scope) >= SCOPES.index(scope)

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "scope": self.scope,
            "gallery": self.gallery,
            "label": self.label,
            "created": self.created,
            "revoked": self.revoked,
        }


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class KeyStore:
    """The keys file. Safe to share between threads; the CLI and a running server may use it at once."""

    def __init__(self, path: str | Path) -> None:
        from faceprint.gallery.store import is_postgres_url
        from faceprint.gallery.store.base import shown_target

        self._url = str(path) if is_postgres_url(path) else None
        self.path: Path | str = Path(path) if self._url is None else shown_target(path)
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._pg: object | None = None
        """The PostgreSQL gallery whose api_keys table holds the keys (opened on first use)."""

    def _postgres(self):  # type: ignore[no-untyped-def]
        if self._pg is None:
            from faceprint.gallery.store.postgres import PostgresStore

            self._pg = PostgresStore(self._url)  # type: ignore[arg-type]
            self.path = self._pg.path
        return self._pg

    def _write(self, sql: str, params: tuple[object, ...]) -> None:
        if self._url is not None:
            self._postgres()._q(sql, params)
            return
        with self._lock:
            self._conn().execute(sql, params)

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=10.0, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode = WAL")
            db.execute(
                """CREATE TABLE IF NOT EXISTS keys (
                       id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, scope TEXT NOT NULL, gallery TEXT,
                       label TEXT NOT NULL, created REAL NOT NULL, revoked REAL)"""
            )
            self._db = db
        return self._db

    def _rows(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple]:
        if self._url is not None:
            return self._postgres()._q(sql.replace("FROM keys", "FROM api_keys"), params)
        if self._db is None and not self.path.exists():
            return []  # reading never creates the file
        with self._lock:
            try:
                return self._conn().execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise FaceprintError(f"{self.path}: the keys file cannot be read ({exc})") from None

    def create(self, scope: str, gallery: str | None = None, label: str = "") -> tuple[str, ApiKey]:
        """A new key: returns (the key, to show once; its record)."""
        if scope not in SCOPES:
            raise FaceprintError(f"unknown scope {scope!r}; choose one of: {', '.join(SCOPES)}")
        if gallery is not None and not GALLERY_NAME.match(gallery):
            raise FaceprintError(f"invalid gallery name {gallery!r}: letters, digits, '_' and '-', up to 64")
        key = _PREFIX + secrets.token_urlsafe(32)
        rec = ApiKey(secrets.token_hex(6), scope, gallery, label, time.time(), None)
        self._write(
            f"INSERT INTO {self._table} (id, hash, scope, gallery, label, created) VALUES (?, ?, ?, ?, ?, ?)",
            (rec.id, _hash(key), rec.scope, rec.gallery, rec.label, rec.created),
        )
        self._audit("key-create", rec)
        return key, rec

    def list(self) -> list[ApiKey]:
        """Every key ever created, revoked ones included, oldest first."""
        rows = self._rows("SELECT id, scope, gallery, label, created, revoked FROM keys ORDER BY created, id")
        return [ApiKey(*r) for r in rows]

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key by id (KeyError if there is none); revoking twice keeps the first time."""
        rows = self._rows("SELECT id FROM keys WHERE id = ?", (key_id,))
        if not rows:
            raise KeyError(key_id)
        self._write(f"UPDATE {self._table} SET revoked = coalesce(revoked, ?) WHERE id = ?", (time.time(), key_id))
        rec = next(k for k in self.list() if k.id == key_id)
        self._audit("key-revoke", rec)
        return rec

    def _audit(self, action: str, rec: ApiKey) -> None:
        """Record a key change in the audit log of the galleries the keys open (gallery/audit.py): the PostgreSQL
        gallery that holds them, or the gallery files beside the keys file."""
        if self._url is not None:
            record(self._postgres(), action, [], {"key": rec.id, "scope": rec.scope, "gallery": rec.gallery})
        else:
            record_key_change(self.path, action, rec.id, rec.scope, rec.gallery)

    def any(self) -> bool:
        """Whether a key was ever created here: from then on every route but health, ready and the page needs one
        (revoking every key does not open the server again)."""
        return bool(self._rows("SELECT 1 FROM keys LIMIT 1"))

    def active(self) -> bool:
        """Whether an unrevoked key exists."""
        return bool(self._rows("SELECT 1 FROM keys WHERE revoked IS NULL LIMIT 1"))

    def lookup(self, key: str) -> ApiKey | None:
        """The unrevoked key record for a presented key, or None."""
        rows = self._rows(
            "SELECT id, scope, gallery, label, created, revoked FROM keys WHERE hash = ? AND revoked IS NULL", (_hash(key),)
        )
        return ApiKey(*rows[0]) if rows else None

    def export_rows(self) -> list[tuple]:
        """Every stored key record with its hash (for copying a gallery with its keys: faceprint gallery copy)."""
        return [tuple(r) for r in self._rows("SELECT id, hash, scope, gallery, label, created, revoked FROM keys ORDER BY id")]

    def import_rows(self, rows: list[tuple]) -> int:
        """Store key records from `export_rows` that are not here yet; returns how many were new."""
        have = {r[0] for r in self.export_rows()}
        new = [r for r in rows if r[0] not in have]
        for r in new:
            self._write(f"INSERT INTO {self._table} (id, hash, scope, gallery, label, created, revoked) VALUES (?, ?, ?, ?, ?, ?, ?)", tuple(r))
        return len(new)

    @property
    def _table(self) -> str:
        return "keys" if self._url is None else "api_keys"

    def close(self) -> None:
        if self._pg is not None:
            self._pg.close()  # type: ignore[attr-defined]
            self._pg = None
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
