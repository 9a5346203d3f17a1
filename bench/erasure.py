"""Erasure at scale: remove one person from a gallery of N faces with a milvus-lite index, and check what is left.

    python bench/erasure.py [--n 100000] [--per 10] [--removals 3] [--kind auto] [--cache-rows 20000]
    python bench/erasure.py --postgres [--n 100000]   # the gallery on PostgreSQL 15, no Milvus index

``--postgres``: the gallery lives in a PostgreSQL 15 started in a temporary folder with the settings
docs/privacy.md asks for (tests/pg_server.py), and no Milvus index is built; the ``done`` column is then the
purge (VACUUM FULL of the gallery's tables, WAL switch, checkpoint), and the scan reads every file under the
server's data directory.

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


def _copy_into_postgres(url: str, x: np.ndarray, per: int) -> None:
    """The same rows as `add_face` writes, loaded with COPY (add_face one by one in one PostgreSQL transaction slows
    down with the transaction's length: each statement's trigger updates the one row of ``changes`` again)."""
    import psycopg

    from faceprint.gallery.store import Gallery

    Gallery(url).close()  # the schema
    n = len(x)
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        with cur.copy("COPY people (id, name, created) FROM STDIN") as cp:
            for p in range((n + per - 1) // per):
                cp.write_row((p + 1, f"person{p:06d}", 0.0))
        with cur.copy("COPY faces (id, person_id, source, sha256, created) FROM STDIN") as cp:
            for i in range(n):
                cp.write_row((i + 1, i // per + 1, f"/photos/{i}.jpg", f"{i:064x}", 0.0))
        with cur.copy("COPY embeddings (face_id, sha256, model, dim, vector) FROM STDIN") as cp:
            for i in range(n):
                cp.write_row((i + 1, f"{i:064x}", MODEL, x.shape[1], np.ascontiguousarray(x[i], "<f4").tobytes()))
        for table in ("people", "faces"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {n + 1})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--per", type=int, default=10)
    ap.add_argument("--removals", type=int, default=3)
    ap.add_argument("--kind", default="auto")
    ap.add_argument("--cache-rows", type=int, default=20_000)
    ap.add_argument("--postgres", action="store_true", help="the gallery on PostgreSQL (no Milvus index)")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="faceprint-erasure-bench-"))
    os.environ["FACEPRINT_HOME"] = str(tmp / "home")
    from faceprint.cache import EmbeddingCache
    from faceprint.gallery.erasure import erase_person
    from faceprint.gallery.milvus_index import load_or_build_milvus
    from faceprint.gallery.store import Gallery

    x, q = make_data("clustered", args.n, 16, 128, 0)
    server = None
    path: Path | str = tmp / "gallery" / "g.sqlite"
    scanned = [tmp / "gallery", tmp / "home"]
    if args.postgres:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from pg_server import start_server

        server = start_server()
        path = server.new_database()
        scanned = [server.folder / "data", tmp / "home"]
    t0 = time.perf_counter()
    if args.postgres:
        _copy_into_postgres(str(path), x, args.per)
    else:
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
    kind = "none"
    if not args.postgres:
        with Gallery(path) as g:
            with load_or_build_milvus(g, MODEL, kind=None if args.kind == "auto" else args.kind) as m:
                kind = m.kind
    t_index = time.perf_counter() - t0
    print(f"gallery ({'PostgreSQL' if args.postgres else 'SQLite'}): {args.n:,} faces of {args.n // args.per:,} people "
          f"written in {t_gallery:.1f} s; embedding cache {args.cache_rows:,} rows; Milvus-lite {kind} built in "
          f"{t_index:.1f} s (load {_load()})", flush=True)

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
            if not args.postgres:
                with load_or_build_milvus(g, MODEL, kind=None if args.kind == "auto" else args.kind) as m:
                    _, i = m.search(q[:4], 1)
                    assert len(m) == len(emb.face_ids) and (i >= 0).all()
        reopen = time.perf_counter() - t0
        left = _scan(scanned, needles)
        s = report.seconds
        print(f"| {name} | {len(ids)} | {took:.2f} | " + " | ".join(f"{s.get(k, 0):.2f}" for k in
              ("rows", "clusters", "faiss", "milvus", "caches", "files", "done"))
              + f" | {reopen:.2f} | {left} | {load0} / {_load()} |", flush=True)
        print(f"  milvus: {'; '.join(report.milvus) or '-'}; not purged: {'; '.join(report.unpurged) or '-'}", file=sys.stderr)
    if server is not None:
        server.close()
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
