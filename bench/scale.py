"""Search at scale: FAISS (flat, IVF, HNSW, IVF-PQ) and Milvus-lite (HNSW, IVF_FLAT) on face-like vectors.

    python bench/scale.py [--n 1000000] [--queries 1000] [--tune-queries 500] [--target-recall 0.995]
                          [--methods ...] [--clients 16] [--threads 1] [--latency-queries 5000] [--nprobe N]

Data: the ``clustered`` galleries of bench/search.py (one random unit centre per identity, 10 faces each, faces =
centre + noise renormalised: faces of one identity ~0.45 apart, of different identities ~1.4; queries are fresh
faces of enrolled identities), 128-d float32, generated chunk by chunk into one array (10M faces: 5.1 GB, the
peak is about that). Ground truth: exact top-10, by brute force over blocks of 1M gallery rows, merged. A second,
held-out set of --tune-queries queries (same distribution, never reported) is where nprobe is tuned.

Per method: build seconds (wall, including training and inserting, and for Milvus-lite its background compaction
and index build, waited for), bytes per vector (the serialised FAISS index,
plus the 512 bytes of raw vectors the project's IVF-PQ keeps for exact re-ranking; for Milvus-lite the size of its
data folder on disk), recall@1 and recall@10 against exact, then per-query latency p50/p99 in ms over
--latency-queries queries (the query set, cycled): ``single`` = one
client sending one query at a time; ``x16`` = 16 client threads, each sending one query at a time (and the
throughput, queries/s, they reach together); ``x16 batched`` = the same 16 clients served as a search server
would, by one search thread that takes every query waiting and searches them as one batch (`Batched`). FAISS and BLAS use --threads OpenMP threads. Each row also prints
the machine's 1-minute load average when the method started and when its row was printed (os.getloadavg(): other
people's jobs share the machine) and this process's peak resident memory so far.

Methods:
  faiss-flat      IndexFlatL2, exact
  faiss-ivf       IVF{4 sqrt N},Flat, nprobe 32 (a flat coarse quantizer: at 10M, assigning the vectors to 16,384
                  lists is 42 TFLOP, too slow here; use faiss-ivfhnsw)
  faiss-ivfhnsw   IVF{2 sqrt N}_HNSW32,Flat (an HNSW graph over the list centroids assigns vectors and queries),
                  k-means of 10 iterations on 40 vectors per list, nprobe = the smallest of 1, 2, 3, 4, 6, 8,
                  12, ... whose recall@1 on the held-out queries reaches --target-recall
  faiss-hnsw      HNSW32 (efConstruction 80), efSearch 128
  faiss-ivfpq     faceprint's FaissIndex (IVF-PQ 4-bit fast-scan + exact re-rank, nprobe tuned by the index on
                  its own gallery to recall@1 --target-recall, the index's default 0.995)
  milvus-hnsw     MilvusIndex.build on milvus-lite, HNSW M=16 efConstruction=200, ef 128 (gallery/milvus_index.py)
  milvus-ivf      MilvusIndex.build on milvus-lite, IVF_FLAT, nprobe 32
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import os
import queue
import resource
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import faiss
import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from search import make_data  # noqa: E402  (one data generator for both search benches)

from faceprint.gallery.faiss_index import FaissIndex  # noqa: E402

METHODS = ("faiss-flat", "faiss-ivf", "faiss-ivfhnsw", "faiss-hnsw", "faiss-ivfpq", "milvus-hnsw", "milvus-ivf")


class _Faiss:
    """A raw FAISS index behind the (distances, indices) search contract."""

    def __init__(self, index) -> None:
        self.index = index

    def search(self, q: np.ndarray, k: int):
        return self.index.search(q, k)


def _nlist(n: int, per_sqrt: int = 4) -> int:
    return int(2 ** round(np.log2(per_sqrt * np.sqrt(n))))


def index_bytes(index) -> int:
    """Size of the serialised FAISS index, counted as it streams out (faiss.serialize_index would hold the whole
    serialisation, and its growing buffer, in memory: 10+ GB for a 10M IVF-Flat)."""
    total = 0

    def count(chunk: bytes) -> int:
        nonlocal total
        total += len(chunk)
        return len(chunk)

    writer = faiss.PyCallbackIOWriter(count)
    faiss.write_index(index, writer)
    del writer  # flushes
    return total


def exact_topk(x: np.ndarray, q: np.ndarray, k: int, block: int = 1_000_000) -> np.ndarray:
    """Row indices of the exact k nearest gallery rows per query (squared L2), by brute force over blocks of
    `block` gallery rows (no copy of the gallery), merged; progress on stdout."""
    best_d = np.full((len(q), k), np.inf, np.float32)
    best_i = np.full((len(q), k), -1, np.int64)
    t0 = time.perf_counter()
    for s in range(0, len(x), block):
        d, i = faiss.knn(q, x[s : s + block], k)
        cand_d, cand_i = np.hstack([best_d, d]), np.hstack([best_i, i + s])
        order = np.argsort(cand_d, axis=1, kind="stable")[:, :k]
        best_d, best_i = np.take_along_axis(cand_d, order, 1), np.take_along_axis(cand_i, order, 1)
        print(f"  exact top-{k}: {min(s + block, len(x)):,} / {len(x):,} rows, {time.perf_counter() - t0:.0f} s",
              flush=True)
    return best_i


def _tune_nprobe(idx, tune: tuple[np.ndarray, np.ndarray], target: float) -> tuple[int, float]:
    """(nprobe, its recall@1): the smallest nprobe of 1, 2, 3, 4, 6, 8, 12, ... (powers of two and 1.5 times them)
    whose recall@1 on the held-out queries reaches `target`. The HNSW quantizer's efSearch is 2 nprobe, at least
    256: at 64 (1M vectors, 4,096 lists) the graph found only 86% of the nprobe nearest lists, and recall@1 at
    nprobe 64 was 0.982 instead of 0.995."""
    q, truth = tune
    ivf = faiss.extract_index_ivf(idx)
    r1 = 0.0
    grid = sorted({min(int(f * 2**i), ivf.nlist) for i in range(int(np.log2(ivf.nlist)) + 1) for f in (1, 1.5)})
    for p in grid:
        _set_nprobe(idx, p)
        r1 = recall(idx.search(q, 1)[1], truth, 1)
        if r1 >= target:
            return p, r1
    return p, r1


def _set_nprobe(idx, nprobe: int) -> None:
    ivf = faiss.extract_index_ivf(idx)
    ivf.nprobe = nprobe
    faiss.downcast_index(ivf.quantizer).hnsw.efSearch = max(256, 2 * nprobe)


def build(method: str, x: np.ndarray, tmp: Path, tune: tuple[np.ndarray, np.ndarray], target: float,
          nprobe: int | None = None):
    """(searchable, bytes per vector, closer, settings). `tune`: held-out (queries, exact top-k rows); `nprobe`
    fixes faiss-ivfpq's instead of letting FaissIndex tune it."""
    n, dim = x.shape
    if method == "faiss-flat":
        idx = faiss.IndexFlatL2(dim)
        idx.add(x)
        return _Faiss(idx), dim * 4, None, "exact"
    if method == "faiss-ivf":
        idx = faiss.index_factory(dim, f"IVF{_nlist(n)},Flat")
        rng = np.random.default_rng(0)
        idx.train(x[rng.choice(n, min(n, 64 * _nlist(n)), replace=False)])
        idx.add(x)
        idx.nprobe = 32
        return _Faiss(idx), index_bytes(idx) / n, None, f"nlist {_nlist(n)} nprobe 32"
    if method == "faiss-ivfhnsw":
        nlist = _nlist(n, 2)
        idx = faiss.index_factory(dim, f"IVF{nlist}_HNSW32,Flat")
        ivf = faiss.extract_index_ivf(idx)
        ivf.cp.niter, ivf.cp.seed = 10, 0
        rng = np.random.default_rng(0)
        idx.train(x[np.sort(rng.choice(n, min(n, 40 * nlist), replace=False))])
        for s in range(0, n, 1_000_000):
            idx.add(x[s : s + 1_000_000])
        nprobe, r1 = _tune_nprobe(idx, tune, target)
        return (_Faiss(idx), index_bytes(idx) / n, None,
                f"nlist {nlist} nprobe {nprobe} (held-out recall@1 {r1:.4f})")
    if method == "faiss-hnsw":
        idx = faiss.IndexHNSWFlat(dim, 32)
        idx.hnsw.efConstruction = 80
        idx.add(x)
        idx.hnsw.efSearch = 128
        return _Faiss(idx), index_bytes(idx) / n, None, "efSearch 128"
    if method == "faiss-ivfpq":
        idx = FaissIndex.build(x, kind="ivf", target_recall=target, nprobe=nprobe)
        how = f"tuned by FaissIndex to {target:g}" if nprobe is None else "nprobe set by --nprobe"
        return (idx, index_bytes(idx.index) / n + dim * 4, None,
                f"nlist {idx.nlist} nprobe {idx.nprobe} refine {idx.refine} ({how})")
    if method.startswith("milvus-"):
        from faceprint.gallery.milvus_index import MilvusIndex, MilvusTarget

        kind = {"milvus-hnsw": "HNSW", "milvus-ivf": "IVF_FLAT"}[method]
        where = MilvusTarget(str(tmp / f"{method}.db"), "faces")
        # Without the gallery's vectors: Milvus's own distances, no exact re-ranking (as a client of a cluster).
        idx = MilvusIndex.build(where, np.arange(n), x, "euclidean", kind)
        idx.vectors = idx._sqnorms = None
        if kind == "IVF_FLAT":
            idx.search_params = {"nprobe": 32}
        _settle()
        size = sum(f.stat().st_size for f in Path(where.uri).rglob("*") if f.is_file())
        return idx, size / n, idx.close, "HNSW M 16 efConstruction 200 ef 128" if kind == "HNSW" else "IVF_FLAT nprobe 32"
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


