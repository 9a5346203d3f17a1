"""The galleries a server opens: one file or PostgreSQL database, or DIR/<name>.sqlite by name; one gallery
object per thread (a PostgreSQL gallery's connections come from one pool per process).

SQLite connections belong to the thread that opened them, so each thread keeps its own `faceprint.Gallery` per
file (reads go on during writes: the galleries are in WAL mode). Writes to one gallery are serialised by a lock
per file, so concurrent enrolments queue here rather than on SQLite's busy timeout.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from faceprint.analyzer import FaceAnalyzer
from faceprint.api import Gallery
from faceprint.service.config import ServiceConfig
from faceprint.service.errors import HttpError
from faceprint.service.keys import GALLERY_NAME

__all__ = ["GalleryHub"]


class GalleryHub:
    def __init__(self, config: ServiceConfig, analyzer: FaceAnalyzer) -> None:
        self.config, self.analyzer = config, analyzer
        self._local = threading.local()
        self._write_locks: dict[Path | str, threading.Lock] = {}
        self._lock = threading.Lock()

    def path(self, name: str | None) -> Path | str:
        """The file of gallery `name` (None in single-gallery mode); 404 unknown_gallery for a bad name."""
        if not self.config.multi:
            return self.config.gallery  # type: ignore[return-value]
        if name is None or not GALLERY_NAME.match(name):
            raise HttpError("unknown_gallery", f"invalid gallery name {name!r}: letters, digits, '_' and '-', up to 64")
        if isinstance(self.config.galleries, str):  # a PostgreSQL database: one schema per gallery
            from faceprint.gallery.store.postgres import gallery_url

            return gallery_url(self.config.galleries, name)
        return self.config.galleries / f"{name}.sqlite"  # type: ignore[operator]

    def names(self) -> list[str]:
        """The galleries of the folder (--galleries), by name."""
        if not self.config.multi:
            return []
        if isinstance(self.config.galleries, str):
            from faceprint.gallery.store.postgres import list_galleries

            return [n for n in list_galleries(self.config.galleries, self.config.limits.lock_wait) if GALLERY_NAME.match(n)]
        return sorted(p.stem for p in self.config.galleries.glob("*.sqlite") if GALLERY_NAME.match(p.stem))  # type: ignore[union-attr]

    def open(self, name: str | None, create: bool = False) -> Gallery:
        """This thread's connection to a gallery; a missing one is created only when `create` (enrolment)."""
        path = self.path(name)
        cache: dict[Path | str, Gallery] = self._local.__dict__.setdefault("galleries", {})
        g = cache.get(path)
        if g is None and isinstance(path, Path):
            if not path.exists() and not create:
                if self.config.multi:
                    raise HttpError("unknown_gallery", f"no gallery named {name!r}; enrol someone into it to create it")
            path.parent.mkdir(parents=True, exist_ok=True)
        if g is None and isinstance(path, str) and self.config.multi and not create and name not in self.names():
            raise HttpError("unknown_gallery", f"no gallery named {name!r}; enrol someone into it to create it")
        if g is None:
            g = cache[path] = Gallery(path, analyzer=self.analyzer, timeout=self.config.limits.lock_wait)
        return g

    @contextmanager
    def writing(self, name: str | None) -> Iterator[Gallery]:
        """This thread's connection, holding the gallery's write lock."""
        path = self.path(name)
        with self._lock:
            lock = self._write_locks.setdefault(path, threading.Lock())
        with lock:
            yield self.open(name, create=True)
