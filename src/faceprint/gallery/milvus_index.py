"""Vector search on Milvus (optional extra ``milvus``): an embedded milvus-lite file or a Milvus server/cluster.

Same contract as :class:`faceprint.gallery.index.ExactIndex`: ``search(queries, k)`` returns (distances, indices),
each (Q, k), nearest first, indices being rows of ``gallery.embeddings(model)``, with true euclidean distances, or
cosine distances 1 - cos.

The SQLite gallery stays the source of truth; the Milvus collection is derived from it. Each row is a gallery face
id, a 64-bit checksum of its vector and the vector; the collection properties record which gallery
(``gallery_uid``), model, metric, index type and *vectors version* it holds. The gallery raises that version on
every insert, replacement or deletion of the model's embeddings (store.py, schema step 2), so one settings read
tells whether the index is in step. When it is not (new faces, ``people remove``, a crash between the two writes)
the index is brought in step by difference: (id, checksum) pairs that left the gallery are deleted from Milvus,
new ones inserted (the checksum catches a face id SQLite reused, or a vector replaced in place); a collection that
is missing, of another gallery or of other settings, or whose row count disagrees with the gallery after syncing,
is dropped and rebuilt from the gallery.

Index type per size (``kind="auto"``; figures in docs/scale.md, measured by ``python bench/scale.py``):

- under 100,000 vectors: ``FLAT``, exact search (what the tests compare against the exact index);
- 100,000 and more: ``HNSW`` (M=16, efConstruction=200, ef=max(128, 2k) at search time): the best recall at low
  latency while the vectors fit in memory (dim * 4 bytes plus about M * 8 bytes of graph per vector);
- ``IVF_FLAT`` (nlist about 4 sqrt(N), nprobe 32) and ``IVF_PQ`` (dim/2 sub-quantisers of 8 bits: 64 bytes per
  128-d vector instead of 512) are there to choose by hand (``kind=``, or ``milvus://HOST:PORT?index=IVF_PQ``): IVF_PQ
  for a cluster whose memory, not latency, is the limit (the 1B-face arithmetic in docs/scale.md). milvus-lite
  implements FLAT, HNSW, IVF_FLAT and IVF_SQ8 but not IVF_PQ; a Milvus server implements all.

When the caller passes the gallery's vectors (the identifier does), the candidates Milvus returns are re-ranked with
exact distances computed the way ExactIndex computes them, so results and distances equal exact search whenever the
true neighbours are among the candidates (always, for FLAT).
"""

from __future__ import annotations

import logging
import math
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np

from faceprint._extras import optional_module
from faceprint.errors import FaceprintError
from faceprint.gallery.index import model_metric
from faceprint.types import squared_distances_to

__all__ = [
    "MILVUS_KINDS",
    "MilvusIndex",
    "MilvusTarget",
    "is_milvus_spec",
    "load_or_build_milvus",
    "index_key",
    "milvus_target",
    "erase_partitions",
    "partition_of",
]

log = logging.getLogger(__name__)

MILVUS_KINDS = ("auto", "FLAT", "HNSW", "IVF_FLAT", "IVF_PQ")
EXACT_BELOW = 100_000
"""With kind="auto", galleries smaller than this get an exact FLAT index."""
FORMAT = "1"
_PK, _SUM, _VEC = "id", "checksum", "vec"
_BATCH = 10_000  # rows per insert/delete call (well under gRPC's 64 MB message limit for 128-d float32)
_P = "faceprint."  # prefix of the collection properties this module owns
PARTITIONS = 64
"""A gallery's index keeps each person's faces in partition ``p<person id mod 64>``, so that erasing a person
rebuilds one partition (a 64th of the index) instead of the collection (gallery/erasure.py)."""


def partition_of(person_ids: np.ndarray) -> np.ndarray:
    """The partition number of each person id."""
    return np.asarray(person_ids, np.int64) % PARTITIONS


def is_milvus_spec(index: str) -> bool:
    """Whether an ``--index`` value names Milvus: ``milvus`` (milvus-lite) or ``milvus://HOST:PORT``."""
    return index == "milvus" or index.startswith("milvus://")


@dataclass(frozen=True)
class MilvusTarget:
    """Where one model's index of one gallery lives: a pymilvus uri (a ``.db`` path means milvus-lite) and a
    collection name; ``kind`` is the index type asked for in the spec (``?index=``), else "auto"."""

    uri: str
    collection: str
    kind: str = "auto"

    @property
    def lite(self) -> bool:
        return not self.uri.startswith(("http://", "https://", "tcp://"))


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", text)


