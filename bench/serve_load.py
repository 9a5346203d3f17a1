"""Load on `faceprint serve`, on loopback only: concurrent clients identifying against galleries of 1k, 10k and
100k enrolled faces, then concurrent clients enrolling at once.

    python bench/serve_load.py                        # 16 clients, galleries of 1k/10k/100k faces
    python bench/serve_load.py --sizes 1000 --requests 64
    python bench/serve_load.py --replicas 1,2,4       # replicas on one PostgreSQL against one server on SQLite

Each gallery holds one real person (Tony Blair, 3 photos of lfw-subset, enrolled through the service) and
synthetic faces (random unit vectors, 10 per synthetic person) up to its size; the probes are other photos of
lfw-subset, so a request detects, embeds and searches the whole gallery. Each phase starts its own server
(127.0.0.1, port chosen by the system, --rate-limit 0) and stops after --requests requests or --seconds seconds,
whichever comes first. Prints, per phase: requests/s, p50 / p99 latency, failures (any non-2xx answer or
connection error), the server's peak resident memory (VmHWM), and the share of probes named correctly.

``--replicas N,M,...``: identify throughput of N `faceprint serve` replicas sharing one PostgreSQL gallery (a
PostgreSQL 15 started in a temporary folder, as the tests start it: tests/pg_server.py), against one server on a
SQLite copy of the same gallery. Replica i is pinned with `taskset` to CPU i mod the CPU count, with one
inference thread; the clients spread their requests over the replicas in turn (what a load balancer does) and
run, with PostgreSQL, unpinned. The load average is printed with the figures: the machine may be shared.
"""

from __future__ import annotations

import argparse
import os
import re
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

import faceprint
from faceprint.client import ApiError, Client
from faceprint.detect import DEFAULT_DETECTOR
from faceprint.models import DEFAULT_MODEL
from faceprint.models.identity import model_identity

SHARED = Path(os.environ.get("FACEPRINT_SHARED", Path(__file__).resolve().parents[2] / "shared"))
MODEL = DEFAULT_MODEL  # the server's own default: the synthetic faces must be of the model it identifies with


def start_server(*args: str, cpu: int | None = None) -> tuple[subprocess.Popen[bytes], str]:
    pin = ["taskset", "-c", str(cpu)] if cpu is not None else []
    proc = subprocess.Popen([*pin, sys.executable, "-m", "faceprint.cli", "serve", "--host", "127.0.0.1", "--port", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ, "OMP_NUM_THREADS": "1"})
    end = time.monotonic() + 120
    while time.monotonic() < end:
        r, _, _ = select.select([proc.stdout], [], [], 0.5)
        if r:
            line = proc.stdout.readline().decode()  # type: ignore[union-attr]
            m = re.search(r"serving on (http://127\.0\.0\.1:\d+)", line)
            if m:
                url = m.group(1)
                while time.monotonic() < end:
                    try:
                        Client(url).ready()
                        return proc, url
                    except ApiError:
                        time.sleep(0.2)
        if proc.poll() is not None:
            break
    proc.kill()
    raise SystemExit("the server did not start")


def stop_server(proc: subprocess.Popen[bytes]) -> int:
    """Stop the server; returns its peak resident memory in bytes."""
    with open(f"/proc/{proc.pid}/status") as fp:
        hwm = next(int(line.split()[1]) * 1024 for line in fp if line.startswith("VmHWM:"))
    proc.terminate()
    proc.wait(30)
    return hwm


def synthetic_gallery(path: Path, size: int, seed: int = 0) -> None:
    """`size` random unit vectors of the model's dimension, 10 faces per synthetic person, through the store's API."""
    dim = faceprint.analyzers.get(MODEL).embedder.spec.embedding_dim
    rng = np.random.default_rng(seed)
    with faceprint.Gallery(path) as g:
        for start in range(0, size, 5000):
            n = min(5000, size - start)
            v = rng.standard_normal((n, dim)).astype(np.float32)
            v /= np.linalg.norm(v, axis=1, keepdims=True)
            identity = model_identity(MODEL)  # identify refuses vectors without the pipeline's identity
            with g.store.transaction():
                for i in range(n):
                    k = start + i
                    g.store.add_face(f"synthetic-{k // 10:06d}", f"synthetic:{k}", f"{k:064x}", None, v[i], MODEL, identity)


