"""A large gallery on PostgreSQL + Milvus: what a replica pays to open it, hold it and search it.

    python bench/pg_milvus.py --faces 100000          # PostgreSQL 15 and a milvus-lite server, both on 127.0.0.1

Starts a PostgreSQL 15 in a temporary folder (as tests/pg_server.py does) and a milvus-lite gRPC server, fills the
gallery with --faces synthetic 128-d unit vectors (10 faces per synthetic person) through the store's API, builds
the Milvus index once, then measures in this process, per way of searching:

* ``milvus``: open (the version check, a count and Milvus's handle: no vector read), the resident memory it adds,
  and identify latency *excluding detection and embedding* (the query vectors are given) for --queries queries,
  one at a time: Milvus search, then the store's rows of the returned face ids (people, exact vectors);
* ``exact``: reading every vector once (follow_vectors), its memory, and exact search over them.

Prints the load average: the machine may be shared. Both ways must name the same nearest person for every query.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

MODEL = "dlib-resnet-v1"


def rss_mb() -> float:
    with open("/proc/self/status") as fp:
        return next(int(line.split()[1]) for line in fp if line.startswith("VmRSS:")) / 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faces", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()
    if not 1000 <= args.faces <= 2_000_000 or not 1 <= args.queries <= 10_000:
        raise SystemExit("bounded runs only: 1,000-2,000,000 faces, 1-10,000 queries")
    from pg_server import start_server

    from faceprint.gallery.milvus_index import open_milvus_in_step
    from faceprint.gallery.store import open_store
    from faceprint.gallery.store.copy import copy_gallery
    from faceprint.models.identity import model_identity
    from faceprint.recognize.identifier import GalleryEmbeddings, Identifier
    from faceprint.types import Embeddings

    pg = start_server()
    port = free_port()
    data = Path(tempfile.mkdtemp(prefix="faceprint-milvus-"))
    milvus = subprocess.Popen([sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(data / "m.db"),
                               "--host", "127.0.0.1", "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    spec = f"milvus://127.0.0.1:{port}"
    try:
        url = pg.new_database()
        rng = np.random.default_rng(0)
        identity = model_identity(MODEL)
        seed = data / "seed.sqlite"  # filled through the store's API, then moved by `gallery copy` (the way in)
        with open_store(seed) as g:
            for start in range(0, args.faces, 5000):
                n = min(5000, args.faces - start)
                v = rng.standard_normal((n, 128)).astype(np.float32)
                v /= np.linalg.norm(v, axis=1, keepdims=True)
                with g.transaction():
                    for i in range(n):
                        k = start + i
                        g.add_face(f"p{k // 10:07d}", f"synthetic:{k}", f"{k:064x}", None, v[i], MODEL, identity)
        t0 = time.perf_counter()
        with open_store(seed) as a, open_store(url) as b:
            copy_gallery(a, b, batch=5000)
        fill = time.perf_counter() - t0
        time.sleep(2)  # the milvus-lite server is up by now
        t0 = time.perf_counter()
        with open_store(url) as g:
            open_milvus_in_step(g, MODEL, spec).close()
        build = time.perf_counter() - t0
        # queries near enrolled faces (another photo of someone enrolled)
        with open_store(url) as g:
            some = g.vectors_of(MODEL, rng.integers(1, args.faces + 1, args.queries).tolist())
        queries = some + 0.05 * rng.standard_normal(some.shape).astype(np.float32) / np.sqrt(128)
        rows = []
        load = os.getloadavg()
        # milvus: open, memory, latency
        before = rss_mb()
        t0 = time.perf_counter()
        g = open_store(url)
        index = open_milvus_in_step(g, MODEL, spec)
        photos = g.photo_counts(MODEL)
        opened = time.perf_counter() - t0
        empty = GalleryEmbeddings(MODEL, np.zeros((0, 128), np.float32), np.zeros(0, np.int64), np.zeros(0, np.int64), {})
        ident = Identifier(empty, "euclidean", 0.6, 10.0, index=index, directory=g, n_people=len(photos))
        lat, named_m = [], []
        for q in queries:
            t = time.perf_counter()
            named_m.append(ident.identify(Embeddings(q[None, :], MODEL), top_k=1)[0].closest)
            lat.append(time.perf_counter() - t)
        rows.append(("milvus (HNSW/FLAT by size) + store rows of the candidates", opened, rss_mb() - before, lat))
        index.close()
        # exact: read every vector once, then search them all
        before = rss_mb()
        t0 = time.perf_counter()
        held = g.follow_vectors(MODEL)
        opened = time.perf_counter() - t0
        exact = Identifier(held.embeddings, "euclidean", 0.6, 10.0)
        lat, named_e = [], []
        for q in queries:
            t = time.perf_counter()
            named_e.append(exact.identify(Embeddings(q[None, :], MODEL), top_k=1)[0].closest)
            lat.append(time.perf_counter() - t)
        rows.append(("exact (every vector read once, held in memory)", opened, rss_mb() - before, lat))
        g.close()
        agree = np.mean([a == b for a, b in zip(named_m, named_e)])
    finally:
        milvus.terminate()
        milvus.wait(30)
        pg.close()
        shutil.rmtree(data, ignore_errors=True)
    print(f"\n{args.faces:,} faces (128-d, {args.faces // 10:,} people) on PostgreSQL 15 + milvus-lite server, "
          f"{args.queries} queries one at a time; {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"gallery copy SQLite -> PostgreSQL (verified): {fill:.0f} s ({args.faces / fill:,.0f} faces/s); first Milvus build: {build:.0f} s; "
          f"peak RSS of this process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB\n")
    print("| search | open s | memory added MB | identify p50 ms | p99 ms | (detection excluded) |")
    print("|---|---|---|---|---|---|")
    for name, opened, mem, lat in rows:
        p50, p99 = np.percentile(lat, [50, 99]) * 1000
        print(f"| {name} | {opened:.2f} | {mem:.0f} | {p50:.1f} | {p99:.1f} | |")
    print(f"\nsame nearest person both ways: {100 * agree:.1f}% of queries")


if __name__ == "__main__":
    main()
