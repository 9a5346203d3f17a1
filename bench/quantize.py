"""int8 networks: measure their calibration tables on LFW DevTrain, and their parity with float32 on real images.

    python bench/quantize.py calibrate                    # every table (dlib, facenet, yunet) from DevTrain
    python bench/quantize.py calibrate --network dlib     # one of them
    python bench/quantize.py parity                       # dlib-resnet-v1 vs -int8 under mtcnn, yunet, yunet-int8
    python bench/quantize.py parity --models facenet-inception-resnet-v1 --detectors yunet

`calibrate` writes ``src/faceprint/models/calibration/<network>.json`` (the activation ranges that
faceprint.models.quantize builds the int8 networks from). Its images: every CALIBRATION_STEP-th image of LFW View
1 pairsDevTrain.txt in sorted order (DevTest is never read), the faces found by CALIBRATION_DETECTOR, each chip and
its mirror image (the models average both), or for YuNet the whole photos as the detector sees them.

`parity` embeds every image of pairsDevTrain.txt and pairsDevTest.txt with each model and its ``-int8`` twin on
the same detections (the face nearest the centre; the central region where none is found) and prints, per
detector and model: the 10-fold accuracy and the accuracy at the model's own threshold on both pair sets, the
cosine between the float32 and int8 vectors of the same crop, the verification decisions (at the float32
model's threshold) that differ between the two, and the embedding CPU time per face. Vectors go to faceprint's
embedding cache (keyed by model identity and detector), so re-runs and bench/compare.py's accuracy pass reuse them.
DevTrain is for choosing; the DevTest columns are reported, never chosen on.
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
CALIBRATION_STEP = 14
"""Every 14th DevTrain photo in sorted order: 246 photos, enough for MinMax ranges (which the extremes decide) and a
minute to run."""
CALIBRATION_DETECTOR = "yunet"
NETWORKS = ("dlib", "facenet", "yunet")


def view1(shared: Path) -> Path:
    d = shared / "data" / "lfw-view1"
    if not (d / "pairsDevTrain.txt").is_file():
        sys.exit(f"LFW View 1 not found under {d} (give --shared DIR, the folder holding data/lfw-view1)")
    return d


def calibration_images(shared: Path) -> list[Path]:
    """The DevTrain photos the tables are measured on (never DevTest)."""
    from faceprint.evaluate.lfw import read_pairs

    d = view1(shared)
    names = sorted(read_pairs(d / "pairsDevTrain.txt").images())
    return [d / "images" / n for n in names[::CALIBRATION_STEP]]


def face_chips(paths: list[Path], model: str) -> np.ndarray:
    """Each photo's face nearest the centre (CALIBRATION_DETECTOR), cropped the way `model` crops it."""
    from faceprint.analyzer import FaceAnalyzer, select_face

    an = FaceAnalyzer(model=model, detector=CALIBRATION_DETECTOR)
    chips = []
    for p in paths:
        img = an.load(p)
        faces = an.detector.detect(img)
        chips.append(an.embedder.align(img, select_face(faces, img.shape, "center")) if faces else an.embedder.center_crop(img))
    return np.stack(chips)


def with_mirrors(chips: np.ndarray, batch: int = 16) -> list[np.ndarray]:
    both = np.concatenate([chips, chips[:, :, ::-1]]).astype(np.float32)
    return [both[i : i + batch] for i in range(0, len(both), batch)]


