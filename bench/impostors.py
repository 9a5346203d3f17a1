"""Derive the impostor distribution that `identify` sets its open-set threshold from, and ship it with the package.

    python bench/impostors.py --model dlib-resnet-v1 [--write]

Embeds the LFW View 1 photos (cached; photos without a detected face are left out, as `identify` and `eval
identify` leave them out), keeps the DevTrain ones (pairsDevTrain.txt's images; DevTest is never used), and
measures on every pair of different people among them:

* the per-comparison distribution: distances at log10 rates from 1/pairs to 1, and the power-law tail fit;
* the size exponents: for galleries of N faces drawn from the other people's DevTrain photos, the exact share of
  strangers named at a threshold, averaged over every DevTrain photo as the stranger (faceprint.evaluate.impostors);
* the photo exponent g: K enrolled photos of one person count as K ** g faces (measured on DevTrain people with
  2 and 4 photos, at per-comparison rates 1e-3 and 1e-4);
* the score law (faceprint.recognize.score_law): for galleries of 2 to ~1,700 DevTrain people, the thresholds of
  the score d1 / d2 ** lam for each share of strangers named, the lam that names the most enrolled people at 1%,
  and the confidence's fit (faceprint.evaluate.impostors.measure_score_law).

Prints the tables and the tail-extrapolation check (the tail fitted on a 1% sample of the pairs against the
measured distances), and with --write stores src/faceprint/recognize/data/<model>.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
from pathlib import Path

import numpy as np
from rich.progress import Progress

from faceprint.analyzer import FaceAnalyzer
from faceprint.cache import EmbeddingCache
from faceprint.evaluate.impostors import impostor_distribution, measure_photo_exponent, measure_score_law
from faceprint.evaluate.labelled import embed_identity_folders
from faceprint.evaluate.lfw import read_pairs
from faceprint.recognize.open_set import fit_impostor_distribution, impostor_data_file
from faceprint.types import pairwise_distances

DATA = Path(__file__).resolve().parents[1] / "src" / "faceprint" / "recognize" / "data"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="dlib-resnet-v1")
    ap.add_argument("--write", action="store_true", help="store the result in the package's data folder")
    ap.add_argument("--shared", type=Path, default=Path(os.environ.get("FACEPRINT_SHARED", "../shared")))
    args = ap.parse_args()
    view1 = args.shared / "data" / "lfw-view1"
    analyzer = FaceAnalyzer(model=args.model)
    with EmbeddingCache() as cache, Progress() as bar:
        task = bar.add_task("View 1 photos", total=None)
        data = embed_identity_folders(view1 / "images", analyzer, cache, lambda d, t: bar.update(task, completed=d, total=t))
    train = {str(view1 / "images" / p) for pair in read_pairs(view1 / "pairsDevTrain.txt").pairs for p in (pair.left, pair.right)}
    rows = np.array([s in train for s in data.sources])
    labels = [lab for lab, keep in zip(data.labels, rows) if keep]
    source = f"LFW View 1 DevTrain ({int(rows.sum())} photos of {len(set(labels))} people)"
    dist, table = impostor_distribution(data.vectors[rows], labels, data.metric, data.model, source)
    vec = data.vectors[rows]
    d_all = pairwise_distances(vec, vec, data.metric)
    g = measure_photo_exponent(d_all, labels, dist)
    with Progress() as bar:
        task = bar.add_task("score law: gallery sizes", total=None)
        found = measure_score_law(d_all, labels, dist.tail_b, source, on_size=lambda n: bar.update(task, advance=1, description=f"score law: {n} people"))
    dist = dataclasses.replace(dist, photo_exponent=round(g, 3), score_law=found.law)
    neg = table.different_person_distances()
    print(f"model {data.model}: {source}, {len(neg)} different-person pairs, {len(data.skipped)} View 1 photos without a face")
    print(f"tail: log10 F = {dist.tail_a:.3f} + {dist.tail_b:.3f} log10 d, fitted on log10 rates {dist.tail_fit_range[0]:.2f} .. {dist.tail_fit_range[1]:.2f}")
    sample = fit_impostor_distribution(np.random.default_rng(0).choice(neg, len(neg) // 100, replace=False), data.model, "1% sample")
    print("| per-comparison rate | measured distance | tail fitted on a 1% sample |")
    print("| --- | --- | --- |")
    for rate in (1e-3, 1e-4, 1e-5, 1e-6, 3e-7):
        k = math.ceil(rate * len(neg))
        print(f"| {rate:g} | {neg[k - 1]:.4f} ({k} pairs) | {sample.threshold_at_rate(rate):.4f} |")
    sizes = [round(10**v) for v in dist.exponent_log10_n]
    print("\nsize exponents e (n_eff = N ** e) and thresholds (exact on DevTrain / from the law):")
    print("| strangers named | " + " | ".join(f"N={n}" for n in sizes) + " |")
    print("| --- " * (len(sizes) + 1) + "|")
    for i, lf in enumerate(dist.exponent_log10_far):
        far = 10**lf
        cells = []
        for j, n in enumerate(sizes):
            cells.append(f"{dist.exponent[i, j]:.3f}: {table.threshold_for(far, n):.4f}/{dist.threshold_for(far, n):.4f}")
        print(f"| {far:g} | " + " | ".join(cells) + " |")
    print(f"\nphoto exponent g = {dist.photo_exponent:.3f}: K photos of one person count as K ** g faces")
    print("threshold for 1% strangers named: " + ", ".join(f"N={n}: {dist.threshold_for(0.01, n):.4f}" for n in (10, 100, 1000, 5000, 100000)))
    law = found.law
    print("\nscore d1 / d2 ** lam: share of enrolled people's queries named right at 1% of strangers named, per lam "
          "(DevTrain draws; * = chosen), and the chosen lam's threshold at 1% / 10%:")
    print("| people (stranger / genuine queries) | " + " | ".join(f"lam {v:g}" for v in law.lambdas) + " | threshold 1% / 10% |")
    print("| --- " * (len(law.lambdas) + 2) + "|")
    f1 = int(np.argmin(np.abs(law.log10_far + 2.0)))
    f10 = int(np.argmin(np.abs(law.log10_far + 1.0)))
    for j, n in enumerate(found.sizes):
        c = int(law.chosen[j])
        cells = [f"{100 * found.dir_at[li, f1, j]:.1f}%" + ("*" if li == c else "") for li in range(len(law.lambdas))]
        s, q = found.queries[j]
        print(f"| {n} ({s} / {q}) | " + " | ".join(cells) + f" | {math.exp(law.log_threshold[c, f1, j]):.4f} / {math.exp(law.log_threshold[c, f10, j]):.4f} |")
    if args.write:
        DATA.mkdir(parents=True, exist_ok=True)
        out = DATA / impostor_data_file(data.model)
        out.write_text(json.dumps(dist.to_dict(), indent=1) + "\n", encoding="utf-8")
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
