"""face_recognition (the dlib-based library most people use) and faceprint side by side, in one run.

    nice -n 10 python bench/compare.py                 # all 1,000 LFW View 1 DevTest pairs (1,549 images)
    python bench/compare.py --limit 20 --speed-images 20   # a quick run: 20 + 20 pairs

Both pipelines see the same images. Speed: images per second end to end (read the file, detect, align, embed),
on the first --speed-images images, uncached, after a warm-up; model loading is timed apart. Accuracy: LFW View 1
pairsDevTest.txt with the 10-fold protocol (each fold's threshold chosen on the other nine), and at each
library's default threshold. Both use the face nearest the image centre and, where no face is found, the central
region. faceprint's embeddings come from its on-disk cache when present (the speed pass never uses it);
face_recognition has no cache and embeds every image.

face_recognition installs without its dlib source dependency (dlib comes from dlib-bin):
    .venv/bin/pip install --no-deps face_recognition
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import os
import sys
import tempfile
import time
import types
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.progress import Progress

from faceprint import __version__
from faceprint.analyzer import FaceAnalyzer
from faceprint.cache import EmbeddingCache
from faceprint.evaluate.lfw import PairsFile, evaluate_pairs, protocol_folds, read_pairs
from faceprint.evaluate.metrics import accuracy_at
from faceprint.evaluate.pairs_run import run_pairs

FR_TOLERANCE = 0.6
"""face_recognition.compare_faces' default tolerance: the threshold its users get."""


def import_face_recognition() -> types.ModuleType:
    """Import face_recognition. Its models package asks pkg_resources (gone from setuptools >= 81) for file paths
    only; where pkg_resources is missing, a stand-in answers that one question from the package's location."""
    if importlib.util.find_spec("face_recognition") is None:
        sys.exit("face_recognition is not installed: .venv/bin/pip install --no-deps face_recognition")
    if importlib.util.find_spec("pkg_resources") is None:
        shim = types.ModuleType("pkg_resources")

        def resource_filename(package: str, resource: str) -> str:
            spec = importlib.util.find_spec(package)
            assert spec is not None and spec.origin is not None
            return str(Path(spec.origin).parent / resource)

        shim.resource_filename = resource_filename  # type: ignore[attr-defined]
        sys.modules["pkg_resources"] = shim
    import face_recognition

    return face_recognition


