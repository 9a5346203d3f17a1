"""Copy a gallery between stores (SQLite -> PostgreSQL and back), resumably, and prove the copy equal.

Every row keeps its id (people, faces, embeddings), so what refers to ids stays right: stored crops
(``face-image:<id>``), fitted classifiers (their gallery fingerprint, `GalleryStore.state`), saved clusters and search
indexes. Rows are copied table by table in id order, a batch per transaction, each insert skipping a row already
there: an interrupted copy is resumed by running it again. Then every table is read again on both sides and
compared through a digest of its rows (vectors bit for bit); a destination that held other data fails this check
and says which table differs. Settings are copied but for the destination's own id (``gallery_uid``, which keeps
two galleries' search indexes apart) and its vectors-version counters (which its own triggers keep).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from faceprint.errors import GalleryError
from faceprint.gallery.store.base import GalleryStore

__all__ = ["CopyReport", "copy_gallery", "gallery_digests"]

OWN_SETTINGS = ("gallery_uid", "vectors_version:", "gallery_version", "milvus_collections")
"""Settings each gallery keeps for itself (prefixes): never copied, never compared. ``gallery_version`` is SQLite's
change counter (its triggers keep it), ``milvus_collections`` the Milvus server collections built from this gallery
(erasure deletes there: gallery/erasure.py)."""


@dataclass(frozen=True)
class _Table:
    name: str
    key: str
    columns: tuple[str, ...]
    select: str
    """SELECT of `columns` (plus the destination's extra columns) in key order, after a key, LIMIT ?."""


def _tables(dst: GalleryStore) -> list[_Table]:
    emb = ("id", "face_id", "model", "dim", "vector", "identity") + dst.EMBEDDING_EXTRA
    own = " AND ".join(f"key NOT LIKE '{p}%'" if p.endswith(":") else f"key != '{p}'" for p in OWN_SETTINGS)
    return [
        _Table("people", "id", ("id", "name", "created"), "SELECT id, name, created FROM people WHERE id > ? ORDER BY id LIMIT ?"),
        _Table("faces", "id", ("id", "person_id", "source", "sha256", "box", "landmarks", "det_score", "created"),
               "SELECT id, person_id, source, sha256, box, landmarks, det_score, created FROM faces WHERE id > ? ORDER BY id LIMIT ?"),
        _Table("models", "identity", ("identity", "name", "record"),
               "SELECT identity, name, record FROM models WHERE identity > ? ORDER BY identity LIMIT ?"),
        _Table("embeddings", "id", emb,
               f"SELECT e.id, e.face_id, e.model, e.dim, e.vector, e.identity{', f.sha256' if dst.EMBEDDING_EXTRA else ''} "
               "FROM embeddings e JOIN faces f ON f.id = e.face_id WHERE e.id > ? ORDER BY e.id LIMIT ?"),
        _Table("settings", "key", ("key", "value"), f"SELECT key, value FROM settings WHERE key > ? AND {own} ORDER BY key LIMIT ?"),
        _Table("blobs", "key", ("key", "meta", "data"), "SELECT key, meta, data FROM blobs WHERE key > ? ORDER BY key LIMIT ?"),
        _Table("cluster_faces", "id", ("id", "clustering", "face_id", "record", "vector"),
               "SELECT id, clustering, face_id, record, vector FROM cluster_faces WHERE id > ? ORDER BY id LIMIT ?"),
    ]


def _rows(store: GalleryStore, table: _Table, batch: int) -> Iterator[list[tuple]]:
    last: object = -1 if table.key == "id" else ""
    while True:
        rows = store._q(table.select, (last, batch))
        if not rows:
            return
        yield rows
        last = rows[-1][0]


@dataclass
class CopyReport:
    """What a copy wrote (rows new to the destination, per table) and what it found equal afterwards."""

    source: str
    destination: str
    copied: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    """Rows per table on each side once the copy was verified equal."""
    keys: int = 0

    def to_dict(self) -> dict[str, object]:
        return {"source": self.source, "destination": self.destination, "copied": self.copied, "rows": self.rows,
                "keys": self.keys, "verified": True}


def _value(v: object) -> bytes:
    if isinstance(v, (bytes, bytearray, memoryview)):
        return b"b" + bytes(v)
    if isinstance(v, float):
        return b"f" + v.hex().encode()
    return b"v" + repr(v).encode()


def gallery_digests(store: GalleryStore, batch: int = 2000) -> dict[str, tuple[int, str]]:
    """(rows, sha256 of every row in key order) per table: equal digests mean equal content, vectors bit for bit."""
    out = {}
    for table in _tables(store):
        cols = table.columns[: len(table.columns) - len(store.EMBEDDING_EXTRA)] if table.name == "embeddings" else table.columns
        h, n = hashlib.sha256(), 0
        for rows in _rows(store, table, batch):
            for row in rows:
                n += 1
                for v in row[: len(cols)]:
                    h.update(_value(v))
                h.update(b"\n")
        out[table.name] = (n, h.hexdigest())
    return out


def _check_resumable(src: GalleryStore, dst: GalleryStore) -> None:
    """The destination must be empty or an interrupted copy of the source: each of its people and faces is the
    source's of the same id (else GalleryError, before anything is written)."""
    for table, cols in (("people", "id, name"), ("faces", "id, person_id, sha256")):
        theirs = dst._q(f"SELECT {cols} FROM {table} ORDER BY id")
        if not theirs:
            continue
        ours = {r[0]: tuple(r) for r in src._q(f"SELECT {cols} FROM {table} WHERE id <= ? ORDER BY id", (theirs[-1][0],))}
        other = [r for r in theirs if ours.get(r[0]) != tuple(r)]
        if other:
            raise GalleryError(f"{dst.path} holds other data than {src.path} ({len(other)} {table} that the source "
                               "does not have with the same ids): copy into an empty gallery, or resume a copy of this source")


def copy_gallery(
    src: GalleryStore,
    dst: GalleryStore,
    *,
    keys: tuple[object, object] | None = None,
    batch: int = 1000,
    on_batch: Callable[[str, int], None] | None = None,
) -> CopyReport:
    """Copy everything of `src` into `dst` (both open stores), then verify them equal (GalleryError if not).

    keys: (source KeyStore, destination KeyStore) to copy the API keys too (their hashes; keys stay valid).
    on_batch(table, rows): called after each batch written, for progress.
    """
    if src.path == dst.path:
        raise GalleryError(f"{src.path}: source and destination are the same gallery")
    report = CopyReport(str(src.path), str(dst.path))
    _check_resumable(src, dst)
    for table in _tables(dst):
        cols = table.columns
        one = f"({', '.join('?' * len(cols))})"
        per = max(1, 2000 // len(cols))  # rows per statement: within every backend's limit on parameters
        before = dst._q(f"SELECT count(*) FROM {table.name}")[0][0]
        for rows in _rows(src, table, batch):
            values = [bytes(v) if isinstance(v, memoryview) else v for row in rows for v in row]
            with dst.transaction():
                for s in range(0, len(rows), per):
                    n = min(per, len(rows) - s)
                    dst._q(f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES {', '.join([one] * n)} ON CONFLICT DO NOTHING",
                           values[s * len(cols) : (s + n) * len(cols)])
            if on_batch is not None:
                on_batch(table.name, len(rows))
        report.copied[table.name] = int(dst._q(f"SELECT count(*) FROM {table.name}")[0][0]) - int(before)
    dst._after_import()
    if keys is not None:
        report.keys = keys[1].import_rows(keys[0].export_rows())  # type: ignore[attr-defined]
    a, b = gallery_digests(src), gallery_digests(dst)
    differ = [t for t in a if a[t] != b[t]]
    if differ:
        detail = ", ".join(f"{t} ({a[t][0]} rows in the source, {b[t][0]} in the destination)" for t in differ)
        raise GalleryError(f"{dst.path} does not equal {src.path} after the copy: {detail}; the destination held other "
                           "data: copy into an empty gallery")
    if keys is not None and sorted(keys[0].export_rows()) != sorted(keys[1].export_rows()):  # type: ignore[attr-defined]
        raise GalleryError(f"the API keys of {dst.path} differ from those of {src.path} after the copy")
    report.rows = {t: n for t, (n, _) in a.items()}
    return report