def latencies(index, q: np.ndarray, clients: int, total: int) -> tuple[np.ndarray, float]:
    """Per-query ms of `total` queries (the query set, cycled) with `clients` threads each sending single queries;
    and total queries per second. A p99 rests on its worst 1%: thousands of queries keep one hiccup of a shared
    machine from being it."""

    def one(i: int) -> float:
        j = i % len(q)
        t0 = time.perf_counter()
        index.search(q[j : j + 1], 10)
        return (time.perf_counter() - t0) * 1e3

    t0 = time.perf_counter()
    if clients == 1:
        ms = [one(i) for i in range(total)]
    else:
        with cf.ThreadPoolExecutor(clients) as pool:
            ms = list(pool.map(one, range(total)))
    return np.array(ms), total / (time.perf_counter() - t0)


class Batched:
    """What a search server does for concurrent clients: one search thread takes every query waiting (up to
    `most`) and searches them as one batch, so FAISS spreads a batch over its threads and Python threads do not
    queue for the interpreter one query at a time. Same (distances, indices) contract as the index."""

    def __init__(self, index, most: int = 64) -> None:
        self.index, self.most = index, most
        self.waiting: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            items = [self.waiting.get()]
            if items[0] is None:
                return
            while len(items) < self.most:
                try:
                    items.append(self.waiting.get_nowait())
                except queue.Empty:
                    break
            stop = items[-1] is None
            items = [it for it in items if it is not None]
            k = max(kk for _, kk, _ in items)
            d, i = self.index.search(np.vstack([v for v, _, _ in items]), k)
            for r, (_, kk, fut) in enumerate(items):
                fut.set_result((d[r : r + 1, :kk], i[r : r + 1, :kk]))
            if stop:
                return

    def search(self, q: np.ndarray, k: int):
        fut: cf.Future = cf.Future()
        self.waiting.put((q, k, fut))
        return fut.result()

    def close(self) -> None:
        self.waiting.put(None)
        self.thread.join()