class FaceRecognitionPipeline:
    """face_recognition's documented calls: load_image_file, face_locations (HOG), face_encodings (5-point, 1 jitter)."""

    def __init__(self) -> None:
        t = time.perf_counter()
        self.fr = import_face_recognition()  # loads every dlib model at import
        self.load_s = time.perf_counter() - t
        self.version = importlib.metadata.version("face_recognition")  # the module's __version__ lags the release

    def embed(self, path: Path) -> tuple[np.ndarray, bool]:
        """(128-d encoding, whether a face was found) for the face nearest the centre, else the central region."""
        img = self.fr.load_image_file(str(path))
        h, w = img.shape[:2]
        locs = self.fr.face_locations(img)
        found = bool(locs)
        if found:
            loc = min(locs, key=lambda b: ((b[1] + b[3]) / 2 - w / 2) ** 2 + ((b[0] + b[2]) / 2 - h / 2) ** 2)
        else:
            loc = (h // 4, 3 * w // 4, 3 * h // 4, w // 4)  # (top, right, bottom, left): the central half
        return np.asarray(self.fr.face_encodings(img, known_face_locations=[loc])[0], np.float32), found


@dataclass
class Speed:
    images: int
    wall_s: float
    cpu_s: float

    @property
    def per_s(self) -> float:
        return self.images / self.wall_s

    @property
    def cpu_ms(self) -> float:
        return 1000 * self.cpu_s / self.images


def timed(fn, paths: list[Path], bar: Progress, label: str) -> Speed:
    for p in paths[:3]:  # warm-up: first-call allocations, lazy initialisation
        fn(p)
    task = bar.add_task(f"speed: {label}", total=len(paths))
    w0, c0 = time.perf_counter(), time.process_time()
    for p in paths:
        fn(p)
        bar.advance(task)
    return Speed(len(paths), time.perf_counter() - w0, time.process_time() - c0)


def subset(pairs: PairsFile, limit: int | None) -> PairsFile:
    """The first `limit` matched and the first `limit` mismatched pairs (View 1 order), as one block."""
    if limit is None:
        return pairs
    same = [p for p in pairs.pairs if p.same][:limit]
    diff = [p for p in pairs.pairs if not p.same][:limit]
    return PairsFile(same + diff, 1)


def write_pairs(pairs: PairsFile, path: Path) -> None:
    """Write a single-block pairs file (header: pairs per kind) that read_pairs reads back identically."""

    def part(p: str) -> tuple[str, int]:
        name, stem = p.split("/")
        return name, int(Path(stem).stem.rsplit("_", 1)[1])

    n = sum(p.same for p in pairs.pairs)
    lines = [str(n)]
    for p in pairs.pairs:
        (a, i), (b, j) = part(p.left), part(p.right)
        lines.append(f"{a} {i} {j}" if p.same else f"{a} {i} {b} {j}")
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=Path(os.environ.get("FACEPRINT_SHARED", Path(__file__).resolve().parents[2] / "shared")))
    ap.add_argument("--limit", type=int, default=None, help="use only the first N matched and N mismatched pairs (N >= 10)")
    ap.add_argument("--speed-images", type=int, default=100, help="images timed end to end per library")
    ap.add_argument("--model", default="dlib-resnet-v1")
    args = ap.parse_args()
    if args.limit is not None and args.limit < 10:
        ap.error("--limit must be at least 10 (one pair of each kind per fold)")
    view1 = args.shared / "data" / "lfw-view1"
    root = view1 / "images"
    pairs = subset(read_pairs(view1 / "pairsDevTest.txt"), args.limit)
    images = pairs.images()
    speed_paths = [root / p for p in images[: args.speed_images]]
    same = np.array([p.same for p in pairs.pairs])
    folds = protocol_folds(pairs)
    index = {p: i for i, p in enumerate(images)}
    left = np.array([index[p.left] for p in pairs.pairs])
    right = np.array([index[p.right] for p in pairs.pairs])

    t = time.perf_counter()
    analyzer = FaceAnalyzer(model=args.model)
    analyzer.embed_one(root / images[0], select="center", fallback_center=True)  # builds every network
    fp_load = time.perf_counter() - t
    fr = FaceRecognitionPipeline()

    with Progress() as bar:
        fp_speed = timed(lambda p: analyzer.embed_one(p, select="center", fallback_center=True), speed_paths, bar, "faceprint")
        fr_speed = timed(fr.embed, speed_paths, bar, f"face_recognition {fr.version}")

        task = bar.add_task("accuracy: face_recognition (uncached)", total=len(images))
        fr_vecs, fr_found = [], []
        for p in images:
            v, ok = fr.embed(root / p)
            fr_vecs.append(v)
            fr_found.append(ok)
            bar.advance(task)
        task = bar.add_task("accuracy: faceprint (cached)", total=len(images))
        with tempfile.TemporaryDirectory() as tmp, EmbeddingCache() as cache:
            pairs_path = view1 / "pairsDevTest.txt"
            if args.limit is not None:
                pairs_path = Path(tmp) / "pairs.txt"
                write_pairs(pairs, pairs_path)
            ev = run_pairs(pairs_path, root, analyzer, cache, on_image=lambda d, n: bar.update(task, completed=d, total=n))

    fr_v = np.stack(fr_vecs)
    fr_d = np.linalg.norm(fr_v[left] - fr_v[right], axis=1)
    fr_res = evaluate_pairs(fr_d, same, folds)
    fp_res = ev.result
    fp_thr = analyzer.embedder.spec.threshold

    def acc(r) -> str:
        return f"{100 * r.accuracy_mean:.2f}% ± {100 * r.accuracy_std:.2f}"

    n_pairs = len(pairs.pairs)
    rows = [
        ("pipeline", "HOG detector, 5-point landmarks, dlib ResNet (dlib-bin)", f"MTCNN, 5-point alignment, {args.model} (ONNX on onnxruntime)"),
        (f"images/s end to end ({len(speed_paths)} images, wall clock)", f"{fr_speed.per_s:.2f}", f"{fp_speed.per_s:.2f}"),
        ("CPU time per image", f"{fr_speed.cpu_ms:.0f} ms", f"{fp_speed.cpu_ms:.0f} ms"),
        ("model loading", f"{fr.load_s:.1f} s (at import)", f"{fp_load:.1f} s (first image)"),
        (f"LFW View 1 DevTest accuracy, 10 folds ({n_pairs} pairs)", acc(fr_res), acc(fp_res)),
        ("accuracy at the library's default threshold",
         f"{100 * accuracy_at(fr_d, same, FR_TOLERANCE):.2f}% (tolerance {FR_TOLERANCE})",
         f"{100 * accuracy_at(ev.distances, same, fp_thr):.2f}% (threshold {fp_thr:g})"),
        ("AUC", f"{fr_res.auc:.4f}", f"{fp_res.auc:.4f}"),
        (f"images without a face (of {len(images)})", str(len(images) - int(sum(fr_found))), str(len(ev.no_face))),
    ]
    print()
    print(f"| LFW View 1 DevTest, {os.cpu_count()} CPU cores | face_recognition {fr.version} | faceprint {__version__} |")
    print("| --- | --- | --- |")
    for name, a, b in rows:
        print(f"| {name} | {a} | {b} |")


if __name__ == "__main__":
    main()
