"""Calibrate a model's verification threshold and confidence slope on LFW View 1 pairsDevTrain.txt.

    python bench/calibrate.py --model dlib-resnet-v1

Prints the single best-accuracy threshold over the 2,200 DevTrain pairs and the slope of the logistic
distance-to-confidence curve pinned at that threshold; both go into the model's ModelSpec. DevTest is never
used here, so DevTest figures stay honest.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from rich.progress import Progress

from faceprint.analyzer import FaceAnalyzer
from faceprint.cache import EmbeddingCache
from faceprint.evaluate.pairs_run import run_pairs
from faceprint.recognize.confidence import fit_slope


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="dlib-resnet-v1")
    ap.add_argument("--shared", type=Path, default=Path(os.environ.get("FACEPRINT_SHARED", "../shared")))
    args = ap.parse_args()
    view1 = args.shared / "data" / "lfw-view1"
    analyzer = FaceAnalyzer(model=args.model)
    with EmbeddingCache() as cache, Progress() as bar:
        task = bar.add_task("DevTrain images", total=None)
        ev = run_pairs(view1 / "pairsDevTrain.txt", view1 / "images", analyzer, cache,
                       on_image=lambda d, t: bar.update(task, completed=d, total=t))
    thr = ev.result.threshold
    slope = fit_slope(ev.distances, ev.same, thr)
    print(f"model {args.model}: DevTrain pairs {ev.result.n_pairs}, images without a face {len(ev.no_face)}")
    print(f"best threshold {thr:.4f} (accuracy {100 * ev.result.accuracy_at_threshold:.2f}% on DevTrain)")
    print(f"10-fold accuracy on DevTrain {100 * ev.result.accuracy_mean:.2f}% ± {100 * ev.result.accuracy_std:.2f}")
    print(f"confidence slope {slope:.3f}  (confidence = 1 / (1 + exp(slope * (d - threshold))))")


if __name__ == "__main__":
    main()