def calibrate(network: str, shared: Path) -> Path:
    from faceprint.models.quantize import CALIBRATION_DIR, collect_ranges

    paths = calibration_images(shared)
    t = time.perf_counter()
    if network == "dlib":
        from faceprint.models.dlib_onnx import build_dlib_onnx
        from faceprint.models.dlib_resnet import DLIB_RESNET_V1, INT8_TABLE

        assert DLIB_RESNET_V1.weights is not None
        src, table = build_dlib_onnx(DLIB_RESNET_V1.weights.locate()), INT8_TABLE
        batches = with_mirrors(face_chips(paths, "dlib-resnet-v1"))
    elif network == "facenet":
        from faceprint.models import create_embedder
        from faceprint.models.facenet import INT8_TABLE

        emb = create_embedder("facenet-inception-resnet-v1")
        src, table = emb.onnx_path(), INT8_TABLE  # type: ignore[attr-defined]
        batches = with_mirrors(face_chips(paths, "facenet-inception-resnet-v1"))
    else:
        from faceprint.detect.yunet import INT8_TABLE, YUNET_WEIGHTS, relaxed_yunet, yunet_blobs

        src, table = relaxed_yunet(YUNET_WEIGHTS.locate(verify=True)), INT8_TABLE
        batches = yunet_blobs(paths)
    out = collect_ranges(src, batches, CALIBRATION_DIR / f"{table}.json")
    print(f"{network}: {len(paths)} DevTrain photos, {len(batches)} batches -> {out} ({out.stat().st_size} bytes, {time.perf_counter() - t:.0f} s)")
    return out


# ---------------------------------------------------------------------------------------------------------------


def detect_all(detector_name: str, paths: list[Path]) -> tuple[list, float]:
    """The detections of every photo (all faces), and the detector's CPU ms per photo."""
    from faceprint.detect import create_detector
    from faceprint.image import load_image

    det = create_detector(detector_name)
    out, cpu = [], 0.0
    for p in paths:
        img = load_image(p)
        c = time.process_time()
        out.append(det.detect(img))
        cpu += time.process_time() - c
    return out, 1000 * cpu / len(paths)


def embed_all(model: str, detector: str, paths: list[Path], detections: list) -> tuple[np.ndarray, float]:
    """Every photo's vector (face nearest the centre, else the central region) through faceprint's embedding cache;
    returns the vectors and the CPU ms per face of the embeddings computed here (nan when all were cached)."""
    from faceprint.analyzer import select_face
    from faceprint.cache import EmbeddingCache
    from faceprint.image import load_image
    from faceprint.models import create_embedder

    emb = None
    vecs: list[np.ndarray | None] = [None] * len(paths)
    cpu, n = 0.0, 0
    with EmbeddingCache() as cache:
        todo = []
        for i, p in enumerate(paths):
            hit = cache.get(model, p, detector=detector)
            if hit is None:
                todo.append(i)
            else:
                vecs[i] = hit.vector
        for start in range(0, len(todo), 32):
            if emb is None:
                emb = create_embedder(model)
                emb.embed(np.zeros((1, emb.spec.input_size, emb.spec.input_size, 3), np.uint8))  # build + warm up
            part = todo[start : start + 32]
            crops, chosen = [], []
            for i in part:
                img = load_image(paths[i])
                faces = detections[i]
                face = select_face(faces, img.shape, "center") if faces else None
                chosen.append(face)
                crops.append(emb.align(img, face) if face is not None else emb.center_crop(img))
            c = time.process_time()
            out = emb.embed(np.stack(crops)).vectors
            cpu += time.process_time() - c
            n += len(part)
            for i, face, v in zip(part, chosen, out):
                vecs[i] = v
                cache.put(model, paths[i], v, face, len(detections[i]), detector=detector)
    return np.stack(vecs), (1000 * cpu / n if n else float("nan"))  # type: ignore[arg-type]


