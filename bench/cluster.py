"""Clustering benchmark: BCubed / pairwise F, NMI and time of each method, and of the methods photo libraries use,
on labelled face collections; time and memory on 100k synthetic face-like vectors.

    python bench/cluster.py                       # the comparison table (embeddings from the cache, the default model)
    python bench/cluster.py --model facenet-inception-resnet-v1     # the same with another model or an ensemble
    python bench/cluster.py --sweep               # how the thresholds were chosen: DevTrain collections only
    python bench/cluster.py --synthetic 100000    # time and peak memory per method, each in its own process
    python bench/cluster.py --synthetic 100000 --knn-recall   # the kNN graph against brute force

Collections, built from ../shared (one face per photo, the one nearest the centre, as `eval` embeds them):
* dev: LFW View 1 people of pairsDevTrain.txt with at least 3 photos (all of them) plus 400 of its people seen
  once; the settings are chosen on it and on its variants (`--sweep`: 30/60/100% of those people, 0-1,000 seen once).
* test: the same from the people of pairsDevTest.txt (disjoint from DevTrain's), never used to choose anything.
* lfw-view1+avengers: every LFW View 1 image (3,095 people, most seen once or twice) and the Avengers.
* avengers: 5 people, about 50 photos each.

The photo libraries' methods (`bench/cluster_others.py`) run on the same vectors, with their own numbers ("literal")
and with the distance that scores best on the dev collection ("chosen on DevTrain").
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

import cluster_others as others  # noqa: E402

from faceprint.cluster.methods import METHODS, cluster_vectors  # noqa: E402
from faceprint.cluster.metrics import ClusterScores, score_clustering  # noqa: E402
from faceprint.cluster.threshold import (  # noqa: E402
    FAR_NEIGHBOUR,
    RULES,
    AdaptiveRule,
    collection_threshold,
    default_threshold,
    far_share,
    rule_for,
)

SHARED = Path(os.environ.get("FACEPRINT_SHARED", ROOT.parent / "shared"))
from faceprint.models import DEFAULT_MODEL  # noqa: E402

MODEL = DEFAULT_MODEL
"""The model of the comparison table by default, and whose verification threshold the synthetic vectors are scaled to."""


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


def realistic(labels: list[str], people: set[str], rng: np.random.Generator, once: int = 400, share: float = 1.0) -> np.ndarray:
    """Indices: the people with >= 3 photos (all their photos; a random `share` of those people) plus `once` people
    seen once, shuffled."""
    by: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(labels):
        if p in people:
            by[p].append(i)
    multi = sorted(p for p, v in by.items() if len(v) >= 3)
    if share < 1.0:
        multi = sorted(rng.choice(multi, size=int(len(multi) * share), replace=False).tolist())
    single = sorted(p for p, v in by.items() if len(v) == 1)
    chosen = rng.choice(single, size=min(once, len(single)), replace=False) if once else []
    idx = np.array([i for p in multi for i in by[p]] + [by[p][0] for p in chosen])
    rng.shuffle(idx)
    return idx


DEV = "dev (DevTrain people)"
TEST = "test (DevTest people)"


def lfw_people(model: str) -> tuple[np.ndarray, np.ndarray]:
    lfw = labelled(SHARED / "data/lfw-view1/images", model)
    return lfw.vectors, np.array(lfw.labels)


def dev_variants(model: str, pairs: str = "pairsDevTrain.txt") -> list[tuple[str, np.ndarray, np.ndarray]]:
    """The DevTrain collections the thresholds are chosen on: 30/60/100% of the DevTrain people with >= 3 photos,
    plus 0/100/400/1,000 DevTrain people seen once (or the same from another pairs file's people)."""
    lx, ly = lfw_people(model)
    people = pairs_people(SHARED / "data/lfw-view1" / pairs)
    out = []
    for share in (0.3, 0.6, 1.0):
        for once in (0, 100, 400, 1000):
            idx = realistic(list(ly), people, np.random.default_rng(0), once=once, share=share)
            seen_once = sum(1 for c in Counter(ly[idx].tolist()).values() if c == 1)
            out.append((f"{share:.0%} of people, {seen_once} seen once", lx[idx], ly[idx]))
    return out


def collections(model: str, extra: bool = True) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    lx, ly = lfw_people(model)
    dev = realistic(list(ly), pairs_people(SHARED / "data/lfw-view1/pairsDevTrain.txt"), np.random.default_rng(0))
    test = realistic(list(ly), pairs_people(SHARED / "data/lfw-view1/pairsDevTest.txt"), np.random.default_rng(0))
    cols = {DEV: (lx[dev], ly[dev]), TEST: (lx[test], ly[test])}
    if extra:
        av = labelled(SHARED / "data/avengers", model)
        avx, avy = av.vectors, np.array(av.labels)
        cols["lfw-view1+avengers (all)"] = (np.concatenate([lx, avx]), np.concatenate([ly, avy]))
        cols["avengers"] = (avx, avy)
    return cols


IMMICH_GRID = np.round(np.geomspace(0.01, 0.6, 30), 4)
"""Immich's maxDistance (cosine) tried on the dev collection, in ascending order."""
DBSCAN_GRID = np.round(np.geomspace(0.1, 1.2, 30), 4)
"""PhotoPrism's eps (Euclidean between unit vectors) tried on the dev collection."""


def _choose(fn, grid: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """The grid value with the best BCubed F on (x, y), ascending; stops once F has fallen under half its best
    (larger distances only merge more, and Immich's search slows down as they do)."""
    best = (-1.0, float(grid[0]))
    for v in grid:
        f = score_clustering(y, fn(x, float(v))).bcubed_f
        best = max(best, (f, float(v)))
        if f < 0.5 * best[0]:
            break
    return best[1], best[0]


def _row(name: str, method: str, s: ClusterScores, dt: float, n: int) -> str:
    return (f"| {name} | {n} | {method} | {s.bcubed_precision:.4f} | {s.bcubed_recall:.4f} | **{s.bcubed_f:.4f}** | "
            f"{s.pairwise_f:.4f} | {s.nmi:.4f} | {s.clusters} + {s.alone} alone / {s.people} | {dt:.2f} |")


def quality_table(model: str, extra: bool = True) -> None:
    cols = collections(model, extra)
    dx, dy = cols[DEV]
    d_immich, f_immich = _choose(lambda x, v: others.immich(x, v), IMMICH_GRID, dx, dy)
    d_pp, f_pp = _choose(lambda x, v: others.photoprism_dbscan(x, v), DBSCAN_GRID, dx, dy)
    print(f"model {model}; load average {os.getloadavg()[0]:.1f}; fixed thresholds: "
          + ", ".join(f"{m} {default_threshold(m, model)}" for m in METHODS if m != "hdbscan"))
    print(f"chosen on the dev collection: Immich maxDistance {d_immich} (BCubed F {f_immich:.4f}), "
          f"PhotoPrism eps {d_pp} (BCubed F {f_pp:.4f})")
    print()
    print("| collection | faces | method | BCubed P | BCubed R | BCubed F | pairwise F | NMI | clusters + alone / people | time s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, (x, y) in cols.items():
        runs = []
        t0 = time.perf_counter()
        thr = collection_threshold(x, "agglomerative", model)
        runs.append((f"faceprint agglomerative, adaptive threshold {thr}",
                     lambda x, thr=thr: cluster_vectors(x, method="agglomerative", threshold=thr), t0))
        for m in METHODS:
            t = default_threshold(m, model)
            label = f"faceprint {m}" + (f", fixed threshold {t}" if m != "hdbscan" else "")
            runs.append((label, lambda x, m=m, t=t: cluster_vectors(x, method=m, threshold=t), None))
        runs += [
            ("Immich incremental (literal: minFaces 3, maxDistance 0.5)", lambda x: others.immich(x, 0.5, 3), None),
            (f"Immich incremental (maxDistance {d_immich}, chosen on DevTrain)", lambda x: others.immich(x, d_immich, 3), None),
            ("PhotoPrism DBSCAN (literal: eps 0.64, core 4)", lambda x: others.photoprism_dbscan(x, 0.64, 4), None),
            (f"PhotoPrism DBSCAN (eps {d_pp}, chosen on DevTrain)", lambda x: others.photoprism_dbscan(x, d_pp, 4), None),
            ("Nextcloud Recognize HDBSCAN", lambda x: others.nextcloud_hdbscan(x), None),
        ]
        for label, fn, started in runs:
            start = time.perf_counter() if started is None else started
            labels = fn(x)
            dt = time.perf_counter() - start
            if isinstance(labels, tuple):  # Nextcloud's: (labels, whether the separation could be applied)
                labels, applied = labels
                label += "" if applied else " (separation 0.35: scikit-learn's epsilon fails, run without)"
            print(_row(name, label, score_clustering(y, labels), dt, len(y)), flush=True)


def sweep(model: str, test: bool = False) -> None:
    """Agglomerative thresholds on the DevTrain collections: the fixed scale, the adaptive rule (its constants
    searched here) and the best threshold of each collection; Chinese Whispers and HDBSCAN on the dev collection.
    With `test`: the same collections built from the DevTest people, to read how the choices carry over (nothing
    is searched)."""
    from faceprint.models import get_model_spec

    base = get_model_spec(model).threshold
    scales = np.round(np.arange(0.66, 1.06, 0.01), 2)
    rows = []
    print(f"model {model}, verification threshold {base}; load average {os.getloadavg()[0]:.1f}")
    kind = "DevTest" if test else "DevTrain"
    print(f"| {kind} collection | faces | p (share without a neighbour within {FAR_NEIGHBOUR:.2f} x) | best scale | F at best | F at 0.84 | F adaptive (scale) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    rule = rule_for("agglomerative", model) or RULES["agglomerative"]
    for name, x, y in dev_variants(model, "pairsDevTest.txt" if test else "pairsDevTrain.txt"):
        fs = np.array([score_clustering(y, cluster_vectors(x, method="agglomerative", threshold=sc * base)).bcubed_f for sc in scales])
        p = far_share(x, FAR_NEIGHBOUR * base)
        rows.append((len(y), p, fs))
        a = rule.scale(len(y), p)
        print(f"| {name} | {len(y)} | {p:.3f} | {scales[int(np.argmax(fs))]} | {fs.max():.4f} | {np.interp(0.84, scales, fs):.4f} | "
              f"{np.interp(a, scales, fs):.4f} ({a:.3f}) |", flush=True)

    def mean_f(r: AdaptiveRule) -> float:
        return float(np.mean([np.interp(r.scale(n, p), scales, fs) for n, p, fs in rows]))

    if test:
        print(f"mean BCubed F over the DevTest collections: 0.84 -> {float(np.mean([np.interp(0.84, scales, fs) for *_, fs in rows])):.4f}; "
              f"adaptive {mean_f(rule):.4f}; each collection at its best {np.mean([fs.max() for *_, fs in rows]):.4f}")
        return
    p_ref = float(np.mean([p for _, p, _ in rows]))
    fits = [(mean_f(AdaptiveRule(c, b, m, p_ref)), c, b, m) for c in np.arange(0.76, 0.93, 0.01)
            for b in np.arange(-0.12, 0.041, 0.01) for m in np.arange(-0.6, 0.31, 0.05)]
    best = max(fits)
    fixed = max((float(np.mean([np.interp(sc, scales, fs) for _, _, fs in rows])), float(sc)) for sc in scales)
    print(f"mean BCubed F over the DevTrain collections: best fixed scale {fixed[1]:.2f} -> {fixed[0]:.4f}; "
          f"0.84 -> {mean_f(AdaptiveRule(0.84, 0.0, 0.0, p_ref)):.4f}; adaptive as shipped {mean_f(rule):.4f}; "
          f"best rule here: centre {best[1]:.2f}, size slope {best[2]:.2f}, make-up slope {best[3]:.2f}, "
          f"p reference {p_ref:.3f} -> {best[0]:.4f}; each collection at its best {np.mean([fs.max() for *_, fs in rows]):.4f}")
    x, y = collections(model, extra=False)[DEV]
    for scale in np.arange(0.70, 0.87, 0.02):
        s = score_clustering(y, cluster_vectors(x, method="chinese-whispers", threshold=scale * base))
        print(f"chinese-whispers on the dev collection at {scale:.2f} x: BCubed F {s.bcubed_f:.4f}", flush=True)
    for k in (2, 3, 4):
        s = score_clustering(y, cluster_vectors(x, method="hdbscan", threshold=1.0, min_size=k))
        print(f"hdbscan (min size {k}) on the dev collection: BCubed F {s.bcubed_f:.4f}", flush=True)


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


def one_synthetic(method: str, n: int, fixed: bool = False) -> None:
    x, y = synthetic(n)
    t0 = time.perf_counter()
    thr = default_threshold(method, MODEL) if fixed else collection_threshold(x, method, MODEL)
    labels = cluster_vectors(x, method=method, threshold=thr, min_size=2)
    dt = time.perf_counter() - t0
    s = score_clustering(y, labels)
    use = resource.getrusage(resource.RUSAGE_SELF)
    peak_mb = use.ru_maxrss / 1024
    print(json.dumps({"method": method, "threshold": thr, "seconds": dt, "cpu_seconds": use.ru_utime + use.ru_stime, "peak_mb": peak_mb, "bcubed_f": s.bcubed_f, "pairwise_f": s.pairwise_f,
                      "people": s.people, "clusters": s.clusters}))


def synthetic_table(n: int, timeout: float, fixed: bool = False) -> None:
    print(f"{n} synthetic face-like vectors, each method in its own process ({os.cpu_count()} CPUs visible, "
          f"load average {os.getloadavg()[0]:.1f} at the start)")
    print("| method | threshold (adaptive) | wall s (threshold + clustering) | CPU s (whole process) | peak memory MB | BCubed F | pairwise F | clusters / identities |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for m in METHODS:
        try:
            out = subprocess.run([sys.executable, __file__, "--one", m, "--synthetic", str(n)] + (["--fixed-threshold"] if fixed else []),
                                 capture_output=True, text=True,
                                 timeout=timeout, check=True).stdout.strip().splitlines()[-1]
        except subprocess.TimeoutExpired:
            print(f"| {m} | | > {timeout:.0f} (stopped) | | | | | |", flush=True)
            continue
        except subprocess.CalledProcessError as exc:
            print(f"| {m} | | failed: {exc.stderr.strip().splitlines()[-1] if exc.stderr else exc} | | | | | |", flush=True)
            continue
        r = json.loads(out)
        print(f"| {m} | {r['threshold']} | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} | {r['peak_mb']:.0f} | {r['bcubed_f']:.4f} | {r['pairwise_f']:.4f} | "
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
    ap.add_argument("--sweep", action="store_true", help="how the thresholds were chosen (DevTrain collections only)")
    ap.add_argument("--test-variants", action="store_true", help="with --sweep: the same collections from the DevTest people (reading only)")
    ap.add_argument("--no-extra", action="store_true", help="only the dev and test collections (not all of View 1, not the Avengers)")
    ap.add_argument("--synthetic", type=int, default=0, help="time and memory on this many synthetic vectors")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per method on synthetic vectors")
    ap.add_argument("--knn-recall", action="store_true", help="with --synthetic: check the kNN graph against brute force")
    ap.add_argument("--one", choices=METHODS, help=argparse.SUPPRESS)
    ap.add_argument("--fixed-threshold", action="store_true", help="with --synthetic: the fixed threshold instead of the adaptive one")
    a = ap.parse_args()
    if a.one:
        one_synthetic(a.one, a.synthetic, a.fixed_threshold)
    elif a.synthetic and a.knn_recall:
        knn_recall(a.synthetic)
    elif a.synthetic:
        synthetic_table(a.synthetic, a.timeout, a.fixed_threshold)
    elif a.sweep:
        sweep(a.model, a.test_variants)
    else:
        quality_table(a.model, extra=not a.no_extra)


if __name__ == "__main__":
    main()
