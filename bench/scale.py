"""Search at scale: FAISS (flat, IVF, HNSW, IVF-PQ) and Milvus-lite (HNSW, IVF_FLAT) on face-like vectors.

    python bench/scale.py [--n 1000000] [--queries 1000] [--methods ...] [--clients 16] [--threads 1] [--out DIR]

Data: the ``clustered`` galleries of bench/search.py (one random unit centre per identity, 10 faces each, faces =
centre + noise renormalised: faces of one identity ~0.45 apart, of different identities ~1.4; queries are fresh
faces of enrolled identities), 128-d float32. Ground truth: exact top-10 by a FAISS flat index.

Per method: build seconds (wall, including training and inserting, and for Milvus-lite its background compaction
and index build, waited for), bytes per vector (the serialised FAISS index,
plus the 512 bytes of raw vectors the project's IVF-PQ keeps for exact re-ranking; for Milvus-lite the size of its
data folder on disk), recall@1 and recall@10 against exact, then per-query latency p50/p99 in ms: ``single`` = one
client sending one query at a time; ``x16`` = 16 client threads, each sending one query at a time (and the
throughput, queries/s, they reach together). FAISS and BLAS use --threads OpenMP threads.

Methods:
  faiss-flat      IndexFlatL2, exact
  faiss-ivf       IVF{4 sqrt N},Flat, nprobe 32
  faiss-hnsw      HNSW32 (efConstruction 80), efSearch 128
  faiss-ivfpq     faceprint's FaissIndex (IVF-PQ 4-bit fast-scan + exact re-rank, nprobe tuned to recall@1 0.995)
  milvus-hnsw     MilvusIndex.build on milvus-lite, HNSW M=16 efConstruction=200, ef 128 (gallery/milvus_index.py)
  milvus-ivf      MilvusIndex.build on milvus-lite, IVF_FLAT, nprobe 32
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from search import make_data  # noqa: E402  (one data generator for both search benches)

from faceprint.gallery.faiss_index import FaissIndex  # noqa: E402

METHODS = ("faiss-flat", "faiss-ivf", "faiss-hnsw", "faiss-ivfpq", "milvus-hnsw", "milvus-ivf")


class _Faiss:
    """A raw FAISS index behind the (distances, indices) search contract."""

    def __init__(self, index) -> None:
        self.index = index

    def search(self, q: np.ndarray, k: int):
        return self.index.search(q, k)


def _nlist(n: int) -> int:
    return int(2 ** round(np.log2(4 * np.sqrt(n))))


def build(method: str, x: np.ndarray, tmp: Path):
    """(searchable, bytes per vector, closer)."""
    n, dim = x.shape
    if method == "faiss-flat":
        idx = faiss.IndexFlatL2(dim)
        idx.add(x)
        return _Faiss(idx), dim * 4, None
    if method == "faiss-ivf":
        idx = faiss.index_factory(dim, f"IVF{_nlist(n)},Flat")
        rng = np.random.default_rng(0)
        idx.train(x[rng.choice(n, min(n, 64 * _nlist(n)), replace=False)])
        idx.add(x)
        idx.nprobe = 32
        return _Faiss(idx), len(faiss.serialize_index(idx)) / n, None
    if method == "faiss-hnsw":
        idx = faiss.IndexHNSWFlat(dim, 32)
        idx.hnsw.efConstruction = 80
        idx.add(x)
        idx.hnsw.efSearch = 128
        return _Faiss(idx), len(faiss.serialize_index(idx)) / n, None
    if method == "faiss-ivfpq":
        idx = FaissIndex.build(x, kind="ivf")
        return idx, len(faiss.serialize_index(idx.index)) / n + dim * 4, None
    if method.startswith("milvus-"):
        from faceprint.gallery.milvus_index import MilvusIndex, MilvusTarget

        kind = {"milvus-hnsw": "HNSW", "milvus-ivf": "IVF_FLAT"}[method]
        target = MilvusTarget(str(tmp / f"{method}.db"), "faces")
        # Without the gallery's vectors: Milvus's own distances, no exact re-ranking (as a client of a cluster).
        idx = MilvusIndex.build(target, np.arange(n), x, "euclidean", kind)
        idx.vectors = idx._sqnorms = None
        if kind == "IVF_FLAT":
            idx.search_params = {"nprobe": 32}
        _settle()
        size = sum(f.stat().st_size for f in Path(target.uri).rglob("*") if f.is_file())
        return idx, size / n, idx.close
    raise SystemExit(f"unknown method {method!r}; choose from {', '.join(METHODS)}")


def _settle(limit: float = 1800.0) -> None:
    """Wait until milvus-lite's background threads (post-flush compaction, then an index rebuilt over the merged
    segment) are done: pymilvus has no call that waits for them, and queries during that work measure the build."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        c0 = time.process_time()
        time.sleep(2.0)
        if time.process_time() - c0 < 0.1:
            return


def recall(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    if k == 1:
        return float(np.mean(found[:, 0] == truth[:, 0]))
    return float(np.mean([len(set(f[:k]) & set(t[:k])) / k for f, t in zip(found, truth)]))


def latencies(index, q: np.ndarray, clients: int) -> tuple[np.ndarray, float]:
    """Per-query ms with `clients` threads each sending single queries; and total queries per second."""

    def one(i: int) -> float:
        t0 = time.perf_counter()
        index.search(q[i : i + 1], 10)
        return (time.perf_counter() - t0) * 1e3

    t0 = time.perf_counter()
    if clients == 1:
        ms = [one(i) for i in range(len(q))]
    else:
        with cf.ThreadPoolExecutor(clients) as pool:
            ms = list(pool.map(one, range(len(q))))
    return np.array(ms), len(q) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    faiss.omp_set_num_threads(args.threads)
    x, q = make_data("clustered", args.n, args.queries, args.dim, args.seed)
    with threadpool_limits(args.threads):
        flat = faiss.IndexFlatL2(args.dim)
        flat.add(x)
        t0 = time.perf_counter()
        _, truth = flat.search(q, 10)
        print(f"{args.n:,} clustered {args.dim}-d vectors, {args.queries} queries; exact top-10 in "
              f"{time.perf_counter() - t0:.1f} s; {args.threads} FAISS/BLAS thread(s); {os.cpu_count()} CPUs", flush=True)
        del flat
        head = (f"| method | build s | bytes/vector | recall@1 | recall@10 | single p50 ms | single p99 ms | "
                f"x{args.clients} p50 ms | x{args.clients} p99 ms | x{args.clients} q/s |")
        print(head)
        print("|" + "---|" * (head.count("|") - 1))
        tmp = Path(tempfile.mkdtemp(prefix="faceprint-scale-"))
        try:
            for method in args.methods:
                t0 = time.perf_counter()
                index, per_vector, close = build(method, x, tmp)
                built = time.perf_counter() - t0
                _, found = index.search(q, 10)
                r1, r10 = recall(found, truth, 1), recall(found, truth, 10)
                single, _ = latencies(index, q, 1)
                multi, qps = latencies(index, q, args.clients)
                print(f"| {method} | {built:.1f} | {per_vector:.0f} | {r1:.4f} | {r10:.4f} | "
                      f"{np.percentile(single, 50):.2f} | {np.percentile(single, 99):.2f} | "
                      f"{np.percentile(multi, 50):.2f} | {np.percentile(multi, 99):.2f} | {qps:.0f} |", flush=True)
                if close:
                    close()
                del index
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
