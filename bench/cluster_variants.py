"""What helps the people seen once, at the default detector and model: every variant scored on the twelve DevTrain
collections (where it is chosen) and on the same twelve built from the DevTest people (read, never chosen on).

    python bench/cluster_variants.py                                   # the default model (DEFAULT_MODEL)
    python bench/cluster_variants.py --model facenet-inception-resnet-v1

Collections: `bench/cluster.py`'s `dev_variants` (30/60/100% of the people with >= 3 photos, plus 0/100/400/1,000
people seen once); "dev" and "test" are its 100% + 400 collections, the ones issue 27's goal is read on.

Each collection's average-, complete- and weighted-linkage trees are built once on the full distance matrix (what
`cluster_vectors(method="agglomerative")` gives: average linkage never joins faces of different components of the
threshold graph, and these collections hold one face per photo, so the cannot-link rule has nothing to do), then
cut at every threshold of the grid. Variants:

* fixed scale: one multiple of the verification threshold for every collection (the shipped 0.84, and the best
  on DevTrain);
* adaptive rule: the one fitted on MTCNN's faces and dlib-resnet-v1 (`faceprint.cluster.threshold.RULES`), the one
  shipped for this model (`MODEL_RULES`, where it has one) and one refitted here on DevTrain (the same search as
  `bench/cluster.py --sweep`, on this model's vectors);
* other linkages (complete, weighted) at their best fixed scale on DevTrain;
* re-assignment: after the refitted rule, each cluster of at most `s` faces (s = 1: faces left alone) joins the
  nearest larger cluster when their mean distance is under r x the threshold (s and r chosen on DevTrain);
* second pass: the refitted rule measured again on the first pass's clusters (p recomputed on one face per
  cluster), then a second cut of the same tree at that threshold.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from cluster import dev_variants  # noqa: E402

from faceprint.cluster.metrics import score_clustering  # noqa: E402
from faceprint.cluster.threshold import FAR_NEIGHBOUR, RULES, THRESHOLD_SCALE, AdaptiveRule, far_share, rule_for  # noqa: E402

SCALES = np.round(np.arange(0.66, 1.06, 0.01), 2)
LINKAGES = ("average", "complete", "weighted")
DEV_AT, TEST_AT = 10, 10
"""Index of the 100% + 400 seen once collection in `dev_variants`' order (the goal's dev and test collections)."""


class Prepared:
    """One collection with its distance matrix, linkage trees and p (share without a close neighbour)."""

    def __init__(self, name: str, x: np.ndarray, y: np.ndarray, base: float) -> None:
        from scipy.cluster.hierarchy import linkage
        from scipy.spatial.distance import pdist, squareform

        self.name, self.x, self.y, self.n = name, x, y, len(y)
        condensed = pdist(x.astype(np.float64))
        self.d = squareform(condensed)
        self.trees = {m: linkage(condensed, method=m) for m in LINKAGES}
        self.p = far_share(x, FAR_NEIGHBOUR * base)
        self.grid = {m: np.array([self.f(self.cut(m, s * base)) for s in SCALES]) for m in LINKAGES}

    def cut(self, linkage: str, threshold: float) -> np.ndarray:
        from scipy.cluster.hierarchy import fcluster

        return fcluster(self.trees[linkage], t=threshold, criterion="distance") - 1

    def f(self, labels: np.ndarray) -> float:
        return score_clustering(self.y, labels).bcubed_f


def reassign(d: np.ndarray, labels: np.ndarray, threshold: float, ratio: float, small: int) -> np.ndarray:
    """Clusters of at most `small` faces join the nearest cluster of more faces when their mean distance to it is
    under ratio x threshold (smallest first)."""
    out = labels.copy()
    ids, counts = np.unique(out, return_counts=True)
    big = ids[counts > small]
    if not len(big):
        return out
    members = {c: np.flatnonzero(out == c) for c in ids}
    for c in ids[counts <= small]:
        rows = members[c]
        means = np.array([d[np.ix_(rows, members[b])].mean() for b in big])
        j = int(np.argmin(means))
        if means[j] < ratio * threshold:
            out[rows] = big[j]
    return out


def second_pass_scale(c: Prepared, rule: AdaptiveRule, base: float) -> float:
    """The rule read again on the first pass: p from one face per cluster (the first member), n from the faces."""
    first = c.cut("average", rule.scale(c.n, c.p) * base)
    reps = np.array([np.flatnonzero(first == k)[0] for k in np.unique(first)])
    p = far_share(c.x[reps], FAR_NEIGHBOUR * base)
    return rule.scale(c.n, p)


def fit_rule(cols: list[Prepared]) -> AdaptiveRule:
    p_ref = float(np.mean([c.p for c in cols]))

    def mean_f(r: AdaptiveRule) -> float:
        return float(np.mean([np.interp(r.scale(c.n, c.p), SCALES, c.grid["average"]) for c in cols]))

    fits = [(mean_f(AdaptiveRule(ce, b, m, p_ref)), ce, b, m) for ce in np.arange(0.76, 0.95, 0.01)
            for b in np.arange(-0.12, 0.041, 0.01) for m in np.arange(-0.6, 0.31, 0.05)]
    _, ce, b, m = max(fits)
    return AdaptiveRule(round(float(ce), 2), round(float(b), 2), round(float(m), 2), round(p_ref, 3))


def main() -> None:
    from faceprint.models import DEFAULT_MODEL, get_model_spec

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=DEFAULT_MODEL)
    a = ap.parse_args()
    base = get_model_spec(a.model).threshold
    t0 = time.perf_counter()
    train = [Prepared(n, x, y, base) for n, x, y in dev_variants(a.model, "pairsDevTrain.txt")]
    test = [Prepared(n, x, y, base) for n, x, y in dev_variants(a.model, "pairsDevTest.txt")]
    print(f"model {a.model}, verification threshold {base:.4f}; {len(train)} DevTrain and {len(test)} DevTest collections "
          f"prepared in {time.perf_counter() - t0:.0f} s; load average {os.getloadavg()[0]:.1f}")

    def at(c: Prepared, linkage: str, scale: float) -> float:
        return float(np.interp(scale, SCALES, c.grid[linkage]))

    def best_fixed(linkage: str) -> float:
        return float(SCALES[int(np.argmax(np.mean([c.grid[linkage] for c in train], axis=0)))])

    general, shipped, refit = RULES["agglomerative"], rule_for("agglomerative", a.model), fit_rule(train)
    variants: list[tuple[str, object]] = []
    fixed = THRESHOLD_SCALE["agglomerative"]
    variants.append((f"average linkage, fixed {fixed} x", lambda c: at(c, "average", fixed)))
    for lk in LINKAGES:
        s = best_fixed(lk)
        variants.append((f"{lk} linkage, best fixed scale on DevTrain ({s:.2f} x)", lambda c, lk=lk, s=s: at(c, lk, s)))
    variants.append((f"average, adaptive rule of MTCNN/dlib-resnet-v1 ({general.centre}, {general.size_slope}, {general.makeup_slope}, {general.p_reference})",
                     lambda c: at(c, "average", general.scale(c.n, c.p))))
    if shipped is not general and shipped is not None:
        variants.append((f"average, adaptive rule shipped for this model ({shipped.centre}, {shipped.size_slope}, {shipped.makeup_slope}, {shipped.p_reference})",
                         lambda c: at(c, "average", shipped.scale(c.n, c.p))))
    variants.append((f"average, adaptive rule refitted on DevTrain ({refit.centre}, {refit.size_slope}, {refit.makeup_slope}, {refit.p_reference})",
                     lambda c: at(c, "average", refit.scale(c.n, c.p))))

    def with_reassign(c: Prepared, small: int, ratio: float) -> float:
        thr = refit.scale(c.n, c.p) * base
        return c.f(reassign(c.d, c.cut("average", thr), thr, ratio, small))

    choices = [(small, ratio) for small in (1, 2) for ratio in (0.95, 1.0, 1.05, 1.1, 1.2)]
    scored = {(s, r): float(np.mean([with_reassign(c, s, r) for c in train])) for s, r in choices}
    s_best, r_best = max(scored, key=lambda k: scored[k])
    variants.append((f"refitted rule + re-assignment of clusters of <= {s_best} face(s) (r {r_best}, chosen on DevTrain)",
                     lambda c: with_reassign(c, s_best, r_best)))
    variants.append(("refitted rule + second pass (p read on the first pass's clusters)",
                     lambda c: at(c, "average", second_pass_scale(c, refit, base))))

    print("re-assignment searched on DevTrain (mean BCubed F): "
          + ", ".join(f"<= {s} r {r}: {v:.4f}" for (s, r), v in scored.items()))
    print()
    print("| variant | DevTrain mean F (12) | dev (1,463 faces) | DevTest mean F (12) | test |")
    print("| --- | --- | --- | --- | --- |")
    for label, fn in variants:
        tr = [fn(c) for c in train]  # type: ignore[operator]
        te = [fn(c) for c in test]  # type: ignore[operator]
        print(f"| {label} | {np.mean(tr):.4f} | {tr[DEV_AT]:.4f} | {np.mean(te):.4f} | {te[TEST_AT]:.4f} |", flush=True)
    print(f"| each collection at its best average-linkage threshold | {np.mean([c.grid['average'].max() for c in train]):.4f} | "
          f"{train[DEV_AT].grid['average'].max():.4f} | {np.mean([c.grid['average'].max() for c in test]):.4f} | "
          f"{test[TEST_AT].grid['average'].max():.4f} |")
    print(f"dev is '{train[DEV_AT].name}' ({train[DEV_AT].n} faces), test is '{test[TEST_AT].name}' ({test[TEST_AT].n} faces)")


if __name__ == "__main__":
    main()
