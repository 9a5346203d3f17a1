"""YuNet's score threshold, chosen on LFW View 1 pairsDevTrain.txt (never DevTest), with each model.

    python bench/yunet_threshold.py                          # dlib-resnet-v1, thresholds 0.3 .. 0.9
    python bench/yunet_threshold.py --model facenet-inception-resnet-v1 --limit 200

YuNet runs once on every DevTrain image at the lowest threshold, keeping every face with its score. Greedy NMS
keeps a box only when no higher-scoring box overlaps it, so the faces kept at a higher threshold are exactly those
of the lowest run that score above it: each threshold's detections are a filter of one run. Per threshold the
table gives images without a face (central region embedded instead, as `eval pairs` does), images with several
faces (face nearest the centre used), and the 10-fold accuracy and AUC; each distinct face crop is embedded once.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

from faceprint.analyzer import FaceAnalyzer, select_face
from faceprint.evaluate.lfw import evaluate_pairs, protocol_folds, read_pairs
from faceprint.image import load_image
from faceprint.types import paired_distances

sys.path.insert(0, str(Path(__file__).parent))
from compare import subset  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=Path(os.environ.get("FACEPRINT_SHARED", Path(__file__).resolve().parents[2] / "shared")))
    ap.add_argument("--model", default="dlib-resnet-v1")
    ap.add_argument("--thresholds", type=float, nargs="+", default=[0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])
    ap.add_argument("--limit", type=int, default=None, help="first N matched and N mismatched pairs only")
    args = ap.parse_args()
    view1 = args.shared / "data" / "lfw-view1"
    pairs = subset(read_pairs(view1 / "pairsDevTrain.txt"), args.limit)
    names = pairs.images()
    index = {n: i for i, n in enumerate(names)}
    lowest = min(args.thresholds)
    analyzer = FaceAnalyzer(model=args.model, detector="yunet")
    analyzer.detector.score_threshold = lowest
    images = {}
    detections = {}
    for r in analyzer.analyze_many(names, select="all", load=lambda n: load_image(view1 / "images" / n), keep_images=True):
        images[r.item] = r.image
        detections[r.item] = r.faces
    memo: dict[tuple[str, object], np.ndarray] = {}

    def vector(name: str, threshold: float) -> tuple[np.ndarray, int]:
        img = images[name]
        faces = [f for f in detections[name] if f.score >= threshold]
        face = select_face(faces, img.shape, "center") if faces else None
        key = (name, face.box if face else None)
        if key not in memo:
            crop = analyzer.embedder.align(img, face) if face else analyzer.embedder.center_crop(img)
            memo[key] = analyzer.embedder.embed(crop[None]).vectors[0]
        return memo[key], len(faces)

    same = np.array([p.same for p in pairs.pairs])
    folds = protocol_folds(pairs)
    print(f"| YuNet score threshold ({args.model}, DevTrain, {len(pairs.pairs)} pairs, {len(names)} images) "
          "| no face | several faces | accuracy, 10 folds | AUC |")
    print("| --- | --- | --- | --- | --- |")
    for t in sorted(args.thresholds):
        out = [vector(n, t) for n in names]
        emb = np.stack([v for v, _ in out])
        left = emb[[index[p.left] for p in pairs.pairs]]
        right = emb[[index[p.right] for p in pairs.pairs]]
        res = evaluate_pairs(paired_distances(left, right, analyzer.embedder.spec.metric), same, folds)
        print(f"| {t:g} | {sum(n == 0 for _, n in out)} | {sum(n > 1 for _, n in out)} "
              f"| {100 * res.accuracy_mean:.2f}% ± {100 * res.accuracy_std:.2f} | {res.auc:.5f} |")


if __name__ == "__main__":
    main()
