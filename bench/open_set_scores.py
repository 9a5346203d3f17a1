"""Compare open-set scores on LFW View 1 DevTrain photos (never DevTest): which one names the most enrolled people
at a fixed share of strangers named?

    python bench/open_set_scores.py --model dlib-resnet-v1

Protocol (seeded, DevTrain photos only): 20% of the people are strangers; one photo of every other person is
enrolled (or K with --enroll), the rest of their photos are genuine queries. Galleries of 100 people (20 draws)
and of all enrolled people. For every score, DIR at FPIR x (= 1 - FNIR) is the share of genuine queries whose
best-scoring person is right and within the threshold that lets a share x of strangers through. Scores (smaller
= more alike; a person's score from their enrolled photos):

* nearest: distance to the person's nearest enrolled photo (what identify does);
* mean: mean distance to the person's enrolled photos (person-level aggregation; same as nearest when K = 1);
* ratio: nearest person's distance / second-nearest person's distance (a cohort of one: the gallery's next person);
* z-norm k: (d - mean) / std of the query's distances to its k nearest other people in the gallery (cohort);
* evm: extreme value machine (Rudd et al. 2017, as used for faces by Guenther et al. 2017): each enrolled photo
  gets a Weibull fit to half its distances to the nearest `tail` photos of other gallery people; the score is
  1 - max over the person's photos of exp(-(d / scale) ** shape).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
from scipy.stats import weibull_min

from faceprint.analyzer import FaceAnalyzer
from faceprint.cache import EmbeddingCache
from faceprint.evaluate.identification import dir_at_far
from faceprint.evaluate.labelled import embed_identity_folders
from faceprint.evaluate.lfw import read_pairs
from faceprint.types import pairwise_distances

FPIRS = (0.01, 0.1)


def person_scores(d: np.ndarray, person: np.ndarray, how: str) -> tuple[np.ndarray, np.ndarray]:
    """(queries, people) nearest or mean distance to each person's photos, and the person ids."""
    pids = np.unique(person)
    out = np.empty((d.shape[0], len(pids)))
    for j, p in enumerate(pids):
        cols = d[:, person == p]
        out[:, j] = cols.min(axis=1) if how == "nearest" else cols.mean(axis=1)
    return out, pids


def evm_fit(gallery: np.ndarray, person: np.ndarray, metric: str, tail: int) -> tuple[np.ndarray, np.ndarray]:
    """Per enrolled photo, Weibull (shape, scale) of half its distances to the `tail` nearest other-person photos."""
    d = pairwise_distances(gallery, gallery, metric)
    d[person[:, None] == person[None, :]] = np.inf
    near = np.sort(d, axis=1)[:, :tail] / 2.0
    shape, scale = np.empty(len(gallery)), np.empty(len(gallery))
    for i, row in enumerate(near):
        c, _, s = weibull_min.fit(row, floc=0.0)
        shape[i], scale[i] = c, s
    return shape, scale


