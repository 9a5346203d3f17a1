"""face_recognition (the dlib-based library most people use) and faceprint side by side, in one run.

    nice -n 10 python bench/compare.py                 # all 1,000 LFW View 1 DevTest pairs (1,549 images)
    python bench/compare.py --limit 20 --speed-images 20   # a quick run: 20 + 20 pairs
    python bench/compare.py --json                     # one JSON object (speedup, accuracies, stages, memory)

Both pipelines see the same images. Speed, on the first --speed-images images, uncached, each library in a fresh
interpreter of its own (so start-up and peak memory are its own), the two run back to back --repeats times (the
speedup is the median of the per-repeat ratios, since the machine is shared):
  * start-up: from the start of the imports to the first image's embedding (models load on the way);
  * ms per image for each stage, one image at a time after a 3-image warm-up: decode (read + decode the file),
    detect, align (faceprint: the crop; face_recognition: its 5-point shape predictor), embed (faceprint: the model
    with its test-time mirroring; face_recognition: chip extraction + ResNet), and their total;
  * images/s end to end the way each library is used on many images: faceprint's overlapped pipeline
    (FaceAnalyzer.analyze_many: decoding and detection in worker threads, faces batched into one embedding call),
    face_recognition's documented calls in a loop (it has no batch API);
  * peak resident memory of that process.
Roofline of the embedding stage, in the same run: the network's FLOPs per face (2 x multiply-accumulates of its
convolutions and matrix products, counted from the float32 ONNX graph, times the forward passes test-time
augmentation makes), the GFLOP/s faceprint achieved (those FLOPs over the embed stage's CPU time per face, one face
at a time as the stage table times it, in batches of 32 as the pipeline embeds, and the best of repeated batches of
32 for two seconds, which is how the peak is measured: one core's worth), and this
CPU's one-core peak measured with onnxruntime dense matrix products (1024^3, float32 MatMul and uint8 x int8
MatMulInteger, one thread: the kernels the networks use). Int8 models count the same multiply-accumulates, as int8
operations. The load average is printed with the figures: on a shared machine the speeds are a floor and the
ratios between the two libraries (measured back to back) are what to compare.
Accuracy: LFW View 1 pairsDevTest.txt with the 10-fold protocol (each fold's threshold chosen on the other nine),
and at each library's default threshold. Both use the face nearest the image centre and, where no face is found,
the central region. faceprint's embeddings come from its on-disk cache when present (the speed pass never uses
it); face_recognition has no cache and embeds every image.

face_recognition installs without its dlib source dependency (dlib comes from dlib-bin):
    .venv/bin/pip install --no-deps face_recognition
"""

from __future__ import annotations

import time

T_START = time.perf_counter()  # speed workers count start-up from here: imports included

import argparse  # noqa: E402
import importlib.metadata  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import types  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import TYPE_CHECKING  # noqa: E402

import numpy as np  # noqa: E402

if TYPE_CHECKING:
    from faceprint.evaluate.lfw import PairsFile

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


STAGES = ("decode", "detect", "align", "embed")


def _rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _centre_box(boxes: list[tuple[int, int, int, int]], h: int, w: int) -> tuple[int, int, int, int]:
    return min(boxes, key=lambda b: ((b[1] + b[3]) / 2 - w / 2) ** 2 + ((b[0] + b[2]) / 2 - h / 2) ** 2)


