"""Query latency of gallery search: exact (batched matrix products, ExactIndex) against FAISS, at 10k, 100k, 1M faces.

    python bench/search.py [--sizes 10000 100000 1000000] [--queries 1000] [--data random clustered] [--threads 1]

Synthetic 128-d galleries, all measured in the same run:

* ``random``: unit vectors drawn uniformly on the sphere, the worst case for an approximate index (nothing to
  cluster; every query's nearest neighbour is barely nearer than the rest). The issue's recall figure is on these.
* ``clustered``: face-like: one random unit centre per identity (10 faces each), faces = centre + noise,
  renormalised, so that faces of one identity are about 0.45 apart and different identities about 1.4; the
  queries are fresh faces of enrolled identities.

For each size: ``exact`` is ExactIndex.search(queries, 1) over the whole batch of queries; ``faiss`` is
FaissIndex.build(vectors) with its defaults, as `identify --index faiss` builds it (an exact flat index below
50,000 faces, else IVF-PQ with exact re-ranking and nprobe tuned to a held-out recall@1 of 0.995); build time
includes the tuning. ms/query = wall time of one batched search / number of queries. recall@1 = the share of
queries whose nearest neighbour is the exact one. BLAS and FAISS run with --threads threads (1 by default: the
machine this was written on has 2 cores shared by several people, where more threads only spin).
"""

from __future__ import annotations

import argparse
import time

import faiss
import numpy as np
from threadpoolctl import threadpool_limits

from faceprint.gallery import ExactIndex
from faceprint.gallery.faiss_index import FaissIndex


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


FACES_PER_IDENTITY = 10
SIGMA = 0.028  # per dimension: |noise| ~ 0.32, so two faces of one identity are ~0.45 apart
CHUNK_IDENTITIES = 10_000  # identities generated per step: 100,000 faces, 51 MB of temporaries at 128-d


def make_data(kind: str, n: int, n_queries: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(gallery (n, dim), queries (n_queries, dim)), float32 unit vectors, the same for the same arguments.

    Written chunk by chunk into one preallocated array, so the peak memory is the gallery itself plus ~50 MB (10M
    faces of 128-d: 5.1 GB). Chunk c of the gallery is drawn from its own generator seeded (seed, 0, c), so a
    gallery of whole chunks (a multiple of 100,000 faces) is a prefix of a larger one with the same seed; the
    queries come from a generator seeded (seed, 1). ``clustered``: identity i has a random unit centre and faces rows 10i..10i+9, each = centre +
    N(0, SIGMA^2) per dimension, renormalised; each query is a fresh face of a uniformly drawn identity.
    ``random``: every row uniform on the sphere, queries too.
    """
    x = np.empty((n, dim), np.float32)
    qrng = np.random.default_rng([seed, 1])
    if kind == "random":
        step = CHUNK_IDENTITIES * FACES_PER_IDENTITY
        for c, s in enumerate(range(0, n, step)):
            out = x[s : s + step]
            np.random.default_rng([seed, 0, c]).standard_normal(out=out, dtype=np.float32)
            out /= np.linalg.norm(out, axis=1, keepdims=True)
        return x, unit(qrng.standard_normal((n_queries, dim), dtype=np.float32))
    n_ids = -(-n // FACES_PER_IDENTITY)
    who = qrng.integers(0, n_ids, n_queries)
    q = qrng.standard_normal((n_queries, dim), dtype=np.float32) * np.float32(SIGMA)
    for c, first in enumerate(range(0, n_ids, CHUNK_IDENTITIES)):
        rng = np.random.default_rng([seed, 0, c])
        centres = unit(rng.standard_normal((min(CHUNK_IDENTITIES, n_ids - first), dim), dtype=np.float32))
        mine = (who >= first) & (who < first + len(centres))
        q[mine] += centres[who[mine] - first]
        s = first * FACES_PER_IDENTITY
        out = x[s : s + len(centres) * FACES_PER_IDENTITY]
        rng.standard_normal(out=out, dtype=np.float32)
        out *= np.float32(SIGMA)
        out += np.repeat(centres, FACES_PER_IDENTITY, axis=0)[: len(out)]
        out /= np.linalg.norm(out, axis=1, keepdims=True)
    return x, unit(q)


def timed(fn, *args, **kwargs):
    """(result, wall seconds, CPU seconds of this process)."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--data", nargs="+", choices=["random", "clustered"], default=["random", "clustered"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    faiss.omp_set_num_threads(args.threads)
    rows = []
    with threadpool_limits(args.threads):
        for data in args.data:
            for n in args.sizes:
                x, q = make_data(data, n, args.queries, args.dim, args.seed)
                exact = ExactIndex(x)
                exact.search(q[:10], 1)  # warm-up
                (true_d, true_i), wall, cpu = timed(exact.search, q, 1)
                rows.append((data, n, "exact", "", 0.0, 0.0, 1000 * wall / len(q), 1000 * cpu / len(q), 1.0))
                index, b_wall, b_cpu = timed(FaissIndex.build, x)
                index.search(q[:10], 1)
                (_, idx), wall, cpu = timed(index.search, q, 1)
                recall = float(np.mean(idx[:, 0] == true_i[:, 0]))
                what = index.kind if index.kind == "flat" else f"ivf{index.nlist} nprobe {index.nprobe} refine {index.refine}"
                rows.append((data, n, "faiss", what, b_wall, b_cpu, 1000 * wall / len(q), 1000 * cpu / len(q), recall))
                print(f"{data} {n}: {rows[-2][6]:.3f} ms/query exact; faiss ({what}) built in {b_wall:.1f} s, "
                      f"{rows[-1][6]:.3f} ms/query, recall@1 {recall:.3f}", flush=True)
                del x, exact, index
    print(f"\n{args.queries} queries per batch, {args.dim}-d, {args.threads} thread(s), faiss {faiss.__version__}; "
          "wall = elapsed time, cpu = this process's CPU time (what a quiet machine would take with these threads)")
    print(f"{'data':9s} {'faces':>9s} {'search':6s} {'index':30s} {'build s':>8s} {'(cpu)':>7s} {'ms/query':>9s} "
          f"{'(cpu)':>7s} {'recall@1':>8s}")
    for data, n, method, what, b_wall, b_cpu, ms, ms_cpu, recall in rows:
        build = f"{b_wall:8.1f} {b_cpu:7.1f}" if method == "faiss" else f"{'-':>8s} {'-':>7s}"
        print(f"{data:9s} {n:9d} {method:6s} {what:30s} {build} {ms:9.3f} {ms_cpu:7.3f} {recall:8.3f}")


if __name__ == "__main__":
    main()
