"""Verification figures of a model's embeddings on the photos that a 60/40 split holds out (fine-tuning before/after).

    .venv/bin/python bench/heldout_pairs.py MODEL [--data DIR] [--train-share 0.6] [--no-flip]

MODEL is any model name or checkpoint (e.g. out/runs/avengers-facenet/last.pt). The held-out share of each
person's photos (the same split as `faceprint train --holdout-photos 0.4` and `train-head --holdout 0.4`) is
embedded and every pair of them is scored: AUC, pair accuracy (10-fold protocol, balanced), rank-1, and the mean
same-person and different-person distances with the farthest same-person and closest different-person pair.
`--no-flip` turns a registered model's test-time mirroring off (checkpoints never mirror), to compare like with like.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path

import numpy as np

from faceprint.gallery import identity_folders, split_per_person
from faceprint.models import create_embedder, get_model_spec
from faceprint.train.data import prepare_faces
from faceprint.train.validate import validate_embeddings
from faceprint.types import pairwise_distances

SHARED = Path(os.environ.get("FACEPRINT_SHARED", Path(__file__).resolve().parents[2] / "shared"))


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--data", type=Path, default=SHARED / "data" / "avengers")
    ap.add_argument("--train-share", type=float, default=0.6)
    ap.add_argument("--no-flip", action="store_true", help="embed single passes, without test-time mirroring")
    args = ap.parse_args()
    if args.no_flip:  # this run's own spec, built directly (it is never stored, so its name may stay)
        spec = dataclasses.replace(get_model_spec(args.model), flip_average=False)
        emb = spec.builder(spec)
    else:
        emb = create_embedder(args.model)
    _, test = split_per_person(identity_folders(args.data), args.train_share)
    faces = prepare_faces(test, emb)
    v = emb.embed(faces.crops).vectors
    labels = faces.labels()
    r = validate_embeddings(v, labels, emb.spec.metric)
    d = pairwise_distances(v, v, emb.spec.metric)
    iu = np.triu_indices(len(labels), 1)
    same = (labels[:, None] == labels[None])[iu]
    ds, dd = d[iu][same], d[iu][~same]
    mode = "mirrored" if emb.spec.flip_average else "single pass"
    print("| model | embedding | held-out faces | AUC | pair accuracy | rank-1 | mean same | mean different | max same | min different |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    print(
        f"| {emb.name} | {mode} | {len(labels)} | {r.auc:.4f} | {100 * r.accuracy:.1f}% | {100 * r.rank1:.1f}% | "
        f"{ds.mean():.3f} | {dd.mean():.3f} | {ds.max():.3f} | {dd.min():.3f} |"
    )


if __name__ == "__main__":
    main()