def run_clients(clients: int, requests: int, seconds: float, work) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """`clients` threads calling work(i) until `requests` calls were made or `seconds` passed."""
    lat: list[float] = []
    fails: list[str] = []
    ok: list[bool] = []
    counter = iter(range(requests))
    lock = threading.Lock()
    end = time.monotonic() + seconds

    def loop() -> None:
        while time.monotonic() < end:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            t = time.perf_counter()
            try:
                good = work(i)
            except (ApiError, OSError) as exc:
                with lock:
                    fails.append(str(exc)[:120])
                continue
            with lock:
                lat.append(time.perf_counter() - t)
                ok.append(bool(good))

    t0 = time.perf_counter()
    threads = [threading.Thread(target=loop) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    q = np.percentile(lat, [50, 99]) if lat else [float("nan")] * 2
    if fails:
        print(f"  failures, first: {fails[0]}", file=sys.stderr)
    return {"n": len(lat) + len(fails), "rps": len(lat) / wall, "p50": q[0] * 1000, "p99": q[1] * 1000,
            "fail": len(fails), "correct": statistics.mean(ok) if ok else float("nan")}


def replica_phases(args: argparse.Namespace, tmp: Path, enrolled: list[Path], probe_bytes: list[tuple[str, bytes]]) -> list:
    """Identify on 1 SQLite server, then on N replicas of one PostgreSQL gallery for each N of --replicas."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from pg_server import start_server as start_postgres

    from faceprint.gallery.store import open_store
    from faceprint.gallery.store.copy import copy_gallery

    size = int(args.sizes.split(",")[0])
    cpus = os.cpu_count() or 1
    pg = start_postgres()
    rows = []
    try:
        url = pg.new_database()
        synthetic_gallery(tmp / "g.sqlite", size - len(enrolled))
        with open_store(tmp / "g.sqlite") as a, open_store(url) as b:
            copy_gallery(a, b)
        server_args = ["--workers", "1", "--queue", str(4 * args.clients), "--rate-limit", "0", "--timeout", "120"]
        for backend, n in [("sqlite", 1)] + [("postgres", int(k)) for k in args.replicas.split(",")]:
            target = str(tmp / "g.sqlite") if backend == "sqlite" else url
            servers = [start_server("--gallery", target, *server_args, cpu=i % cpus) for i in range(n)]
            urls = [u for _, u in servers]
            people = {p["name"] for p in Client(urls[0]).people()}
            if "Tony_Blair" not in people:
                assert len(Client(urls[0]).enroll("Tony_Blair", enrolled)["enrolled"]) == len(enrolled)
            for u in urls:  # warm up each replica
                run_clients(2, 2, args.seconds, lambda i, u=u: Client(u).identify(probe_bytes[i][1]))

            def work(i: int) -> bool:
                who, data = probe_bytes[i % len(probe_bytes)]
                faces = Client(urls[i % len(urls)], timeout=180).identify(data, top_k=1)["faces"]  # noqa: B023 (used within this iteration)
                name = faces[0]["person"] if faces else None
                return (name == "Tony_Blair") == (who == "Tony_Blair")

            load = os.getloadavg()[0]
            r = run_clients(args.clients, args.requests, args.seconds, work)
            r["mem"] = max(stop_server(p) for p, _ in servers) / 2**20
            r["load"] = load
            pins = ",".join(str(i % cpus) for i in range(n))
            rows.append((f"{n} x {backend} (CPU {pins})", r))
    finally:
        pg.close()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,10000,100000", help="gallery sizes (enrolled faces), comma-separated")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--requests", type=int, default=160, help="requests per phase (at most)")
    ap.add_argument("--seconds", type=float, default=120.0, help="time per phase (at most)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="the server's inference threads")
    ap.add_argument("--replicas", default=None, help="replica counts on PostgreSQL (e.g. 1,2,4), against one SQLite "
                    "server; uses the first of --sizes")
    args = ap.parse_args()
    if not 1 <= args.clients <= 64 or not 1 <= args.requests <= 10_000 or not 0 < args.seconds <= 900:
        raise SystemExit("bounded runs only: 1-64 clients, 1-10000 requests, up to 900 s per phase")
    lfw = SHARED / "data" / "lfw-subset"
    people = {d.name: sorted(d.glob("*.jpg")) for d in sorted(lfw.iterdir()) if d.is_dir()}
    # Tony_Blair_0001 shows a second, cut-off face that YuNet (the default detector) finds: enrol photos 2-4
    blair = people["Tony_Blair"]
    enrolled = blair[1:4]
    probes = [p for n, ps in people.items() for p in (blair[4:] if n == "Tony_Blair" else ps[:4])]
    probe_bytes = [(p.parent.name, p.read_bytes()) for p in probes]
    server_args = ["--workers", str(args.workers), "--queue", str(4 * args.clients), "--rate-limit", "0", "--timeout", "120"]
    tmp = Path(tempfile.mkdtemp(prefix="faceprint-serve-load-"))
    rows = []
    if args.replicas:
        try:
            rows = replica_phases(args, tmp, enrolled, probe_bytes)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        print(f"\n{args.clients} clients, {args.sizes.split(',')[0]} faces, each replica --workers 1 pinned to one CPU "
              f"(taskset), {os.cpu_count()} CPUs, model {MODEL} + {DEFAULT_DETECTOR}; load average before each phase in the table\n")
        print("| replicas | requests | req/s | x one SQLite server | p50 ms | p99 ms | failures | peak RSS MB per replica | probes right | load avg |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        base = rows[0][1]["rps"]
        for name, r in rows:
            print(f"| {name} | {r['n']} | {r['rps']:.2f} | {r['rps'] / base:.2f} | {r['p50']:.0f} | {r['p99']:.0f} | {r['fail']} | "
                  f"{r['mem']:.0f} | {100 * r['correct']:.0f}% | {r['load']:.2f} |")
        return
    try:
        for size in [int(s) for s in args.sizes.split(",")]:
            gallery = tmp / f"g{size}.sqlite"
            t = time.perf_counter()
            synthetic_gallery(gallery, size - len(enrolled))
            build = time.perf_counter() - t
            proc, url = start_server("--gallery", str(gallery), *server_args)
            c = Client(url)
            assert len(c.enroll("Tony_Blair", enrolled)["enrolled"]) == len(enrolled)
            # warm up: each inference thread loads the gallery's vectors on its first request
            run_clients(2 * args.workers, 2 * args.workers, args.seconds, lambda i: c.identify(probe_bytes[i][1]))  # noqa: B023

            def work(i: int) -> bool:
                who, data = probe_bytes[i % len(probe_bytes)]
                faces = Client(url, timeout=180).identify(data, top_k=1)["faces"]  # noqa: B023 (used within this iteration)
                name = faces[0]["person"] if faces else None
                return (name == "Tony_Blair") == (who == "Tony_Blair")

            r = run_clients(args.clients, args.requests, args.seconds, work)
            r["mem"] = stop_server(proc) / 2**20
            rows.append((f"identify, {size:,} faces", r))
            print(f"built {size:,} faces in {build:.1f} s", file=sys.stderr)
        # enrolment: every client enrols its own photos (of lfw-view1) into one gallery at once
        view1 = sorted((SHARED / "data" / "lfw-view1" / "images").glob("*/*.jpg"))[: args.requests]
        gallery = tmp / "enrol.sqlite"
        proc, url = start_server("--gallery", str(gallery), *server_args)

        def enrol(i: int) -> bool:
            p = view1[i]
            rep = Client(url, timeout=180).enroll(p.parent.name, p)
            return bool(rep["enrolled"]) or bool(rep["skipped"])

        r = run_clients(args.clients, len(view1), args.seconds, enrol)
        n = sum(p["faces"] for p in Client(url).people())
        r["mem"] = stop_server(proc) / 2**20
        r["correct"] = float("nan")
        rows.append((f"enrol ({n} faces stored)", r))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\n{args.clients} clients, server --workers {args.workers}, {os.cpu_count()} CPUs, model {MODEL} + {DEFAULT_DETECTOR}\n")
    print("| phase | requests | req/s | p50 ms | p99 ms | failures | peak RSS MB | probes right |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r in rows:
        right = "" if r["correct"] != r["correct"] else f"{100 * r['correct']:.0f}%"
        print(f"| {name} | {r['n']} | {r['rps']:.1f} | {r['p50']:.0f} | {r['p99']:.0f} | {r['fail']} | {r['mem']:.0f} | {right} |")


if __name__ == "__main__":
    main()