def scores(name: str, dq: np.ndarray, gal_person: np.ndarray, extra: dict) -> tuple[np.ndarray, np.ndarray]:
    """(queries, people) scores for one method, smaller = more alike."""
    if name in ("nearest", "mean"):
        return person_scores(dq, gal_person, name)
    base, pids = person_scores(dq, gal_person, "nearest")
    if name == "ratio":
        two = np.sort(base, axis=1)[:, :2]
        out = np.full_like(base, np.inf)
        best = np.argmin(base, axis=1)
        out[np.arange(len(base)), best] = two[:, 0] / np.maximum(two[:, 1], 1e-9)
        return out, pids
    if name.startswith("z-norm"):
        k = int(name.split()[1])
        srt = np.sort(base, axis=1)[:, 1 : k + 1]  # the cohort: the k next people
        return (base - srt.mean(axis=1, keepdims=True)) / np.maximum(srt.std(axis=1, keepdims=True), 1e-9), pids
    if name == "evm":
        shape, scale = extra["evm"]
        psi = np.exp(-((dq / scale[None, :]) ** shape[None, :]))
        out = np.empty_like(base)
        for j, p in enumerate(pids):
            out[:, j] = 1.0 - psi[:, gal_person == p].max(axis=1)
        return out, pids
    raise ValueError(name)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="dlib-resnet-v1")
    ap.add_argument("--enroll", type=int, default=1)
    ap.add_argument("--tail", type=int, default=20, help="EVM: nearest other-person photos per Weibull fit")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--photos", choices=("devtrain", "devtest", "all"), default="devtrain",
                    help="which View 1 photos: DevTrain to choose a score; DevTest or all of them only to report the chosen one")
    ap.add_argument("--methods", default="nearest,mean,ratio,z-norm 10,z-norm 50,evm")
    ap.add_argument("--shared", type=Path, default=Path(os.environ.get("FACEPRINT_SHARED", "../shared")))
    args = ap.parse_args()
    view1 = args.shared / "data" / "lfw-view1"
    with EmbeddingCache() as cache:
        data = embed_identity_folders(view1 / "images", FaceAnalyzer(model=args.model), cache)
    if args.photos == "all":
        rows = np.arange(len(data))
    else:
        pairs = view1 / ("pairsDevTrain.txt" if args.photos == "devtrain" else "pairsDevTest.txt")
        keep = {str(view1 / "images" / p) for pair in read_pairs(pairs).pairs for p in (pair.left, pair.right)}
        rows = np.flatnonzero([s in keep for s in data.sources])
    vec, lab = data.vectors[rows], np.array(data.labels, dtype=object)[rows]
    rng = np.random.default_rng(args.seed)
    people = np.array(sorted(set(lab)), dtype=object)
    strangers = set(rng.choice(people, int(round(0.2 * len(people))), replace=False))
    enrol, genuine = [], []
    for p in people:
        if p in strangers:
            continue
        r = np.flatnonzero(lab == p)
        if len(r) < args.enroll:
            continue
        pick = rng.choice(r, args.enroll, replace=False)
        enrol += pick.tolist()
        genuine += [i for i in r if i not in pick]
    enrol, genuine = np.array(enrol), np.array(genuine)
    imp = np.flatnonzero([lab_i in strangers for lab_i in lab])
    methods = [m.strip() for m in args.methods.split(",")]
    enrolled_people = np.unique(lab[enrol])
    print(f"model {args.model}: {args.photos}, {len(enrolled_people)} people enrolled ({len(enrol)} photos), "
          f"{len(genuine)} genuine queries, {len(imp)} stranger queries of {len(strangers)} people")
    print("| gallery | " + " | ".join(f"{m}: DIR@FPIR {', '.join(f'{x:g}' for x in FPIRS)}" for m in methods) + " |")
    print("| --- " * (len(methods) + 1) + "|")
    for size, draws in ((100, 20), (len(enrolled_people), 1)):
        res = {m: [] for m in methods}
        for _ in range(draws):
            chosen = enrolled_people if size == len(enrolled_people) else rng.choice(enrolled_people, size, replace=False)
            gal = enrol[np.isin(lab[enrol], chosen)]
            gen = genuine[np.isin(lab[genuine], chosen)]
            gal_person = lab[gal]
            extra = {"evm": evm_fit(vec[gal], gal_person, data.metric, args.tail)} if "evm" in methods else {}
            dg = pairwise_distances(vec[gen], vec[gal], data.metric)
            di = pairwise_distances(vec[imp], vec[gal], data.metric)
            for m in methods:
                sg, pids = scores(m, dg, gal_person, extra)
                si, _ = scores(m, di, gal_person, extra)
                ok = pids[np.argmin(sg, axis=1)] == lab[gen]
                res[m].append([dir_at_far(sg.min(axis=1), ok, si.min(axis=1), x)[0] for x in FPIRS])
        cells = [" / ".join(f"{100 * v:.1f}%" for v in np.mean(res[m], axis=0)) for m in methods]
        print(f"| {size} people x{draws} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
