"""Enrolment throughput: the local engine against `--engine ray` on the same folder, each into a fresh gallery.

    python bench/enroll_engines.py [DIR] [--engines local ray] [--model dlib-resnet-v1]

DIR defaults to ../shared/data/lfw-subset (100 photos of 10 people). Wall seconds include everything the command
does: loading the models (once in the local engine, once per actor with Ray) and, for Ray, starting and stopping a
local Ray. Prints images/s and checks that both galleries hold the same faces.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import time
from pathlib import Path

from faceprint.analyzer import FaceAnalyzer
from faceprint.gallery import Gallery, enroll, identity_folders
from faceprint.gallery.ray_enroll import enroll_ray

SHARED = Path(os.environ.get("FACEPRINT_SHARED", Path(__file__).resolve().parents[2] / "shared"))


def _faces(path: Path) -> list[tuple]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT f.id, p.name, f.sha256, f.box FROM faces f JOIN people p ON p.id = f.person_id ORDER BY f.id").fetchall()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", nargs="?", type=Path, default=SHARED / "data" / "lfw-subset")
    ap.add_argument("--engines", nargs="+", default=["local", "ray"], choices=["local", "ray"])
    ap.add_argument("--model", default="dlib-resnet-v1")
    args = ap.parse_args()

    items = identity_folders(args.folder)
    tmp = Path(tempfile.mkdtemp(prefix="faceprint-enroll-bench-"))
    print(f"{len(items)} images in {args.folder}; model {args.model}; {os.cpu_count()} CPUs; "
          f"load average {os.getloadavg()[0]:.1f} at start")
    print("| engine | wall s | images/s | faces enrolled |")
    print("|---|---|---|---|")
    galleries = {}
    for engine in args.engines:
        path = tmp / f"{engine}.sqlite"
        t0 = time.perf_counter()
        with Gallery(path) as g:
            if engine == "local":
                report = enroll(g, FaceAnalyzer(model=args.model), items)
            else:
                report = enroll_ray(g, items, args.model)
        wall = time.perf_counter() - t0
        galleries[engine] = path
        print(f"| {engine} | {wall:.1f} | {len(items) / wall:.2f} | {report.faces_enrolled} |", flush=True)
    if len(galleries) == 2:
        same = _faces(galleries["local"]) == _faces(galleries["ray"])
        print(f"same faces in both galleries: {same}")


if __name__ == "__main__":
    main()
