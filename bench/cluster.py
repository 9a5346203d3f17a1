"""Clustering benchmark: BCubed / pairwise F, NMI and time of each method on labelled face collections, and time and
memory on 100k synthetic face-like vectors.

    python bench/cluster.py                       # the quality table (embeddings from the cache, dlib-resnet-v1)
    python bench/cluster.py --sweep               # thresholds per method on the dev collection (how defaults were chosen)
    python bench/cluster.py --synthetic 100000    # time and peak memory per method, each in its own process
    python bench/cluster.py --synthetic 100000 --knn-recall   # the kNN graph against brute force

Collections, built from ../shared (one face per photo, the one nearest the centre, as `eval` embeds them):
* dev: LFW View 1 people of pairsDevTrain.txt with at least 3 photos (up to 6 each) plus 400 of its people seen
  once, and the Avengers; the defaults are chosen here (`--sweep`).
* test: the same from the people of pairsDevTest.txt (disjoint from DevTrain's), never used to choose anything.
* lfw-view1+avengers: every LFW View 1 image (3,095 people, most seen once or twice) and the Avengers.
* avengers: 5 people, about 50 photos each.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from faceprint.cluster.methods import METHODS, cluster_vectors  # noqa: E402
from faceprint.cluster.metrics import score_clustering  # noqa: E402
from faceprint.cluster.run import THRESHOLD_SCALE, default_threshold  # noqa: E402

SHARED = Path(os.environ.get("FACEPRINT_SHARED", ROOT.parent / "shared"))
MODEL = "dlib-resnet-v1"


def labelled(folder: Path, model: str):  # type: ignore[no-untyped-def]
    from faceprint.analyzer import FaceAnalyzer
    from faceprint.evaluate.labelled import load_labelled

    return load_labelled(folder, None, lambda: FaceAnalyzer(model=model), model, True)


def pairs_people(pairs_file: Path) -> set[str]:
    from faceprint.evaluate.lfw import read_pairs

    out: set[str] = set()
    for p in read_pairs(pairs_file).pairs:
        out.add(p.left.split("/")[0])
        out.add(p.right.split("/")[0])
    return out


def realistic(labels: list[str], people: set[str], rng: np.random.Generator, per_person: int = 6, once: int = 400) -> np.ndarray:
    """Indices: people with >= 3 photos (up to `per_person` each) plus `once` people seen once, shuffled."""
    by: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(labels):
        if p in people:
            by[p].append(i)
    multi = sorted(p for p, v in by.items() if len(v) >= 3)
    single = sorted(p for p, v in by.items() if len(v) == 1)
    chosen = rng.choice(single, size=min(once, len(single)), replace=False)
    idx = np.array([i for p in multi for i in by[p][:per_person]] + [by[p][0] for p in chosen])
    rng.shuffle(idx)
    return idx


def collections(model: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    lfw = labelled(SHARED / "data/lfw-view1/images", model)
    av = labelled(SHARED / "data/avengers", model)
    rng = np.random.default_rng(0)
    lx, ly = lfw.vectors, np.array(lfw.labels)
    dev = realistic(lfw.labels, pairs_people(SHARED / "data/lfw-view1/pairsDevTrain.txt"), rng)
    test = realistic(lfw.labels, pairs_people(SHARED / "data/lfw-view1/pairsDevTest.txt"), rng)
    avx, avy = av.vectors, np.array(av.labels)
    return {
        "dev (DevTrain people + Avengers)": (np.concatenate([lx[dev], avx]), np.concatenate([ly[dev], avy])),
        "test (DevTest people)": (lx[test], ly[test]),
        "lfw-view1+avengers (all)": (np.concatenate([lx, avx]), np.concatenate([ly, avy])),
        "avengers": (avx, avy),
    }


def quality_table(model: str) -> None:
    cols = collections(model)
    print(f"model {model}; thresholds: " + ", ".join(f"{m} {default_threshold(m, model)}" for m in METHODS if m != "hdbscan"))
    print()
    print("| collection | faces | people | method | BCubed P | BCubed R | BCubed F | pairwise F | NMI | clusters | time s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, (x, y) in cols.items():
        for m in METHODS:
            t0 = time.perf_counter()
            labels = cluster_vectors(x, method=m, threshold=default_threshold(m, model), min_size=2)
            dt = time.perf_counter() - t0
            s = score_clustering(y, labels)
            print(f"| {name} | {len(y)} | {s.people} | {m} | {s.bcubed_precision:.4f} | {s.bcubed_recall:.4f} | "
                  f"**{s.bcubed_f:.4f}** | {s.pairwise_f:.4f} | {s.nmi:.4f} | {s.clusters} | {dt:.1f} |", flush=True)


def sweep(model: str) -> None:
    x, y = collections(model)["dev (DevTrain people + Avengers)"]
    base = default_threshold("agglomerative", model) / THRESHOLD_SCALE["agglomerative"]
    print(f"dev collection: {len(y)} faces, {len(set(y))} people; verification threshold {base}")
    print("| method | threshold | x verification thr. | BCubed F | pairwise F |")
    print("| --- | --- | --- | --- | --- |")
    for m in ("agglomerative", "chinese-whispers"):
        for scale in np.arange(0.70, 0.96, 0.02):
            t = round(float(scale * base), 4)
            s = score_clustering(y, cluster_vectors(x, method=m, threshold=t))
            print(f"| {m} | {t} | {scale:.2f} | {s.bcubed_f:.4f} | {s.pairwise_f:.4f} |", flush=True)
    for k in (2, 3, 4):
        s = score_clustering(y, cluster_vectors(x, method="hdbscan", threshold=1.0, min_size=k))
        print(f"| hdbscan (min size {k}) | - | - | {s.bcubed_f:.4f} | {s.pairwise_f:.4f} |", flush=True)


def synthetic(n: int, dim: int = 128, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Face-like vectors: identities with Zipf-distributed photo counts (1..200), each face its identity's centre
    plus noise, scaled so same-person distances are about 0.4 and different-person ones about 0.95 (as dlib's)."""
    rng = np.random.default_rng(seed)
    sizes: list[int] = []
    while sum(sizes) < n:
        sizes.append(int(min(200, rng.zipf(1.8))))
    sizes[-1] -= sum(sizes) - n
    y = np.repeat(np.arange(len(sizes)), sizes)
    s_face = 0.4 / np.sqrt(2 * dim)
    s_id = np.sqrt((0.95 / np.sqrt(2 * dim)) ** 2 - s_face**2)
    centres = rng.normal(scale=s_id, size=(len(sizes), dim)).astype(np.float32)
    x = centres[y] + rng.normal(scale=s_face, size=(n, dim)).astype(np.float32)
    return x, y