def index_key(gallery: Any, model: str) -> str:
    """The key that names `model`'s Milvus index of `gallery` (file name, collection name, recorded property): keyed
    by the model's identity (Gallery.data_key), so an index of an older pipeline's vectors is never used for new ones."""
    return gallery.data_key("index", model)


def milvus_target(gallery_path: str | os.PathLike[str], gallery_uid: str, key: str, spec: str = "milvus") -> MilvusTarget:
    """The one place that names a gallery's Milvus index (`key` from `index_key`).

    ``milvus``: a milvus-lite file beside the gallery, ``<gallery>.<key>.milvus.db``, collection ``faces``.
    ``milvus://HOST:PORT[?index=KIND]``: a server; the collection is ``faceprint_<gallery uid>_<key>`` (a gallery's
    uid is random and kept inside the gallery file, so galleries never share a collection and a moved file keeps
    its index).
    """
    if spec == "milvus":
        p = Path(gallery_path)
        return MilvusTarget(str(p.with_name(f"{p.name}.{re.sub(r'[^A-Za-z0-9._-]', '_', key)}.milvus.db")), "faces")
    if not spec.startswith("milvus://"):
        raise FaceprintError(f"not a Milvus index: {spec!r}; use milvus or milvus://HOST:PORT")
    parts = urlsplit(spec)
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host, port = None, None
    if not host or not port or parts.path not in ("", "/"):
        raise FaceprintError(f"bad Milvus address {spec!r}; expected milvus://HOST:PORT (e.g. milvus://127.0.0.1:19530)")
    kind = parse_qs(parts.query).get("index", ["auto"])[-1]
    if kind not in MILVUS_KINDS:
        raise FaceprintError(f"unknown Milvus index type {kind!r}; choose one of: {', '.join(MILVUS_KINDS)}")
    return MilvusTarget(f"http://{host}:{port}", server_collection(gallery_uid, key), kind)


def server_collection(gallery_uid: str, key: str) -> str:
    """The name of a gallery's index collection on a Milvus server (the same on every server)."""
    name = f"faceprint_{_safe(gallery_uid)}_{_safe(key)}"
    if len(name) > 255:  # Milvus's limit on collection names
        import hashlib

        name = name[:230] + "_" + hashlib.sha256(name.encode()).hexdigest()[:16]
    return name


def _resolve_kind(kind: str, n: int) -> str:
    if kind not in MILVUS_KINDS:
        raise FaceprintError(f"unknown Milvus index type {kind!r}; choose one of: {', '.join(MILVUS_KINDS)}")
    if kind == "auto":
        return "FLAT" if n < EXACT_BELOW else "HNSW"
    return kind


def _check_kind(target: MilvusTarget, kind: str) -> None:
    if target.lite and kind == "IVF_PQ":  # milvus-lite accepts it, fails building it, and scans: refuse up front
        raise FaceprintError("milvus-lite does not implement IVF_PQ; use HNSW or IVF_FLAT, or a Milvus server "
                             "(milvus://HOST:PORT?index=IVF_PQ)")


