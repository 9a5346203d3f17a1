"""API keys: created once (printed, never stored in clear), kept as SHA-256 hashes in a SQLite file beside the
galleries they open, with a scope (read < write < admin), an optional bound gallery, a label and a revoked time.

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
from faceprint.gallery.audit import record_key_change

__all__ = ["SCOPES", "ApiKey", "KeyStore", "keys_path", "GALLERY_NAME"]

SCOPES = ("read", "write", "admin")
"""Each scope allows what the ones before it allow."""

GALLERY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
"""A gallery name under --galleries DIR: the file DIR/<name>.sqlite."""

_PREFIX = "fpk_"


def keys_path(gallery: str | Path | None = None, galleries: str | Path | None = None) -> Path:
    """Where the keys of a server live: ``G.keys.sqlite`` beside a single gallery G (``people.sqlite`` ->
    ``people.keys.sqlite``), or ``DIR/.keys.sqlite`` in a folder of galleries (hidden, so never taken for one)."""
    if (gallery is None) == (galleries is None):
        raise ValueError("give exactly one of gallery and galleries")
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
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

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
        with self._lock:
            self._conn().execute(
                "INSERT INTO keys (id, hash, scope, gallery, label, created) VALUES (?, ?, ?, ?, ?, ?)",
                (rec.id, _hash(key), rec.scope, rec.gallery, rec.label, rec.created),
            )
        record_key_change(self.path, "key-create", rec.id, rec.scope, rec.gallery)
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
        with self._lock:
            self._conn().execute("UPDATE keys SET revoked = coalesce(revoked, ?) WHERE id = ?", (time.time(), key_id))
        rec = next(k for k in self.list() if k.id == key_id)
        record_key_change(self.path, "key-revoke", rec.id, rec.scope, rec.gallery)
        return rec

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

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
