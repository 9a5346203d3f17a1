"""Embedding speed of every model and backend on the faces of ../shared/data/lfw-subset, dlib itself as reference.

    .venv/bin/python bench/embed.py [--threads 1] [--repeats 3] [--batch 32] [--json]

Faces are detected once (MTCNN) and cropped once per model; only the embedding is timed: each row embeds all
crops in batches of --batch, --repeats times after one warm-up batch, and reports the best repeat (the least
disturbed by other processes on a shared machine) as faces/s and ms/face. torch and onnxruntime both get
--threads intra-op threads.

Rows:
* ``dlib (reference)``: dlib-bin's own face_recognition_model_v1.compute_face_descriptor on dlib's own chips;
* ``dlib-resnet-v1``: backends onnx (our conversion) and dlib (the same dlib call through faceprint);
* every PyTorch model: backends torch and onnx (its export in the model cache). A model whose weights are not
  present is timed with an untrained network of the same architecture (speed does not depend on the weights).
* ensembles: their members' default backends, one after the other.

A model with test-time augmentation (spec.flip_average, spec.jitters) embeds each crop, its mirror image and its
jittered copies: one network pass per copy, shown in the "passes per face" column.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

SHARED = Path(os.environ.get("FACEPRINT_SHARED", Path(__file__).resolve().parents[2] / "shared"))


def _time(fn, crops: np.ndarray, batch: int, repeats: int) -> float:  # type: ignore[no-untyped-def]
    """Best wall time over `repeats` of embedding all crops in batches."""
    fn(crops[:batch])  # warm-up: sessions, exports, allocations
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        for i in range(0, len(crops), batch):
            fn(crops[i : i + batch])
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from rich.console import Console
    from rich.table import Table

    from faceprint.analyzer import select_face
    from faceprint.detect import create_detector
    from faceprint.image import load_image
    from faceprint.models import create_embedder, get_model_spec, list_models
    from faceprint.models.torch_embedder import TorchEmbedder

    console = Console(stderr=True)
    photos = sorted((SHARED / "data" / "lfw-subset").glob("*/*.jpg"))
    det = create_detector("mtcnn")
    images, faces = [], []
    for p in photos:
        img = load_image(p)
        found = det.detect(img)
        if found:
            images.append(img)
            faces.append(select_face(found, img.shape, "center"))
    console.print(f"{len(faces)} faces from {len(photos)} photos of {SHARED / 'data' / 'lfw-subset'}")

    rows: list[dict[str, object]] = []

    def add(model: str, backend: str, seconds: float, n: int, note: str = "") -> None:
        if model.startswith("ensemble:"):
            passes = "members'"
        else:
            spec = get_model_spec(model) if model in list_models() else None
            n_passes = 1 + (spec.flip_average + spec.jitters if spec is not None else 0)
            passes = str(n_passes) + (" (test-time augmented)" if n_passes > 1 else "")
        rows.append({"model": model, "backend": backend, "passes": passes, "faces": n, "seconds": seconds, "faces_per_s": n / seconds, "ms_per_face": 1000 * seconds / n, "note": note})
        console.print(f"  {model} [{backend}]: {n / seconds:.1f} faces/s")

    # dlib itself: its detector-independent chips from its own 5-point predictor, then its own network.
    import dlib

    from faceprint.models._weights import package_file

    sp = dlib.shape_predictor(str(package_file("face_recognition_models", "models/shape_predictor_5_face_landmarks.dat")))
    rec = dlib.face_recognition_model_v1(str(package_file("face_recognition_models", "models/dlib_face_recognition_resnet_model_v1.dat")))
    chips = []
    for img, f in zip(images, faces):
        rect = dlib.rectangle(*(int(round(v)) for v in f.box))
        chips.append(dlib.get_face_chip(img, sp(img, rect), 150, 0.25))
    chip_arr = np.stack(chips)
    add("dlib (reference)", "dlib-bin", _time(lambda b: rec.compute_face_descriptor(list(b)), chip_arr, args.batch, args.repeats), len(chips), "dlib.face_recognition_model_v1")

    for name in list_models():
        spec = get_model_spec(name)
        if name == "dlib-resnet-v1":
            from faceprint.models.dlib_resnet import DlibResNetEmbedder

            for backend in DlibResNetEmbedder.BACKENDS:
                emb = DlibResNetEmbedder(spec, backend=backend)
                crops = np.stack([emb.align(i, f) for i, f in zip(images, faces)])
                add(name, backend, _time(emb.embed, crops, args.batch, args.repeats), len(crops))
            continue
        if name.startswith("ensemble:"):
            if not all(get_model_spec(m).weights is None or get_model_spec(m).weights.present() for m in name[9:].split("+")):  # type: ignore[union-attr]
                console.print(f"  {name}: skipped, member weights missing")
                continue
            emb = create_embedder(name)
            crops = np.stack([emb.align(i, f) for i, f in zip(images, faces)])
            add(name, "members' defaults", _time(emb.embed, crops, args.batch, args.repeats), len(crops))
            continue
        note = ""
        if spec.weights is None or spec.weights.present():
            base = create_embedder(name)
        else:
            from faceprint.models.checkpoint_model import get_architecture

            arch = get_architecture(name)
            base = arch.wrap(spec, arch.build(), "cpu")
            note = "untrained network (weights missing): speed only"
        if not isinstance(base, TorchEmbedder):
            console.print(f"  {name}: not a PyTorch model, skipped")
            continue
        crops = np.stack([base.align(i, f) for i, f in zip(images, faces)])
        for backend in ("torch", "onnx"):
            emb = TorchEmbedder(spec, base.module, base.preprocess, backend=backend, device="cpu")
            add(name, backend, _time(emb.embed, crops, args.batch, args.repeats), len(crops), note)

    if args.json:
        json.dump({"threads": args.threads, "load_average": os.getloadavg(), "rows": rows}, sys.stdout, indent=2)
        print()
        return
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    table = Table(title=f"embedding speed, lfw-subset faces, {args.threads} thread(s), batch {args.batch}, best of {args.repeats} (load average {load})")
    for col in ("model", "backend", "passes per face", "faces/s", "ms/face", "note"):
        table.add_column(col, justify="right" if col in ("faces/s", "ms/face") else "left")
    for r in rows:
        table.add_row(str(r["model"]), str(r["backend"]), str(r["passes"]), f"{r['faces_per_s']:.1f}", f"{r['ms_per_face']:.1f}", str(r["note"]))
    Console(width=200).print(table)


if __name__ == "__main__":
    main()