def _nlist(n: int) -> int:
    return int(max(1, min(65536, 2 ** round(math.log2(max(4 * math.sqrt(n), 1))), n // 39 or 1)))


def index_params(kind: str, n: int, dim: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """(build params, search params) of an index type for n vectors of dim (written down here, once)."""
    if kind == "FLAT":
        return {}, {}
    if kind == "HNSW":
        return {"M": 16, "efConstruction": 200}, {"ef": 128}
    if kind == "IVF_FLAT":
        return {"nlist": _nlist(n)}, {"nprobe": 32}
    if kind == "IVF_PQ":
        m = dim // 2 if dim % 2 == 0 else dim
        return {"nlist": _nlist(n), "m": m, "nbits": 8}, {"nprobe": 32}
    raise FaceprintError(f"unknown Milvus index type {kind!r}; choose one of: {', '.join(MILVUS_KINDS)}")


def checksums(vectors: np.ndarray) -> np.ndarray:
    """A 64-bit checksum of each float32 row (a fixed random odd multiplier per 32-bit word, summed mod 2^64)."""
    words = np.ascontiguousarray(vectors, dtype="<f4").view("<u4").astype(np.uint64)
    mult = np.random.default_rng(0x46505254).integers(1, 2**63, words.shape[1], dtype=np.uint64) | np.uint64(1)
    with np.errstate(over="ignore"):
        return (words * mult).sum(1, dtype=np.uint64).view(np.int64)


def _normalize(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12), dtype=np.float32)


class MilvusIndex:
    """A search handle on one Milvus collection; get one with `load_or_build_milvus` (or `MilvusIndex.build`).

    Close it (or use it as a context manager): for milvus-lite that stops the embedded server on 127.0.0.1.
    """

    def __init__(self, client: Any, target: MilvusTarget, ids: np.ndarray, metric: str, kind: str, dim: int,
                 vectors: np.ndarray | None = None, search_params: dict[str, Any] | None = None, size: int | None = None) -> None:
        """`size`: the collection's row count when `ids` are not held (a handle for `search_ids` only)."""
        self.size = size
        self.client = client
        self.target = target
        self.metric = metric
        self.kind = kind
        self.dim = int(dim)
        self.search_params = dict(search_params or {})
        ids = np.asarray(ids, np.int64)
        self._order = np.argsort(ids, kind="stable")
        self._sorted_ids = ids[self._order]
        self.vectors = None
        if vectors is not None:
            v = np.ascontiguousarray(vectors, dtype=np.float32)
            self.vectors = _normalize(v) if metric == "cosine" else v

    def __len__(self) -> int:
        return int(self.size if self.size is not None else len(self._sorted_ids))

    def __repr__(self) -> str:
        return (f"MilvusIndex(uri={self.target.uri!r}, collection={self.target.collection!r}, kind={self.kind!r}, "
                f"metric={self.metric!r}, n={len(self)}, dim={self.dim})")

    def __enter__(self) -> MilvusIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection; for milvus-lite also stop its embedded server."""
        _close(self.client, self.target)

    # -- searching --------------------------------------------------------------------------------------------

    def _queries(self, queries: np.ndarray) -> np.ndarray:
        q = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dim)
        return _normalize(q) if self.metric == "cosine" else q

    def _search_chunks(self, q: np.ndarray, k: int, chunk: int) -> Iterator[tuple[int, list[Any]]]:
        """(first query's row, Milvus's hits for each query of the chunk) for `q` in chunks of `chunk` queries."""
        params = dict(self.search_params)
        if "ef" in params:
            params["ef"] = max(int(params["ef"]), 2 * k)
        for s in range(0, len(q), chunk):
            yield s, self.client.search(self.target.collection, data=[v.tolist() for v in q[s : s + chunk]], limit=k,
                                        anns_field=_VEC, output_fields=[], search_params={"metric_type": "L2", "params": params})

    def search(self, queries: np.ndarray, k: int, chunk: int = 64) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest gallery rows per query: (distances, indices), each (Q, k), nearest first; -1 / inf where
        fewer than k were found."""
        q = self._queries(queries)
        k = min(int(k), len(self))
        if k < 1:
            raise ValueError("k must be at least 1")
        out_d = np.full((len(q), k), np.inf, np.float32)
        out_i = np.full((len(q), k), -1, np.int64)
        for s, hits in self._search_chunks(q, k, chunk):
            for r, row in enumerate(hits):
                ids = np.array([h["id"] for h in row], np.int64)
                d2 = np.array([h["distance"] for h in row], np.float32)
                rows = self._rows(ids)
                keep = rows >= 0  # an id the gallery no longer has (an edit since this handle was made)
                rows, d2 = rows[keep], d2[keep]
                if self.vectors is not None and len(rows):
                    d2 = squared_distances_to(q[s + r : s + r + 1], self.vectors, rows[None, :])[0]
                order = np.lexsort((rows, d2))[:k]
                out_d[s + r, : len(order)] = d2[order]
                out_i[s + r, : len(order)] = rows[order]
        dist = np.sqrt(out_d) if self.metric == "euclidean" else out_d / 2.0  # |a-b|^2 = 2 - 2 cos on unit vectors
        return dist.astype(np.float32, copy=False), out_i

    def search_ids(self, queries: np.ndarray, k: int, chunk: int = 64) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest faces per query as Milvus ranks them: (squared L2 distances on what it holds, face ids),
        each (Q, k), -1 where fewer were found. Needs nothing of the gallery in memory: the caller reads the
        candidates' rows (faceprint.recognize.identifier, with a store as its directory)."""
        q = self._queries(queries)
        k = min(int(k), len(self))
        out_d = np.full((len(q), k), np.inf, np.float32)
        out_i = np.full((len(q), k), -1, np.int64)
        for s, hits in self._search_chunks(q, k, chunk):
            for r, row in enumerate(hits):
                out_i[s + r, : len(row)] = [h["id"] for h in row]
                out_d[s + r, : len(row)] = [h["distance"] for h in row]
        return out_d, out_i

    def _rows(self, ids: np.ndarray) -> np.ndarray:
        pos = np.searchsorted(self._sorted_ids, ids)
        pos = np.minimum(pos, len(self._sorted_ids) - 1)
        found = self._sorted_ids[pos] == ids
        return np.where(found, self._order[pos], -1)

    # -- building ---------------------------------------------------------------------------------------------

    @classmethod
    def build(cls, target: MilvusTarget, ids: np.ndarray, vectors: np.ndarray, metric: str = "euclidean",
              kind: str = "auto", properties: dict[str, str] | None = None, client: Any = None,
              person_ids: np.ndarray | None = None) -> MilvusIndex:
        """(Re)create the collection of `target` from scratch with these ids and vectors; with `person_ids`, each
        row goes into its person's partition (`partition_of`)."""
        x = np.ascontiguousarray(vectors, dtype=np.float32)
        if x.ndim != 2 or len(x) == 0:
            raise ValueError(f"expected a non-empty 2-D array of vectors, got shape {x.shape}")
        if metric not in ("euclidean", "cosine"):
            raise ValueError(f"unknown metric {metric!r}; choose euclidean or cosine")
        kind = _resolve_kind(kind, len(x))
        _check_kind(target, kind)
        client = client if client is not None else _connect(target)
        build_p, search_p = index_params(kind, len(x), x.shape[1])
        t0 = time.perf_counter()
        with _quiet():
            _create(client, target.collection, x.shape[1], kind, build_p,
                    {**(properties or {}), _P + "metric": metric, _P + "kind": kind, _P + "dim": str(x.shape[1])},
                    partitions=person_ids is not None)
            xs = _normalize(x) if metric == "cosine" else x
            parts = partition_of(person_ids) if person_ids is not None else None
            _insert(client, target.collection, np.asarray(ids, np.int64), checksums(x), xs, parts)
        log.info("built Milvus %s over %d vectors in %s (%s) in %.1f s", kind, len(x), target.collection, target.uri,
                 time.perf_counter() - t0)
        return cls(client, target, ids, metric, kind, x.shape[1], x, search_p)


def _connect(target: MilvusTarget) -> Any:
    pymilvus = optional_module("pymilvus", extra="milvus")
    if target.lite:
        Path(target.uri).parent.mkdir(parents=True, exist_ok=True)
    try:
        return pymilvus.MilvusClient(uri=target.uri)
    except Exception as exc:  # pymilvus raises its own MilvusException for refused connections, bad files...
        raise FaceprintError(f"cannot connect to Milvus at {target.uri}: {exc}") from None


def _close(client: Any, target: MilvusTarget) -> None:
    try:
        client.close()
    finally:
        if target.lite:
            try:
                from milvus_lite.server_manager import server_manager_instance
            except ImportError:  # an older milvus-lite manages its own process
                return
            server_manager_instance.release_server(target.uri)


def _create(client: Any, name: str, dim: int, kind: str, build_params: dict[str, Any], properties: dict[str, str],
            partitions: bool = False) -> None:
    from pymilvus import DataType

    if client.has_collection(name):
        client.drop_collection(name)
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field(_PK, DataType.INT64, is_primary=True)
    schema.add_field(_SUM, DataType.INT64)
    schema.add_field(_VEC, DataType.FLOAT_VECTOR, dim=int(dim))
    ip = client.prepare_index_params()
    ip.add_index(_VEC, index_type=kind, metric_type="L2", params=build_params)
    client.create_collection(name, schema=schema, index_params=ip, consistency_level="Strong", properties=properties)
    if partitions:
        for p in range(PARTITIONS):
            client.create_partition(name, f"p{p}")


def _insert(client: Any, name: str, ids: np.ndarray, sums: np.ndarray, x: np.ndarray, parts: np.ndarray | None = None) -> None:
    groups = [(None, np.arange(len(ids)))] if parts is None else [(f"p{p}", np.flatnonzero(parts == p)) for p in np.unique(parts)]
    for partition, rows_of in groups:
        for s in range(0, len(rows_of), _BATCH):
            sel = rows_of[s : s + _BATCH]
            rows = zip(ids[sel].tolist(), sums[sel].tolist(), x[sel])
            kw = {"partition_name": partition} if partition is not None else {}
            client.insert(name, [{_PK: i, _SUM: c, _VEC: v.tolist()} for i, c, v in rows], **kw)
    if len(ids):
        # Seal what was inserted and wait for its index, so that it is searched through the index: milvus-lite
        # otherwise scans unindexed rows by brute force (measured: 2 s instead of 0.1 s per query at 20,000 rows,
        # and a (queries x rows x dim) temporary array: 4.8 GB for 100 queries over 100,000 rows).
        client.flush(name)
        _wait_indexed(client, name)


def _wait_indexed(client: Any, name: str, timeout: float = 3600.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        info = client.describe_index(name, _VEC)
        if int(info.get("pending_index_rows", 0) or 0) == 0 and str(info.get("state", "Finished")) == "Finished":
            return
        if time.monotonic() > deadline:
            raise FaceprintError(f"Milvus has not finished indexing {name} after {timeout:.0f} s: {info}")
        time.sleep(0.5)


def _count(client: Any, name: str) -> int:
    res = client.query(name, filter="", output_fields=["count(*)"])
    return int(res[0]["count(*)"])


class _Quiet(logging.Filter):
    """Drops milvus-lite's report that it lacks the AllocTimestamp call (pymilvus then uses a client-side one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        return "mvccTs" not in msg and "Method not implemented" not in msg


_NOISY = ("grpc._server", "pymilvus.client.iterator.query_iterator")


@contextmanager
def _quiet() -> Iterator[None]:
    quiet = _Quiet()
    for name in _NOISY:
        logging.getLogger(name).addFilter(quiet)
    try:
        yield
    finally:
        for name in _NOISY:
            logging.getLogger(name).removeFilter(quiet)


def _all_rows(client: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Every (id, checksum) pair in the collection."""
    ids: list[int] = []
    sums: list[int] = []
    it = client.query_iterator(name, batch_size=16384, filter="", output_fields=[_PK, _SUM])
    try:
        while batch := it.next():
            ids += [int(r[_PK]) for r in batch]
            sums += [int(r[_SUM]) for r in batch]
    finally:
        it.close()
    return np.array(ids, np.int64), np.array(sums, np.int64)


def _same_rows(ids: np.ndarray, sums: np.ndarray, ref_ids: np.ndarray, ref_sums: np.ndarray) -> np.ndarray:
    """For each (id, checksum) row, whether the reference rows hold the same id with the same checksum."""
    if len(ref_ids) == 0:
        return np.zeros(len(ids), bool)
    order = np.argsort(ref_ids)
    pos = np.minimum(np.searchsorted(ref_ids[order], ids), len(ref_ids) - 1)
    j = order[pos]
    return (ref_ids[j] == ids) & (ref_sums[j] == sums)


def _gallery_target(gallery: Any, model: str, spec: str, metric: str | None) -> tuple[MilvusTarget, str, str]:
    """Where `model`'s Milvus index of `gallery` is, the gallery's uid and the metric (the model's unless given);
    checks that pymilvus is installed and that a milvus-lite file is asked for beside a gallery file only."""
    optional_module("pymilvus", extra="milvus")
    uid = gallery.get_setting("gallery_uid")
    if uid is None:
        raise FaceprintError(f"{gallery.path}: this gallery has no gallery_uid setting (schema {gallery.schema_version})")
    if spec == "milvus" and not isinstance(gallery.path, Path):
        raise FaceprintError(f"{gallery.path}: a milvus-lite file sits beside a gallery file; for a PostgreSQL gallery "
                             "use a Milvus server: --index milvus://HOST:PORT")
    return milvus_target(gallery.path, uid, index_key(gallery, model), spec), uid, metric or model_metric(model)


def load_or_build_milvus(gallery: Any, model: str, spec: str = "milvus", metric: str | None = None,
                         kind: str | None = None) -> MilvusIndex:
    """The Milvus index of `model`'s gallery embeddings, brought in step with the gallery first.

    Fresh (same gallery, model, metric, index type and vectors version, and as many rows): used as it is. Behind
    (the version differs): ids that left the gallery are deleted, new ones inserted. Missing, foreign, of other
    settings, or still disagreeing after that: rebuilt from the gallery. The returned handle must be closed.
    """
    target, uid, metric = _gallery_target(gallery, model, spec, metric)
    key = index_key(gallery, model)
    for _ in range(3):  # read a consistent snapshot: the version must not move while the vectors are read
        version = gallery.vectors_version(model)
        emb = gallery.embeddings(model)
        if gallery.vectors_version(model) == version:
            break
    else:
        raise FaceprintError(f"{gallery.path}: the gallery keeps changing while its vectors are read; try again")
    ids = emb.face_ids
    n, dim = emb.vectors.shape
    want_kind = _resolve_kind(kind or target.kind, n)
    _check_kind(target, want_kind)
    want = {_P + "format": FORMAT, _P + "gallery": uid, _P + "model": key, _P + "metric": metric,
            _P + "kind": want_kind, _P + "dim": str(dim), _P + "partitions": str(PARTITIONS)}
    if not target.lite:
        _remember_server(gallery, target)
    client = _connect(target)
    try:
        with _quiet():
            index = _sync(client, target, want, version, ids, emb.vectors, metric, want_kind, emb.person_ids)
    except BaseException as exc:
        _close(client, target)
        if isinstance(exc, optional_module("pymilvus", extra="milvus").MilvusException):  # e.g. an index type this server does not implement
            raise FaceprintError(f"Milvus at {target.uri} refused to index {target.collection}: {exc}") from None
        raise
    return index


def _remember_server(gallery: Any, target: MilvusTarget) -> None:
    """Record a server collection built from this gallery (setting ``milvus_collections``), so that erasure
    (gallery/erasure.py) can erase there too."""
    import json

    raw = gallery.get_setting("milvus_collections")
    known = [tuple(x) for x in json.loads(raw)] if raw else []
    if (target.uri, target.collection) not in known and not getattr(gallery, "read_only", False):
        gallery.set_setting("milvus_collections", json.dumps([*known, (target.uri, target.collection)]))


def open_milvus_in_step(gallery: Any, model: str, spec: str, metric: str | None = None, kind: str | None = None) -> MilvusIndex:
    """A handle on `model`'s Milvus index of `gallery` for `search_ids`, reading no vector when the index is in step
    (same settings, the gallery's vectors version and row count: one small read of the gallery); otherwise
    brought in step first by load_or_build_milvus (one read of the vectors, after which the next command reads
    none). The returned handle must be closed."""
    target, uid, metric = _gallery_target(gallery, model, spec, metric)
    version, n = gallery.vectors_version(model), gallery.models().get(model, 0)
    client = _connect(target)
    try:
        with _quiet():
            if client.has_collection(target.collection):
                props = {k: str(v) for k, v in (client.describe_collection(target.collection).get("properties") or {}).items()}
                want_kind = _resolve_kind(kind or target.kind, n)
                same = (props.get(_P + "format") == FORMAT and props.get(_P + "gallery") == uid and props.get(_P + "metric") == metric
                        and props.get(_P + "kind") == want_kind and props.get(_P + "version") == str(version))
                if same:
                    client.load_collection(target.collection)
                    if _count(client, target.collection) == n:
                        dim = int(props[_P + "dim"])
                        log.info("Milvus index %s is in step (version %d): no vectors read", target.collection, version)
                        return MilvusIndex(client, target, np.zeros(0, np.int64), metric, want_kind, dim, None,
                                           index_params(want_kind, n, dim)[1], size=n)
    except BaseException:
        _close(client, target)
        raise
    _close(client, target)
    return load_or_build_milvus(gallery, model, spec, metric, kind)


def _sync(client: Any, target: MilvusTarget, want: dict[str, str], version: int, ids: np.ndarray,
          vectors: np.ndarray, metric: str, kind: str, person_ids: np.ndarray) -> MilvusIndex:
    name = target.collection
    n, dim = vectors.shape
    props: dict[str, str] = {}
    if client.has_collection(name):
        props = {k: str(v) for k, v in (client.describe_collection(name).get("properties") or {}).items()}
        if props:
            client.load_collection(name)  # a reopened collection starts released
    same = bool(props) and all(props.get(k) == v for k, v in want.items())
    if same and props.get(_P + "version") == str(version) and _count(client, name) == n:
        log.info("Milvus index %s (%s) is in step with the gallery (version %d)", name, target.uri, version)
        return MilvusIndex(client, target, ids, metric, kind, dim, vectors, index_params(kind, n, dim)[1])
    if same:
        have, have_sums = _all_rows(client, name)
        sums = checksums(vectors)
        keep = _same_rows(have, have_sums, ids, sums)  # Milvus rows that the gallery still has, unchanged
        gone = have[~keep]
        new = ~_same_rows(ids, sums, have[keep], have_sums[keep])
        for s in range(0, len(gone), _BATCH):
            client.delete(name, ids=gone[s : s + _BATCH].tolist())
        xs = _normalize(vectors[new]) if metric == "cosine" else vectors[new]
        _insert(client, name, ids[new], sums[new], xs, partition_of(person_ids[new]))
        if _count(client, name) == n:
            client.alter_collection_properties(name, properties={_P + "version": str(version)})
            log.info("Milvus index %s synced to version %d: %d deleted, %d inserted", name, version, len(gone), int(new.sum()))
            return MilvusIndex(client, target, ids, metric, kind, dim, vectors, index_params(kind, n, dim)[1])
        log.warning("Milvus index %s still disagrees with the gallery after syncing; rebuilding it", name)
    elif props:
        log.info("Milvus index %s holds another gallery's or other settings' vectors; rebuilding it", name)
    index = MilvusIndex.build(target, ids, vectors, metric, kind, {**want, _P + "version": str(version)}, client=client,
                              person_ids=person_ids)
    if _count(client, name) != n:
        raise FaceprintError(f"Milvus at {target.uri} holds {_count(client, name)} rows of {name} after a rebuild of {n}")
    return index


def _release_partition(client: Any, name: str, partition: str) -> None:
    """Release one partition before it is dropped: a Milvus server drops no loaded partition. milvus-lite (its file
    or its own server) implements no partition release, and drops a loaded partition."""
    try:
        client.release_partitions(name, [partition])
    except Exception as exc:  # noqa: BLE001  (pymilvus's own error, gRPC's UNIMPLEMENTED under it)
        if "not support" not in str(exc):
            raise


def erase_partitions(gallery: Any, model: str, person_ids: list[int], target: MilvusTarget | None = None) -> str | None:
    """Erase from `model`'s Milvus index of `gallery` (its milvus-lite file, or `target` on a server) every face
    that is no longer in the gallery among the partitions of `person_ids`: each such partition is dropped (its
    segment files go) and refilled from the gallery, then the index is marked in step. A delete alone would leave
    the vectors in the segment files (milvus-lite never compacts, as a server of its own does not). Returns what
    was done, or None when the index is not a partitioned one of this gallery's current settings (the caller then
    rebuilds or drops it whole). The partitions answer no search while they are refilled."""
    optional_module("pymilvus", extra="milvus")
    uid = gallery.get_setting("gallery_uid") or ""
    target = target or milvus_target(gallery.path, uid, index_key(gallery, model))
    if target.lite and not Path(target.uri).exists():
        return None
    client = _connect(target)
    try:
        with _quiet():
            name = target.collection
            if not client.has_collection(name):
                return None
            props = {k: str(v) for k, v in (client.describe_collection(name).get("properties") or {}).items()}
            if props.get(_P + "partitions") != str(PARTITIONS) or props.get(_P + "gallery") != uid:
                return None
            version = gallery.vectors_version(model)
            emb = gallery.embeddings(model)
            parts = sorted({int(p) % PARTITIONS for p in person_ids})
            row_parts = partition_of(emb.person_ids)
            metric = props.get(_P + "metric", "euclidean")
            for p in parts:
                _release_partition(client, name, f"p{p}")
                client.drop_partition(name, f"p{p}")
                client.create_partition(name, f"p{p}")
                sel = np.flatnonzero(row_parts == p)
                x = emb.vectors[sel]
                _insert(client, name, emb.face_ids[sel], checksums(x), _normalize(x) if metric == "cosine" else x,
                        row_parts[sel])
            client.load_collection(name)
            n = _count(client, name)
            if n != len(emb.face_ids):
                log.warning("Milvus index %s holds %d rows after erasure, the gallery %d; rebuilding it", name, n, len(emb.face_ids))
                return None
            client.alter_collection_properties(name, properties={_P + "version": str(version)})
            return f"partitions {', '.join(f'p{p}' for p in parts)} rebuilt ({n} faces in the index)"
    finally:
        _close(client, target)