def parity(models: list[str], detectors: list[str], shared: Path) -> list[dict]:
    from faceprint.evaluate.lfw import evaluate_pairs, protocol_folds, read_pairs
    from faceprint.evaluate.metrics import accuracy_at
    from faceprint.models import get_model_spec
    from faceprint.types import paired_distances

    d = view1(shared)
    sets = {name: read_pairs(d / f"pairs{name}.txt") for name in ("DevTrain", "DevTest")}
    names = list(dict.fromkeys(n for s in sets.values() for n in s.images()))
    paths = [d / "images" / n for n in names]
    index = {n: i for i, n in enumerate(names)}
    rows = []
    for det in detectors:
        t = time.perf_counter()
        detections, det_cpu = detect_all(det, paths)
        print(f"# {det}: {len(paths)} photos detected in {time.perf_counter() - t:.0f} s, {det_cpu:.2f} CPU ms/photo, "
              f"load {os.getloadavg()[0]:.1f}", file=sys.stderr, flush=True)
        for model in models:
            vec: dict[str, tuple[np.ndarray, float]] = {}
            for m in (model, f"{model}-int8"):
                t = time.perf_counter()
                vec[m] = embed_all(m, det, paths, detections)
                print(f"# {det} {m}: {time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)
            f32, i8 = vec[model][0], vec[f"{model}-int8"][0]
            cos = np.sum(f32 * i8, 1) / (np.linalg.norm(f32, axis=1) * np.linalg.norm(i8, axis=1))
            thr = get_model_spec(model).threshold
            for m, (v, cpu_ms) in vec.items():
                spec = get_model_spec(m)
                row: dict[str, object] = {"detector": det, "model": m, "embed_cpu_ms_per_face": cpu_ms, "detect_cpu_ms_per_photo": det_cpu,
                                          "no_face": sum(not f for f in detections)}
                if m != model:
                    row["cosine_mean"], row["cosine_min"] = float(cos.mean()), float(cos.min())
                for sname, pairs in sets.items():
                    left = np.array([index[p.left] for p in pairs.pairs])
                    right = np.array([index[p.right] for p in pairs.pairs])
                    same = np.array([p.same for p in pairs.pairs])
                    dist = paired_distances(v[left], v[right], spec.metric)
                    res = evaluate_pairs(dist, same, protocol_folds(pairs))
                    row[f"{sname}_10fold"] = res.accuracy_mean
                    row[f"{sname}_std"] = res.accuracy_std
                    row[f"{sname}_at_threshold"] = accuracy_at(dist, same, spec.threshold)
                    row[f"{sname}_best_threshold"] = res.threshold
                    if m != model:
                        d32 = paired_distances(f32[left], f32[right], spec.metric)
                        row[f"{sname}_flips"] = int(np.sum((d32 <= thr) != (dist <= thr)))
                rows.append(row)
    return rows


def print_parity(rows: list[dict]) -> None:
    def pct(x: object) -> str:
        return f"{100 * float(x):.2f}"  # type: ignore[arg-type]

    print(f"\nload average {' '.join(f'{x:.1f}' for x in os.getloadavg())} ({os.cpu_count()} cores); CPU ms are process time")
    print("| detector | model | DevTrain 10-fold % | DevTrain @thr % | DevTest 10-fold % | DevTest @thr % | cosine to float32 (mean / min) "
          "| decisions flipped DevTrain / DevTest | embed CPU ms/face | detect CPU ms/photo |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        cos = f"{r['cosine_mean']:.5f} / {r['cosine_min']:.4f}" if "cosine_mean" in r else "1 (reference)"
        flips = f"{r['DevTrain_flips']} of 2200 / {r['DevTest_flips']} of 1000" if "DevTrain_flips" in r else "-"
        print(f"| {r['detector']} | {r['model']} | {pct(r['DevTrain_10fold'])} ± {pct(r['DevTrain_std'])} | {pct(r['DevTrain_at_threshold'])} "
              f"| {pct(r['DevTest_10fold'])} ± {pct(r['DevTest_std'])} | {pct(r['DevTest_at_threshold'])} | {cos} | {flips} "
              f"| {r['embed_cpu_ms_per_face']:.2f} | {r['detect_cpu_ms_per_photo']:.2f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=("calibrate", "parity"))
    ap.add_argument("--shared", type=Path, default=SHARED, help="folder holding data/lfw-view1")
    ap.add_argument("--network", choices=NETWORKS, action="append", help="calibrate: which table (default: all)")
    ap.add_argument("--models", nargs="+", default=["dlib-resnet-v1"], help="parity: float32 models (each is compared with its -int8)")
    ap.add_argument("--detectors", nargs="+", default=["mtcnn", "yunet", "yunet-int8"])
    ap.add_argument("--json", action="store_true", help="parity: print the rows as JSON too")
    args = ap.parse_args()
    if args.what == "calibrate":
        for net in args.network or NETWORKS:
            calibrate(net, args.shared)
        return
    rows = parity(args.models, args.detectors, args.shared)
    print_parity(rows)
    if args.json:
        print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