def one_synthetic(method: str, n: int) -> None:
    x, y = synthetic(n)
    t0 = time.perf_counter()
    labels = cluster_vectors(x, method=method, threshold=default_threshold(method, MODEL), min_size=2)
    dt = time.perf_counter() - t0
    s = score_clustering(y, labels)
    use = resource.getrusage(resource.RUSAGE_SELF)
    peak_mb = use.ru_maxrss / 1024
    print(json.dumps({"method": method, "seconds": dt, "cpu_seconds": use.ru_utime + use.ru_stime, "peak_mb": peak_mb, "bcubed_f": s.bcubed_f, "pairwise_f": s.pairwise_f,
                      "people": s.people, "clusters": s.clusters}))


def synthetic_table(n: int, timeout: float) -> None:
    print(f"{n} synthetic face-like vectors, each method in its own process ({os.cpu_count()} CPUs visible, "
          f"load average {os.getloadavg()[0]:.1f} at the start)")
    print("| method | wall s (clustering) | CPU s (whole process) | peak memory MB | BCubed F | pairwise F | clusters / identities |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for m in METHODS:
        try:
            out = subprocess.run([sys.executable, __file__, "--one", m, "--synthetic", str(n)], capture_output=True, text=True,
                                 timeout=timeout, check=True).stdout.strip().splitlines()[-1]
        except subprocess.TimeoutExpired:
            print(f"| {m} | > {timeout:.0f} (stopped) | | | | | |", flush=True)
            continue
        except subprocess.CalledProcessError as exc:
            print(f"| {m} | failed: {exc.stderr.strip().splitlines()[-1] if exc.stderr else exc} | | | | | |", flush=True)
            continue
        r = json.loads(out)
        print(f"| {m} | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} | {r['peak_mb']:.0f} | {r['bcubed_f']:.4f} | {r['pairwise_f']:.4f} | "
              f"{r['clusters']} / {r['people']} |", flush=True)


def knn_recall(n: int, queries: int = 2000) -> None:
    """How many of the exact neighbours within the default threshold the kNN graph finds (inverted-file index above
    EXACT_KNN faces), on `queries` faces checked against brute force."""
    from faceprint.cluster.methods import EXACT_KNN, knn
    from faceprint.types import pairwise_distances

    x, _ = synthetic(n)
    thr = default_threshold("agglomerative", MODEL)
    t0 = time.perf_counter()
    dist, idx = knn(x, 50)
    dt = time.perf_counter() - t0
    q = np.random.default_rng(1).choice(n, size=queries, replace=False)
    exact = pairwise_distances(x[q], x)
    exact[np.arange(queries), q] = np.inf
    want = found = 0
    for row, i in enumerate(q):
        near = np.argsort(exact[row])[:50]
        truth = set(near[exact[row, near] <= thr].tolist())
        want += len(truth)
        found += len(truth & set(idx[i][dist[i] <= thr].tolist()))
    kind = "exact" if n <= EXACT_KNN else "inverted-file"
    print(f"kNN graph ({kind}) of {n} vectors: {dt:.1f} s; {100 * found / want:.2f}% of {want} exact neighbours within "
          f"{thr} found ({queries} queries)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=MODEL)
    ap.add_argument("--sweep", action="store_true", help="thresholds per method on the dev collection")
    ap.add_argument("--synthetic", type=int, default=0, help="time and memory on this many synthetic vectors")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per method on synthetic vectors")
    ap.add_argument("--knn-recall", action="store_true", help="with --synthetic: check the kNN graph against brute force")
    ap.add_argument("--one", choices=METHODS, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        one_synthetic(a.one, a.synthetic)
    elif a.synthetic and a.knn_recall:
        knn_recall(a.synthetic)
    elif a.synthetic:
        synthetic_table(a.synthetic, a.timeout)
    elif a.sweep:
        sweep(a.model)
    else:
        quality_table(a.model)


if __name__ == "__main__":
    main()
