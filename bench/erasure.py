"""Erasure at scale: remove one person from a gallery of N faces with a milvus-lite index, and check what is left.

    python bench/erasure.py [--n 100000] [--per 10] [--removals 3] [--kind auto] [--cache-rows 20000]

Data: the ``clustered`` vectors of bench/search.py (N faces, --per faces per person, 128-d), written into a fresh
SQLite gallery as model ``bench-128`` (one transaction), an embedding cache of --cache-rows rows in a private
FACEPRINT_HOME (as `eval` leaves one), and the gallery's Milvus index (``load_or_build_milvus``: FLAT below
100,000 faces, HNSW from 100,000, as ``--index milvus`` builds it).

Then --removals times: `Gallery.remove_person` of one person (the one erasure path that `people remove` and
``DELETE /v1/people/{name}`` use), timed as a whole and per erasure step; after each, the gallery is read
(people and vectors) and the Milvus index opened again and searched (it must be in step without a rebuild), and
every file of the gallery's folder and the cache is scanned for the removed person's vector bytes (must be 0).
Each row prints the 1-minute load average at its start and end (other jobs share the machine).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from search import make_data

MODEL = "bench-128"


def _load() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def _scan(roots: list[Path], needles: list[bytes]) -> int:
    hits = 0
    for root in roots:
        for dirpath, _, names in os.walk(root):
            for n in names:
                p = Path(dirpath, n)
                if p.is_file() and not p.is_symlink():
                    data = p.read_bytes()
                    hits += sum(b in data for b in needles)
    return hits


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--per", type=int, default=10)
    ap.add_argument("--removals", type=int, default=3)
    ap.add_argument("--kind", default="auto")
    ap.add_argument("--cache-rows", type=int, default=20_000)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="faceprint-erasure-bench-"))
    os.environ["FACEPRINT_HOME"] = str(tmp / "home")
    from faceprint.cache import EmbeddingCache
    from faceprint.gallery.erasure import erase_person
    from faceprint.gallery.milvus_index import load_or_build_milvus
    from faceprint.gallery.store import Gallery

    x, q = make_data("clustered", args.n, 16, 128, 0)
    path = tmp / "gallery" / "g.sqlite"
    t0 = time.perf_counter()
    with Gallery(path) as g, g.transaction():
        for i in range(args.n):
            g.add_face(f"person{i // args.per:06d}", f"/photos/{i}.jpg", f"{i:064x}", None, x[i], MODEL)
    t_gallery = time.perf_counter() - t0
    photos = tmp / "photos"  # the embedding cache keys real files: one small file per cached row
    photos.mkdir()
    with EmbeddingCache() as cache:
        for i in range(args.cache_rows):
            f = photos / f"{i}.jpg"
            f.write_bytes(i.to_bytes(8, "little"))
            cache.put(MODEL, f, x[i], None, 1, detector="bench")
    t0 = time.perf_counter()
    with Gallery(path) as g:
        with load_or_build_milvus(g, MODEL, kind=None if args.kind == "auto" else args.kind) as m:
            kind = m.kind
    t_index = time.perf_counter() - t0
    print(f"gallery: {args.n:,} faces of {args.n // args.per:,} people written in {t_gallery:.1f} s; embedding cache "
          f"{args.cache_rows:,} rows; Milvus-lite {kind} built in {t_index:.1f} s (load {_load()})", flush=True)

    head = ("person", "faces", "remove s", "rows", "clusters", "faiss", "milvus", "caches", "files", "done",
            "reopen+search s", "bytes left", "load")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    rng = np.random.default_rng(1)
    for who in rng.choice(args.n // args.per, args.removals, replace=False):
        name = f"person{who:06d}"
        load0 = _load()
        with Gallery(path) as g:
            ids = [f.id for f in g.faces(name)]
            needles = [v for _, _, v in g.face_vectors(ids)]
            t0 = time.perf_counter()
            report = erase_person(g, name)
            took = time.perf_counter() - t0
        t0 = time.perf_counter()
        with Gallery(path) as g:
            assert name not in {p.name for p in g.people()}
            emb = g.embeddings(MODEL)
            with load_or_build_milvus(g, MODEL, kind=None if args.kind == "auto" else args.kind) as m:
                _, i = m.search(q[:4], 1)
                assert len(m) == len(emb.face_ids) and (i >= 0).all()
        reopen = time.perf_counter() - t0
        left = _scan([path.parent, tmp / "home"], needles)
        s = report.seconds
        print(f"| {name} | {len(ids)} | {took:.2f} | " + " | ".join(f"{s.get(k, 0):.2f}" for k in
              ("rows", "clusters", "faiss", "milvus", "caches", "files", "done"))
              + f" | {reopen:.2f} | {left} | {load0} / {_load()} |", flush=True)
        print(f"  milvus: {'; '.join(report.milvus)}", file=sys.stderr)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