def speed_faceprint(paths: list[Path], model: str, detector: str, t_start: float) -> dict[str, object]:
    """Start-up (import to first result), per-stage ms one image at a time, then the overlapped pipeline's rate."""
    from faceprint.analyzer import FaceAnalyzer, select_face
    from faceprint.image import load_image

    analyzer = FaceAnalyzer(model=model, detector=detector)
    analyzer.embed_one(paths[0], select="center", fallback_center=True)
    startup = time.perf_counter() - t_start
    for p in paths[:3]:
        analyzer.embed_one(p, select="center", fallback_center=True)
    stage, stage_cpu = dict.fromkeys(STAGES, 0.0), dict.fromkeys(STAGES, 0.0)
    crops = []
    for p in paths:  # one image at a time, each stage timed apart
        clock = _Clock()
        img = load_image(p)
        clock.lap()
        faces = analyzer.detector.detect(img)
        clock.lap()
        crop = analyzer.embedder.align(img, select_face(faces, img.shape, "center")) if faces else analyzer.embedder.center_crop(img)
        clock.lap()
        analyzer.embedder.embed(crop[None])
        clock.lap()
        clock.add_to(stage, stage_cpu)
        crops.append(crop)
    c0 = time.process_time()
    analyzer.embedder.embed(np.stack(crops))  # in the embedder's batches (32), as the pipeline embeds
    batched_cpu_ms = 1000 * (time.process_time() - c0) / len(crops)
    w0, c0 = time.perf_counter(), time.process_time()
    n = sum(1 for _ in analyzer.analyze_many(paths, select="center", fallback_center=True))
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    batch, best, t_end = np.stack(crops[:32]), float("inf"), time.perf_counter() + 2.0
    while time.perf_counter() < t_end:  # the best of repeated batches, the way the peak is measured
        c0 = time.process_time()
        analyzer.embedder.embed(batch)
        best = min(best, time.process_time() - c0)
    rec = _speed_record(stage, stage_cpu, len(paths), n / wall, cpu, startup)
    rec["embed_batched_cpu_ms"] = batched_cpu_ms
    rec["embed_best_batch_cpu_ms"] = 1000 * best / len(batch)
    return rec


def speed_face_recognition(paths: list[Path], t_start: float) -> dict[str, object]:
    """The same for face_recognition's documented calls (align = its 5-point shape predictor; embed = chip + ResNet)."""
    fr = FaceRecognitionPipeline()
    fr.embed(paths[0])
    startup = time.perf_counter() - t_start
    api = fr.fr.api
    for p in paths[:3]:
        fr.embed(p)
    stage, stage_cpu = dict.fromkeys(STAGES, 0.0), dict.fromkeys(STAGES, 0.0)
    for p in paths:
        clock = _Clock()
        img = fr.fr.load_image_file(str(p))
        clock.lap()
        h, w = img.shape[:2]
        locs = fr.fr.face_locations(img)
        clock.lap()
        loc = _centre_box(locs, h, w) if locs else (h // 4, 3 * w // 4, 3 * h // 4, w // 4)
        landmarks = api._raw_face_landmarks(img, [loc], "small")
        clock.lap()
        api.face_encoder.compute_face_descriptor(img, landmarks[0], 1)
        clock.lap()
        clock.add_to(stage, stage_cpu)
    w0, c0 = time.perf_counter(), time.process_time()
    for p in paths:  # face_recognition has no batch API: its users loop
        fr.embed(p)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    rec = _speed_record(stage, stage_cpu, len(paths), len(paths) / wall, cpu, startup)
    rec["version"] = fr.version
    return rec


class _Clock:
    """Wall and process CPU time (all threads) of consecutive stages of one image."""

    def __init__(self) -> None:
        self.marks = [(time.perf_counter(), time.process_time())]

    def lap(self) -> None:
        self.marks.append((time.perf_counter(), time.process_time()))

    def add_to(self, wall: dict[str, float], cpu: dict[str, float]) -> None:
        for k, (w0, c0), (w1, c1) in zip(STAGES, self.marks, self.marks[1:]):
            wall[k] += w1 - w0
            cpu[k] += c1 - c0


def _speed_record(stage: dict[str, float], stage_cpu: dict[str, float], n: int, per_s: float, cpu_s: float, startup: float) -> dict[str, object]:
    ms = {k: 1000 * v / n for k, v in stage.items()}
    ms["total"] = sum(ms.values())
    cpu_ms = {k: 1000 * v / n for k, v in stage_cpu.items()}
    cpu_ms["total"] = sum(cpu_ms.values())
    return {
        "images_per_s": per_s, "cpu_ms_per_image": 1000 * cpu_s / n, "stage_ms": ms, "stage_cpu_ms": cpu_ms,
        "startup_s": startup, "peak_rss_mb": _rss_mb(),
    }  # fmt: skip


def network_flops(onnx_path: Path) -> float:
    """2 x the multiply-accumulates of one forward pass (batch 1) of an ONNX network: Conv, MatMul and Gemm nodes,
    with shapes from onnx's shape inference (symbolic batch set to 1). Elementwise ops, pooling and padding are
    left out (under 1% in these networks)."""
    import onnx
    from onnx import shape_inference

    model = onnx.load(str(onnx_path))
    for d in model.graph.input[0].type.tensor_type.shape.dim:
        if d.dim_param:
            d.dim_value = 1  # the batch
    model = shape_inference.infer_shapes(model, data_prop=True)  # folds the Shape->Reshape chains of torch exports
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in (*model.graph.value_info, *model.graph.output, *model.graph.input)}
    shapes.update({t.name: list(t.dims) for t in model.graph.initializer})
    flops = 0.0
    for n in model.graph.node:
        if n.op_type == "Conv":
            w, out = shapes[n.input[1]], shapes[n.output[0]]  # w: (Cout, Cin/groups, kh, kw); out: (1, Cout, H, W)
            flops += 2.0 * float(np.prod(out)) * float(np.prod(w[1:]))
        elif n.op_type in ("MatMul", "Gemm"):
            a, out = shapes[n.input[0]], shapes[n.output[0]]
            flops += 2.0 * float(np.prod(out)) * a[-1]
    return flops


