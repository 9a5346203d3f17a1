"""The gallery's store: enrolled people, their faces, vectors, crops, settings and derived objects, behind one
interface (base.GalleryStore) with two backends: a SQLite file (sqlite.py, the embedded default) and a PostgreSQL
database (postgres.py, for several processes or hosts). `open_store(target)` picks by the argument.

>>> with open_store("people.sqlite") as g: ...                       # doctest: +SKIP
>>> with open_store("postgresql://faceprint@db:5432/people") as g: ...  # doctest: +SKIP
"""

from __future__ import annotations

import os

from faceprint.gallery.store.base import (
    FaceRecord,
    GalleryEmbeddings,
    GalleryStore,
    PersonInfo,
    Removed,
    check_name,
    default_gallery_path,
    face_image_key,
    is_postgres_url,
)
from faceprint.gallery.store.sqlite import APPLICATION_ID, DUPLICATE_MARK, MIGRATIONS, SCHEMA_VERSION, SQLiteStore

__all__ = [
    "GalleryStore", "Gallery", "SQLiteStore", "open_store", "backend_for", "GalleryEmbeddings", "PersonInfo", "FaceRecord",
    "Removed", "check_name", "face_image_key", "default_gallery_path", "is_postgres_url", "SCHEMA_VERSION", "MIGRATIONS",
    "APPLICATION_ID", "DUPLICATE_MARK",
]

Gallery = GalleryStore
"""The name callers have always used: ``Gallery(target)`` opens the backend `target` names."""


def backend_for(target: str | os.PathLike[str] | None) -> type[GalleryStore]:
    """The store class for a gallery argument: PostgresStore for a ``postgresql://`` URL, else SQLiteStore (a path;
    None means $FACEPRINT_GALLERY or the default file)."""
    if target is None:
        target = default_gallery_path()
    if is_postgres_url(target):
        from faceprint.gallery.store.postgres import PostgresStore

        return PostgresStore
    return SQLiteStore


def open_store(target: str | os.PathLike[str] | None = None, *, timeout: float = 10.0, create: bool = True) -> GalleryStore:
    """Open a gallery: a SQLite file (created when missing unless ``create=False``) or a PostgreSQL database
    (``postgresql://user[:password]@host:port/db``; its tables are created when missing unless ``create=False``).

    `timeout`: seconds to wait for another writer's lock (SQLite) or for a connection (PostgreSQL).
    """
    return backend_for(target)(target, timeout=timeout, create=create)  # type: ignore[call-arg]
