"""What one transaction of many faces costs on each gallery backend, as it grows.

    python bench/pg_bulk.py --sizes 1000 2000 4000

For each size N: a new gallery gets N faces (random 128-d vectors, 500 people) through `GalleryStore.add_face`,
all inside one `transaction()`, as `gallery copy`, a Ray batch or a script that enrols a folder at once does; once
on PostgreSQL 15 (started in a temporary folder with the settings tests/pg_server.py gives it) and once on a SQLite
file, the reference, in the same run. Printed: seconds per backend, microseconds per face, and the ratio. A cost
per face that grows with N is the quadratic trap of schema step 5 (gallery/store/postgres.py): a row updated by
every statement of one transaction.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _fill(target: str | Path, n: int) -> float:
    """Seconds to add n faces to a new gallery at `target` in one transaction."""
    from faceprint.gallery.store import open_store

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((n, 128)).astype(np.float32)
    with open_store(target) as store:
        t0 = time.perf_counter()
        with store.transaction():
            for i in range(n):
                store.add_face(f"p{i % 500}", f"/photos/{i}.jpg", hashlib.sha256(str(i).encode()).hexdigest(), None,
                               vectors[i], "dlib-resnet-v1")
        return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 4000], help="faces per transaction")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from pg_server import start_server

    server = start_server()
    try:
        print(f"load average {os.getloadavg()[0]:.1f} (cores: {len(os.sched_getaffinity(0))})")
        print(f"{'faces':>7}  {'PostgreSQL s':>12}  {'us/face':>8}  {'SQLite s':>9}  {'us/face':>8}  {'PG/SQLite':>9}")
        with tempfile.TemporaryDirectory() as tmp:
            for n in args.sizes:
                pg = _fill(server.new_database(), n)
                lite = _fill(Path(tmp) / f"g{n}.sqlite", n)
                print(f"{n:>7}  {pg:>12.2f}  {1e6 * pg / n:>8.0f}  {lite:>9.2f}  {1e6 * lite / n:>8.0f}  {pg / lite:>9.1f}")
        print(f"load average {os.getloadavg()[0]:.1f}")
    finally:
        server.close()


if __name__ == "__main__":
    main()