def embedding_flops(model: str) -> tuple[float, int]:
    """(FLOPs of one forward pass summed over the model's networks, forward passes per face) of a registered model."""
    from faceprint.models import create_embedder
    from faceprint.models.dlib_onnx import build_dlib_onnx
    from faceprint.models.dlib_resnet import DlibResNetEmbedder
    from faceprint.models.ensemble import EnsembleEmbedder

    emb = create_embedder(model)
    members = emb.members if isinstance(emb, EnsembleEmbedder) else [emb]
    total = 0.0
    for m in members:
        passes = (2 if m.spec.flip_average else 1) + m.spec.jitters
        if isinstance(m, DlibResNetEmbedder):
            assert m.spec.weights is not None
            path = build_dlib_onnx(m.spec.weights.locate())
        else:
            path = m.onnx_path()  # type: ignore[attr-defined]
        total += passes * network_flops(path)
    return total, 1


def matmul_peak(n: int = 1024, seconds: float = 2.0) -> dict[str, float]:
    """One core's dense matrix-product rate in GFLOP/s (2 n^3 per product), float32 and uint8 x int8, with
    onnxruntime's own kernels (MatMul, MatMulInteger), one thread; the best of repeated products."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    def session(op: str, ta: int, tb: int, tout: int) -> ort.InferenceSession:
        g = helper.make_graph([helper.make_node(op, ["a", "b"], ["c"])], "mm",
                              [helper.make_tensor_value_info("a", ta, [n, n]), helper.make_tensor_value_info("b", tb, [n, n])],
                              [helper.make_tensor_value_info("c", tout, [n, n])])
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
        m.ir_version = 8
        o = ort.SessionOptions()
        o.intra_op_num_threads = 1
        return ort.InferenceSession(m.SerializeToString(), o, providers=["CPUExecutionProvider"])

    rng = np.random.default_rng(0)
    cases = {
        "float32": (session("MatMul", TensorProto.FLOAT, TensorProto.FLOAT, TensorProto.FLOAT),
                    rng.standard_normal((n, n), np.float32), rng.standard_normal((n, n), np.float32)),
        "int8": (session("MatMulInteger", TensorProto.UINT8, TensorProto.INT8, TensorProto.INT32),
                 rng.integers(0, 256, (n, n), dtype=np.uint8), rng.integers(-128, 128, (n, n), dtype=np.int8)),
    }
    out = {}
    for name, (sess, a, b) in cases.items():
        sess.run(None, {"a": a, "b": b})
        best, t_end = float("inf"), time.perf_counter() + seconds
        while time.perf_counter() < t_end:
            c0 = time.process_time()
            sess.run(None, {"a": a, "b": b})
            best = min(best, time.process_time() - c0)
        out[name] = 2.0 * n**3 / max(best, 1e-9) / 1e9
    return out


def roofline(model: str, embed_cpu_ms: float, batched_cpu_ms: float, best_cpu_ms: float) -> dict[str, object]:
    """The embedding stage against this CPU's measured one-core peak (see the module docstring): one face at a time
    (`embed_cpu_ms`, as the stage table times it), in batches of 32 (`batched_cpu_ms`, as the pipeline runs), and
    the best of repeated batches of 32 (`best_cpu_ms`: measured the way the peak is, the best of repeats, so
    neither figure carries the cache misses and preemptions of a shared machine)."""
    from faceprint.models import get_model_spec
    from faceprint.models.ensemble import parse_ensemble_name

    flops, _ = embedding_flops(model)
    peak = matmul_peak()
    names = parse_ensemble_name(model) if model.startswith("ensemble:") else [model]
    int8 = all(get_model_spec(m).quantization.startswith("int8") for m in names)
    achieved = flops / (embed_cpu_ms / 1000) / 1e9
    batched = flops / (batched_cpu_ms / 1000) / 1e9
    best = flops / (best_cpu_ms / 1000) / 1e9
    ref = peak["int8" if int8 else "float32"]
    return {
        "embed_gflop_per_face": flops / 1e9, "embed_cpu_ms_per_face": embed_cpu_ms, "achieved_gflops": achieved,
        "embed_batched_cpu_ms_per_face": batched_cpu_ms, "achieved_gflops_batched": batched,
        "peak_gflops_float32": peak["float32"], "peak_gops_int8": peak["int8"], "arithmetic": "int8" if int8 else "float32",
        "fraction_of_peak": achieved / ref, "fraction_of_peak_batched": batched / ref,
        "embed_best_batch_cpu_ms_per_face": best_cpu_ms, "achieved_gflops_best": best, "fraction_of_peak_best": best / ref,
    }  # fmt: skip


def run_speed_worker(lib: str, paths: list[Path], model: str, detector: str) -> dict[str, object]:
    """Run one library's speed pass in a fresh interpreter, so start-up and peak memory are its own."""
    cmd = [sys.executable, __file__, "--speed-worker", lib, "--model", model, "--detector", detector, *map(str, paths)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"speed pass of {lib} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def subset(pairs: PairsFile, limit: int | None) -> PairsFile:
    """The first `limit` matched and the first `limit` mismatched pairs (View 1 order), as one block."""
    from faceprint.evaluate.lfw import PairsFile
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
    from faceprint.detect import DEFAULT_DETECTOR
    from faceprint.models import DEFAULT_MODEL

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=Path(os.environ.get("FACEPRINT_SHARED", Path(__file__).resolve().parents[2] / "shared")))
    ap.add_argument("--limit", type=int, default=None, help="use only the first N matched and N mismatched pairs (N >= 10)")
    ap.add_argument("--speed-images", type=int, default=100, help="images timed end to end per library")
    ap.add_argument("--repeats", type=int, default=2, help="speed passes per library, run alternately")
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--detector", default=DEFAULT_DETECTOR)
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    ap.add_argument("--speed-worker", choices=["faceprint", "face_recognition"], help=argparse.SUPPRESS)
    ap.add_argument("paths", nargs="*", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.speed_worker == "faceprint":
        print(json.dumps(speed_faceprint(args.paths, args.model, args.detector, T_START)))
        return
    if args.speed_worker == "face_recognition":
        print(json.dumps(speed_face_recognition(args.paths, T_START)))
        return
    if args.limit is not None and args.limit < 10:
        ap.error("--limit must be at least 10 (one pair of each kind per fold)")
    if args.repeats < 1 or args.speed_images < 4:
        ap.error("--repeats must be at least 1 and --speed-images at least 4")

    from rich.console import Console
    from rich.progress import Progress

    from faceprint import __version__
    from faceprint.analyzer import FaceAnalyzer
    from faceprint.cache import EmbeddingCache
    from faceprint.evaluate.lfw import evaluate_pairs, protocol_folds, read_pairs
    from faceprint.evaluate.metrics import accuracy_at
    from faceprint.evaluate.pairs_run import run_pairs

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

    runs: list[tuple[dict, dict]] = []
    with Progress(console=Console(stderr=True)) as bar:
        task = bar.add_task(f"speed: {args.repeats} x ({len(speed_paths)} images x 2 libraries)", total=2 * args.repeats)
        for _ in range(args.repeats):
            fp_run = run_speed_worker("faceprint", speed_paths, args.model, args.detector)
            bar.advance(task)
            fr_run = run_speed_worker("face_recognition", speed_paths, args.model, args.detector)
            bar.advance(task)
            runs.append((fp_run, fr_run))
        ratios = [fp["images_per_s"] / fr["images_per_s"] for fp, fr in runs]
        mid = sorted(range(len(runs)), key=lambda i: ratios[i])[(len(runs) - 1) // 2]  # the median repeat's figures
        fp_speed, fr_speed = runs[mid]

        fr = FaceRecognitionPipeline()
        task = bar.add_task("accuracy: face_recognition (uncached)", total=len(images))
        fr_vecs, fr_found = [], []
        for p in images:
            v, ok = fr.embed(root / p)
            fr_vecs.append(v)
            fr_found.append(ok)
            bar.advance(task)
        task = bar.add_task("accuracy: faceprint (cached)", total=len(images))
        analyzer = FaceAnalyzer(model=args.model, detector=args.detector)
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
    n_pairs = len(pairs.pairs)
    # one image = one face here (the face nearest the centre), so the embed stage's CPU ms is per face
    roof = roofline(args.model, fp_speed["stage_cpu_ms"]["embed"], fp_speed["embed_batched_cpu_ms"], fp_speed["embed_best_batch_cpu_ms"])
    load = os.getloadavg()
    if args.json:
        print(json.dumps({
            "load_average": load,
            "roofline": roof,
            "faceprint_images_per_s": fp_speed["images_per_s"],
            "face_recognition_images_per_s": fr_speed["images_per_s"],
            "speedup": statistics.median(ratios),
            "speedups": ratios,
            "cpu_speedup": fr_speed["cpu_ms_per_image"] / fp_speed["cpu_ms_per_image"],
            "faceprint_accuracy": fp_res.accuracy_mean,
            "face_recognition_accuracy": fr_res.accuracy_mean,
            "faceprint_stage_ms": fp_speed["stage_ms"],
            "face_recognition_stage_ms": fr_speed["stage_ms"],
            "faceprint_stage_cpu_ms": fp_speed["stage_cpu_ms"],
            "face_recognition_stage_cpu_ms": fr_speed["stage_cpu_ms"],
            "faceprint_startup_s": fp_speed["startup_s"],
            "face_recognition_startup_s": fr_speed["startup_s"],
            "faceprint_peak_rss_mb": fp_speed["peak_rss_mb"],
            "face_recognition_peak_rss_mb": fr_speed["peak_rss_mb"],
            "faceprint_cpu_ms_per_image": fp_speed["cpu_ms_per_image"],
            "face_recognition_cpu_ms_per_image": fr_speed["cpu_ms_per_image"],
            "pairs": n_pairs,
            "speed_images": len(speed_paths),
            "cpu_cores": os.cpu_count(),
            "model": args.model,
            "detector": args.detector,
            "faceprint_version": __version__,
            "face_recognition_version": fr.version,
        }, indent=2))
        return

    def acc(r) -> str:
        return f"{100 * r.accuracy_mean:.2f}% ± {100 * r.accuracy_std:.2f}"

    rows = [
        ("pipeline", "HOG detector, 5-point landmarks, dlib ResNet (dlib-bin)", f"{args.detector}, 5-point alignment, {args.model} (onnxruntime), overlapped pipeline"),
        (f"images/s end to end ({len(speed_paths)} images, wall clock)", f"{fr_speed['images_per_s']:.2f}", f"{fp_speed['images_per_s']:.2f}"),
        ("speedup (median of the per-repeat ratios)", "1", f"{statistics.median(ratios):.2f} ({', '.join(f'{r:.2f}' for r in ratios)})"),
        ("CPU time per image (end to end)", f"{fr_speed['cpu_ms_per_image']:.0f} ms",
         f"{fp_speed['cpu_ms_per_image']:.0f} ms ({fr_speed['cpu_ms_per_image'] / fp_speed['cpu_ms_per_image']:.1f}x less)"),
        *[(f"ms per image: {k} (one image at a time; wall / CPU)",
           f"{fr_speed['stage_ms'][k]:.1f} / {fr_speed['stage_cpu_ms'][k]:.1f}",
           f"{fp_speed['stage_ms'][k]:.1f} / {fp_speed['stage_cpu_ms'][k]:.1f}") for k in (*STAGES, "total")],
        ("start-up (import to first result)", f"{fr_speed['startup_s']:.2f} s", f"{fp_speed['startup_s']:.2f} s"),
        ("peak memory (speed pass process)", f"{fr_speed['peak_rss_mb']:.0f} MiB", f"{fp_speed['peak_rss_mb']:.0f} MiB"),
        (f"LFW View 1 DevTest accuracy, 10 folds ({n_pairs} pairs)", acc(fr_res), acc(fp_res)),
        ("accuracy at the library's default threshold",
         f"{100 * accuracy_at(fr_d, same, FR_TOLERANCE):.2f}% (tolerance {FR_TOLERANCE})",
         f"{100 * accuracy_at(ev.distances, same, fp_thr):.2f}% (threshold {fp_thr:g})"),
        ("AUC", f"{fr_res.auc:.4f}", f"{fp_res.auc:.4f}"),
        ("embedding: GFLOP per face (forward passes incl. mirroring)", "", f"{roof['embed_gflop_per_face']:.3f}"),
        (f"embedding: achieved {roof['arithmetic']} GFLOP/s of one core, one face at a time / batches of 32 / best batch of 32", "",
         f"{roof['achieved_gflops']:.0f} / {roof['achieved_gflops_batched']:.0f} / {roof['achieved_gflops_best']:.0f} = "
         f"{100 * roof['fraction_of_peak']:.0f}% / {100 * roof['fraction_of_peak_batched']:.0f}% / "
         f"{100 * roof['fraction_of_peak_best']:.0f}% of the measured peak"),
        ("one-core peak, dense 1024^3 products (onnxruntime)", "",
         f"float32 {roof['peak_gflops_float32']:.1f} GFLOP/s, int8 {roof['peak_gops_int8']:.1f} GOP/s"),
        (f"images without a face (of {len(images)})", str(len(images) - int(sum(fr_found))), str(len(ev.no_face))),
    ]
    print()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores"
          + (": the machine is shared, so these speeds are a floor; compare the ratios" if load[0] > 1 else ""))
    print(f"| LFW View 1 DevTest, {os.cpu_count()} CPU cores | face_recognition {fr.version} | faceprint {__version__} |")
    print("| --- | --- | --- |")
    for name, a, b in rows:
        print(f"| {name} | {a} | {b} |")


if __name__ == "__main__":
    main()
