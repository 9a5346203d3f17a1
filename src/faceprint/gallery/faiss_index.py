"""Approximate nearest-neighbour search for large galleries with FAISS (optional extra ``faiss``).

Same contract as :class:`faceprint.gallery.index.ExactIndex`: ``search(queries, k)`` returns (distances, indices),
each (Q, k), nearest first, with true (not squared) euclidean distances, or cosine distances 1 - cos.

Small galleries get an exact flat index. Large ones get an inverted file whose lists hold 4-bit product-quantised
codes scanned with SIMD ("IVF{nlist},PQ{D/2}x4fs"), and every query's best ``refine`` candidates are re-ranked
with exact distances on the original vectors, so the distances returned are exact and only the candidate set is
approximate. The number of lists probed (nprobe) is not a guess: `build` tunes it on the gallery itself. It holds
out a sample of gallery vectors, finds each one's true nearest *other* vector by brute force, and picks the
smallest nprobe (of 1, 2, 3, 4, 6, 8, 12, ...: powers of two and 1.5 times them) whose recall@1 on that sample
reaches ``target_recall`` (0.995 by default). Held-out gallery
vectors come from the same distribution as the gallery, so this adapts to the data: clustered face embeddings
need few lists, structureless random vectors need almost all of them (measured in bench/search.py).

Why this index: structureless random vectors are the worst case for an inverted file (a query's nearest neighbour
may sit in any list), so there the tuner probes every list, and the search becomes a scan of compact 4-bit codes
followed by the exact re-rank; clustered data such as face embeddings need few lists. ``python bench/search.py``
(one thread, CPU time per query in a batch of 1,000, 1M faces of 128-d): exact search 9.8-11.0 ms; this index
0.98 ms with recall@1 0.995 on random unit vectors (every one of 1,024 lists probed), 0.15 ms with recall@1 0.999
on clustered face-like vectors (48 lists probed); building it took 22 s and 16 s of CPU.
At 10M clustered vectors (``python bench/scale.py --n 10000000``): 4,096 lists, nprobe tuned to 64, recall@1 0.999
against exact, p99 0.87-1.33 ms per single query, built in 128-292 s on one or two threads (docs/scale.md).
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from faceprint._extras import optional_module
from faceprint.gallery.index import model_metric
from faceprint.types import squared_distances_to

__all__ = ["FaissIndex", "load_or_build_index", "index_path", "FAISS_KINDS", "EXACT_BELOW"]

log = logging.getLogger(__name__)

FAISS_KINDS = ("auto", "flat", "ivf")
EXACT_BELOW = 50_000
"""With kind="auto", galleries smaller than this get an exact flat index (see bench/search.py)."""
FORMAT = 1


def _as_f32(x: np.ndarray, dim: int | None = None) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.float32)
    if dim is not None:
        x = x.reshape(-1, dim)
    if x.ndim != 2:
        raise ValueError(f"expected a 2-D array of vectors, got shape {x.shape}")
    return x


def _normalize(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12), dtype=np.float32)


def _pq_m(dim: int) -> int:
    """Sub-quantisers for PQ fast-scan: 2 dimensions each (measured: 4 each lost too much recall)."""
    return dim // 2 if dim % 2 == 0 else dim


def _default_nlist(n: int) -> int:
    # About sqrt(N) lists, a power of two, and at least 39 training points per list (FAISS's minimum).
    nlist = 2 ** round(math.log2(max(math.sqrt(n), 1)))
    return int(max(1, min(nlist, n // 39, 65536)))


class FaissIndex:
    """A FAISS index over gallery vectors; build with `FaissIndex.build`, reload with `FaissIndex.load`."""

    def __init__(self, index: Any, vectors: np.ndarray, metric: str, kind: str, nprobe: int = 1, refine: int = 0,
                 tuned_recall: float | None = None) -> None:
        self.index = index
        self.vectors = vectors
        self.metric = metric
        self.kind = kind
        self.nprobe = int(nprobe)
        self.refine = int(refine)
        self.tuned_recall = tuned_recall
        if kind == "ivf":
            optional_module("faiss", "faiss-cpu").extract_index_ivf(index).nprobe = self.nprobe

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def nlist(self) -> int:
        return int(optional_module("faiss", "faiss-cpu").extract_index_ivf(self.index).nlist) if self.kind == "ivf" else 0

    def __repr__(self) -> str:
        extra = f", nlist={self.nlist}, nprobe={self.nprobe}, refine={self.refine}" if self.kind == "ivf" else ""
        return f"FaissIndex(kind={self.kind!r}, metric={self.metric!r}, n={len(self)}, dim={self.dim}{extra})"

    # -- building ---------------------------------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        vectors: np.ndarray,
        metric: str = "euclidean",
        kind: str = "auto",
        *,
        nlist: int | None = None,
        nprobe: int | None = None,
        refine: int = 256,
        target_recall: float = 0.995,
        tune_queries: int = 500,
        exact_below: int = EXACT_BELOW,
        seed: int = 0,
    ) -> FaissIndex:
        """Index `vectors` (N, D). kind: "flat" (exact), "ivf" (approximate, tuned), or "auto" (flat below
        `exact_below` vectors, else ivf). With `nprobe` given, tuning is skipped."""
        faiss = optional_module("faiss", "faiss-cpu")
        if metric not in ("euclidean", "cosine"):
            raise ValueError(f"unknown metric {metric!r}; choose euclidean or cosine")
        if kind not in FAISS_KINDS:
            raise ValueError(f"unknown index kind {kind!r}; choose one of: {', '.join(FAISS_KINDS)}")
        x = _as_f32(vectors)
        if len(x) == 0:
            raise ValueError("cannot index an empty set of vectors")
        if metric == "cosine":
            x = _normalize(x)
        n, dim = x.shape
        if kind == "auto":
            kind = "flat" if n < exact_below else "ivf"
        if kind == "flat":
            index = faiss.IndexFlatL2(dim)
            index.add(x)
            return cls(index, x, metric, "flat")

        nlist = int(nlist) if nlist else _default_nlist(n)
        t0 = time.perf_counter()
        index = faiss.index_factory(dim, f"IVF{nlist},PQ{_pq_m(dim)}x4fs", faiss.METRIC_L2)
        ivf = faiss.extract_index_ivf(index)
        ivf.cp.seed = seed
        ivf.cp.max_points_per_centroid = 64  # a k-means sample of 64 points per list is plenty, and 4x faster
        rng = np.random.default_rng(seed)
        n_train = max(64 * nlist, 16384)  # k-means of the lists, and the 16 centroids of each PQ sub-quantiser
        train = x if n <= n_train else x[np.sort(rng.choice(n, n_train, replace=False))]
        index.train(train)
        index.add(x)
        log.info("built IVF%d,PQ%dx4fs over %d vectors in %.1f s", nlist, _pq_m(dim), n, time.perf_counter() - t0)
        out = cls(index, x, metric, "ivf", nprobe=nprobe or 1, refine=refine)
        if nprobe is None:
            out._tune(target_recall, tune_queries, rng)
        return out

    def _tune(self, target: float, m: int, rng: np.random.Generator) -> None:
        """Smallest nprobe (then, if need be, larger refine) whose leave-one-out recall@1 reaches `target`."""
        faiss = optional_module("faiss", "faiss-cpu")
        n = len(self)
        m = min(m, n)
        sample = np.sort(rng.choice(n, m, replace=False))
        q = self.vectors[sample]
        # True nearest *other* vector of each held-out row (the row itself is in the index).
        ed, ei = faiss.knn(q, self.vectors, min(2, n))
        exact = np.where(ei[:, 0] == sample, ed[:, -1], ed[:, 0])
        nlist = self.nlist
        # powers of two and 1.5 times them (1, 2, 3, 4, 6, 8, 12, ...): a doubling step can overshoot by half the work
        probes = sorted({min(int(f * 2**i), nlist) for i in range(int(math.log2(nlist)) + 2) for f in (1.0, 1.5)})
        refines = [self.refine, 2 * self.refine, 4 * self.refine]
        t0 = time.perf_counter()
        recall = 0.0
        for refine in refines:
            self.refine = refine
            for p in probes:
                self.nprobe = p
                faiss.extract_index_ivf(self.index).nprobe = p
                d, i = self._search_sq(q, min(2, n))
                other = np.where(i[:, 0] == sample, d[:, -1], d[:, 0])
                recall = float(np.mean(other <= exact * (1 + 1e-4) + 1e-6))
                if recall >= target:
                    self.tuned_recall = recall
                    log.info("tuned nprobe=%d/%d refine=%d: held-out recall@1 %.3f (%.1f s)", p, nlist, refine, recall,
                             time.perf_counter() - t0)
                    return
        self.tuned_recall = recall
        log.warning("IVF index reached held-out recall@1 %.3f < %.3f even probing every list; use kind='flat' for "
                    "exact search", recall, target)

    # -- searching --------------------------------------------------------------------------------------------

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest gallery rows per query: (distances, indices), each (Q, k), nearest first.

        Rows that could not be filled (an IVF probe found fewer than k vectors) have index -1 and distance inf.
        """
        q = _as_f32(queries, self.dim)
        if self.metric == "cosine":
            q = _normalize(q)
        k = min(int(k), len(self))
        if k < 1:
            raise ValueError("k must be at least 1")
        d2, idx = self._search_sq(q, k)
        dist = np.sqrt(d2) if self.metric == "euclidean" else d2 / 2.0  # |a-b|^2 = 2 - 2 cos for unit vectors
        return dist.astype(np.float32, copy=False), idx

    def _search_sq(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Squared L2 distances (exact) and indices of the k best; -1 / inf where none."""
        if len(q) == 0:
            return np.zeros((0, k), np.float32), np.zeros((0, k), np.int64)
        if self.kind == "flat":
            # FAISS's flat scan expands |x|^2 + |q|^2 - 2 x.q in float32 for batches: its candidates are re-measured
            # from the differences, so a face against itself is 0 as in ExactIndex.
            d, i = self.index.search(q, k)
            d = np.where(i < 0, np.inf, squared_distances_to(q, self.vectors, np.where(i < 0, 0, i)))
            order = np.argsort(d, axis=1, kind="stable")
            d, i = np.take_along_axis(d, order, 1), np.take_along_axis(i, order, 1)
        else:
            d, i = self._search_refined(q, k)
        i = i.astype(np.int64, copy=False)
        d = np.where(i < 0, np.inf, d).astype(np.float32)
        return d, i

    def _search_refined(self, q: np.ndarray, k: int, chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
        r = min(max(self.refine, k), len(self))
        out_d = np.empty((len(q), k), np.float32)
        out_i = np.empty((len(q), k), np.int64)
        for s in range(0, len(q), chunk):
            qq = q[s : s + chunk]
            _, cand = self.index.search(qq, r)
            safe = np.where(cand < 0, 0, cand)
            d = squared_distances_to(qq, self.vectors, safe)  # from the differences: exact, as ExactIndex
            d[cand < 0] = np.inf
            part = np.argpartition(d, k - 1, axis=1)[:, :k] if k < r else np.broadcast_to(np.arange(r), d.shape)
            pd = np.take_along_axis(d, part, 1)
            order = np.argsort(pd, axis=1, kind="stable")
            sel = np.take_along_axis(part, order, 1)
            out_d[s : s + chunk] = np.take_along_axis(d, sel, 1)
            out_i[s : s + chunk] = np.where(np.isinf(out_d[s : s + chunk]), -1, np.take_along_axis(cand, sel, 1))
        return out_d, out_i

    # -- files ------------------------------------------------------------------------------------------------

    def meta(self) -> dict[str, object]:
        return {
            "format": FORMAT,
            "kind": self.kind,
            "metric": self.metric,
            "n": len(self),
            "dim": self.dim,
            "nprobe": self.nprobe,
            "refine": self.refine,
            "tuned_recall": self.tuned_recall,
            "faiss": optional_module("faiss", "faiss-cpu").__version__,
        }

    def save(self, path: str | os.PathLike[str], extra: dict[str, object] | None = None) -> Path:
        """Write the FAISS index to `path` and its description to `path`.json (index first, then json; both
        atomically), so a json that describes the current index is never beside an older index file.

        The original vectors are not written: they live in the gallery and are passed back to `load`.
        """
        faiss = optional_module("faiss", "faiss-cpu")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".tmp{os.getpid()}")
        faiss.write_index(self.index, str(tmp))
        os.replace(tmp, path)
        meta_path = path.with_name(path.name + ".json")
        tmp_meta = meta_path.with_name(meta_path.name + f".tmp{os.getpid()}")
        tmp_meta.write_text(json.dumps({**self.meta(), **(extra or {})}, indent=1))
        os.replace(tmp_meta, meta_path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str], vectors: np.ndarray) -> FaissIndex:
        """Read an index written by `save`; `vectors` are the same (N, D) vectors it was built from."""
        faiss = optional_module("faiss", "faiss-cpu")
        path = Path(path)
        meta = json.loads(path.with_name(path.name + ".json").read_text())
        if meta.get("format") != FORMAT:
            raise ValueError(f"{path}: index format {meta.get('format')!r}, expected {FORMAT}")
        x = _as_f32(vectors)
        if meta["metric"] == "cosine":
            x = _normalize(x)
        if x.shape != (meta["n"], meta["dim"]):
            raise ValueError(f"{path}: index holds {meta['n']}x{meta['dim']} vectors, given {x.shape[0]}x{x.shape[1]}")
        index = faiss.read_index(str(path))
        if index.ntotal != x.shape[0] or index.d != x.shape[1]:
            raise ValueError(f"{path}: the index file does not match its json ({index.ntotal}x{index.d})")
        return cls(index, x, meta["metric"], meta["kind"], meta["nprobe"], meta["refine"], meta.get("tuned_recall"))


def index_path(gallery: Any, model: str) -> Path:
    """Where the index of `model` lives beside a gallery file: ``<gallery>.<the model's identity key>.faiss``
    (Gallery.data_key), so an index of an older pipeline's vectors is never read for new ones. A PostgreSQL
    gallery has no file beside it: it is kept in the user's cache, named by the gallery's id."""
    if not isinstance(gallery.path, Path):
        from faceprint.models._weights import cache_dir

        folder = cache_dir() / "faiss"
        folder.mkdir(parents=True, exist_ok=True)
        p = folder / f"gallery-{gallery.get_setting('gallery_uid')}"
    else:
        p = Path(gallery.path)
    return p.with_name(f"{p.name}.{re.sub(r'[^A-Za-z0-9._-]', '_', gallery.data_key('index', model))}.faiss")


def load_or_build_index(
    gallery: Any,
    model: str,
    path: str | os.PathLike[str] | None = None,
    metric: str | None = None,
    kind: str = "auto",
    **build_kwargs: Any,
) -> FaissIndex:
    """The FAISS index of `model`'s gallery embeddings: loaded from `path` (default `index_path`) when its json
    records the gallery's current state(model) and the same metric, else built and saved there.

    Row i of the index is row i of gallery.embeddings(model). `metric` defaults to the registered model's (else
    euclidean). When the index cannot be written (read-only folder), it is used from memory with a warning.
    """
    optional_module("faiss", "faiss-cpu")
    if metric is None:
        metric = model_metric(model)
    path = Path(path) if path is not None else index_path(gallery, model)
    state = gallery.state(model)  # before reading the vectors: a concurrent edit then shows up as stale next time
    emb = gallery.embeddings(model)
    meta_path = path.with_name(path.name + ".json")
    want = kind
    if kind == "auto":
        want = "flat" if len(emb.vectors) < build_kwargs.get("exact_below", EXACT_BELOW) else "ivf"
    if path.exists() and meta_path.exists():
        try:
            meta = json.loads(meta_path.read_text())
            fresh = (
                meta.get("state") == state
                and meta.get("model") == model
                and meta.get("metric") == metric
                and meta.get("kind") == want
            )
            if fresh:
                index = FaissIndex.load(path, emb.vectors)
                log.info("loaded %s from %s", index, path)
                return index
            log.info("%s is stale (gallery changed or other settings); rebuilding", path)
        except Exception as exc:  # a damaged or foreign file is rebuilt, not fatal
            log.warning("cannot load %s (%s); rebuilding", path, exc)
    index = FaissIndex.build(emb.vectors, metric=metric, kind=want, **build_kwargs)
    try:
        index.save(path, {"model": model, "state": state, "created": time.time()})
    except OSError as exc:
        log.warning("cannot save the index to %s (%s); it will be rebuilt next time", path, exc)
    return index