def _load() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def _rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--tune-queries", type=int, default=500, help="held-out queries for tuning nprobe")
    ap.add_argument("--target-recall", type=float, default=0.995, help="held-out recall@1 that nprobe must reach")
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument("--nprobe", type=int, default=None, help="faiss-ivfpq: lists probed (default: FaissIndex tunes it)")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--latency-queries", type=int, default=5000, help="queries timed per latency column (the set, cycled)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    faiss.omp_set_num_threads(args.threads)
    print(f"load average at start {os.getloadavg()}; {os.cpu_count()} CPUs", flush=True)
    t0 = time.perf_counter()
    x, q_all = make_data("clustered", args.n, args.queries + args.tune_queries, args.dim, args.seed)
    print(f"{args.n:,} clustered {args.dim}-d vectors generated in {time.perf_counter() - t0:.1f} s "
          f"(peak RSS {_rss_gb():.1f} GiB)", flush=True)
    with threadpool_limits(args.threads):
        t0 = time.perf_counter()
        truth_all = exact_topk(x, q_all, 10)
        exact_s = time.perf_counter() - t0
        q, truth = q_all[: args.queries], truth_all[: args.queries]
        tune = (q_all[args.queries :], truth_all[args.queries :])
        print(f"{args.n:,} clustered {args.dim}-d vectors, {args.queries} queries (+{args.tune_queries} held out for "
              f"tuning); exact top-10 of all {len(q_all)} in {exact_s:.1f} s as one batch "
              f"({1e3 * exact_s / len(q_all):.1f} ms per query); {args.threads} FAISS/BLAS thread(s); "
              f"{os.cpu_count()} CPUs; faiss {faiss.__version__}", flush=True)
        c = args.clients
        head = ("| method | settings | build s | bytes/vector | recall@1 | recall@10 | single p50 ms | single p99 ms | "
                f"x{c} p50 ms | x{c} p99 ms | x{c} q/s | x{c} batched p50 ms | x{c} batched p99 ms | x{c} batched q/s | "
                "load start-end | peak RSS GiB |")
        print(head)
        print("|" + "---|" * (head.count("|") - 1), flush=True)
        tmp = Path(tempfile.mkdtemp(prefix="faceprint-scale-"))
        try:
            for method in args.methods:
                load0 = _load()
                t0 = time.perf_counter()
                index, per_vector, close, settings = build(method, x, tmp, tune, args.target_recall, args.nprobe)
                built = time.perf_counter() - t0
                _, found = index.search(q, 10)
                r1, r10 = recall(found, truth, 1), recall(found, truth, 10)
                total = max(args.latency_queries, len(q))
                single, _ = latencies(index, q, 1, total)
                multi, qps = latencies(index, q, args.clients, total)
                batcher = Batched(index)
                batched, bqps = latencies(batcher, q, args.clients, total)
                batcher.close()
                print(f"| {method} | {settings} | {built:.1f} | {per_vector:.0f} | {r1:.4f} | {r10:.4f} | "
                      f"{np.percentile(single, 50):.2f} | {np.percentile(single, 99):.2f} | "
                      f"{np.percentile(multi, 50):.2f} | {np.percentile(multi, 99):.2f} | {qps:.0f} | "
                      f"{np.percentile(batched, 50):.2f} | {np.percentile(batched, 99):.2f} | {bqps:.0f} | "
                      f"{load0}-{_load()} | {_rss_gb():.1f} |", flush=True)
                if close:
                    close()
                del index
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"load average at end {os.getloadavg()}", flush=True)


if __name__ == "__main__":
    main()
