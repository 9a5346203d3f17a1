"""Calibrate a model's verification threshold and confidence slope on LFW View 1 pairsDevTrain.txt.

    python bench/calibrate.py --model dlib-resnet-v1

Prints the single best-accuracy threshold over the 2,200 DevTrain pairs (the verification threshold), the slope
of the logistic distance-to-confidence curve pinned at it, and the open-set identification threshold: the
distance at which 1 in 1,000 different-person comparisons is accepted, over every pair of DevTrain images of
different people (about 5.9 million). Identification compares a query with every enrolled face, so it needs
the stricter per-comparison rate. All three go into the model's ModelSpec. DevTest is never
used here, so DevTest figures stay honest. --flip and --jitters try test-time augmentation settings on DevTrain
(how the models' flip_average and jitters were chosen).
"""

from __future__ import annotations

import argparse
import dataclasses
import os

import numpy as np
from pathlib import Path

from rich.progress import Progress

from faceprint.analyzer import FaceAnalyzer
from faceprint.cache import EmbeddingCache
from faceprint.evaluate.lfw import read_pairs
from faceprint.evaluate.metrics import threshold_at_far
from faceprint.evaluate.pairs_run import run_pairs
from faceprint.models import get_model_spec, list_models
from faceprint.models.identity import model_identity
from faceprint.recognize.confidence import fit_slope


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="dlib-resnet-v1")
    ap.add_argument("--far", type=float, default=1e-3, help="per-comparison false-accept rate for identification")
    ap.add_argument("--flip", choices=("on", "off"), help="override the model's test-time mirroring (to choose it)")
    ap.add_argument("--jitters", type=int, help="override the model's number of test-time jitters (to choose it)")
    ap.add_argument("--shared", type=Path, default=Path(os.environ.get("FACEPRINT_SHARED", "../shared")))
    args = ap.parse_args()
    view1 = args.shared / "data" / "lfw-view1"
    spec = get_model_spec(args.model)
    if args.jitters is not None and args.jitters < 0:
        ap.error("--jitters must be 0 or more")
    if args.flip is not None or args.jitters is not None:  # the cache key follows, so variants never mix
        if spec.name not in list_models() or spec.name.startswith("ensemble:"):
            # a checkpoint is resolved again from its path; an ensemble's members augment their own crops
            ap.error("--flip/--jitters apply to a registered single model (see `faceprint models list`)")
        variant = dataclasses.replace(
            spec,
            flip_average=spec.flip_average if args.flip is None else args.flip == "on",
            jitters=spec.jitters if args.jitters is None else args.jitters,
        )
        # a name of its own, carrying the variant's identity digest: the embedding cache keys on the name, so the
        # variant's vectors never mix with the model's (nor with another variant's)
        spec = dataclasses.replace(variant, name=f"{spec.name}~{model_identity(variant).digest[:12]}")
    print(f"model {spec.name}: mirroring {'on' if spec.flip_average else 'off'}, jitters {spec.jitters}")
    analyzer = FaceAnalyzer(model=spec.builder(spec))
    with EmbeddingCache() as cache, Progress() as bar:
        task = bar.add_task("DevTrain images", total=None)
        ev = run_pairs(view1 / "pairsDevTrain.txt", view1 / "images", analyzer, cache,
                       on_image=lambda d, t: bar.update(task, completed=d, total=t))
        images = sorted({p for pair in read_pairs(view1 / "pairsDevTrain.txt").pairs for p in (pair.left, pair.right)})
        vectors = np.stack([cache.get(analyzer.model, view1 / "images" / i, detector=analyzer.detector).vector for i in images])
    thr = ev.result.threshold
    who = np.array([i.split("/")[0] for i in images])
    neg = []
    for start in range(0, len(vectors), 512):  # blocks keep memory small
        block = vectors[start : start + 512]
        d = np.linalg.norm(block[:, None, :] - vectors[None, :, :], axis=2)
        upper = np.arange(len(vectors))[None, :] > np.arange(start, start + len(block))[:, None]
        neg.append(d[upper & (who[start : start + 512, None] != who[None, :])])
    open_thr = threshold_at_far(np.concatenate(neg), args.far)
    slope = fit_slope(ev.distances, ev.same, thr)
    print(f"model {args.model}: DevTrain pairs {ev.result.n_pairs}, images without a face {len(ev.no_face)}")
    print(f"best threshold {thr:.4f} (accuracy {100 * ev.result.accuracy_at_threshold:.2f}% on DevTrain)")
    print(f"10-fold accuracy on DevTrain {100 * ev.result.accuracy_mean:.2f}% ± {100 * ev.result.accuracy_std:.2f}, "
          f"AUC {ev.result.auc:.5f}")
    print(f"open-set identification threshold {open_thr:.4f} (FAR {args.far:g} over "
          f"{sum(len(n) for n in neg)} different-person image pairs)")
    print(f"confidence slope {slope:.3f}  (confidence = 1 / (1 + exp(slope * (d - threshold))))")


if __name__ == "__main__":
    main()
