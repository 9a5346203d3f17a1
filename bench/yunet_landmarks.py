"""Where YuNet puts the five landmarks compared with MTCNN, on LFW View 1 pairsDevTrain.txt images (never DevTest).

    python bench/yunet_landmarks.py [--limit 500]

Every alignment template in faceprint was fitted to MTCNN's landmarks. For each DevTrain image where both detectors
find the face nearest the centre, both sets of points are mapped into a fixed face frame (the similarity that takes
YuNet's points onto the dlib-chip-150 template, 150 pixels) and the table prints the mean and spread of
MTCNN - YuNet per point. The means are YuNetDetector's LANDMARK_OFFSETS. MTCNN's faces come from the embedding
cache when `eval pairs --detector mtcnn` stored them, else MTCNN runs here.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from faceprint.align import get_template
from faceprint.align.affine import estimate_similarity
from faceprint.analyzer import select_face
from faceprint.cache import EmbeddingCache
from faceprint.detect import create_detector
from faceprint.detect.yunet import FRAME_TEMPLATE
from faceprint.evaluate.lfw import read_pairs
from faceprint.image import load_image
from faceprint.types import LANDMARK_NAMES


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=Path(os.environ.get("FACEPRINT_SHARED", Path(__file__).resolve().parents[2] / "shared")))
    ap.add_argument("--limit", type=int, default=None, help="first N DevTrain images only")
    args = ap.parse_args()
    view1 = args.shared / "data" / "lfw-view1"
    names = read_pairs(view1 / "pairsDevTrain.txt").images()[: args.limit]
    frame = get_template(FRAME_TEMPLATE).points_array(150, 0.0)
    yunet = create_detector("yunet", landmark_offsets=None)  # raw network points
    mtcnn = create_detector("mtcnn")
    diffs = []
    with EmbeddingCache() as cache:
        for name in names:
            path = view1 / "images" / name
            img = load_image(path)
            hit = cache.get("dlib-resnet-v1", path, detector="mtcnn")
            if hit is not None:
                ref = hit.face
            else:
                faces = mtcnn.detect(img)
                ref = select_face(faces, img.shape, "center") if faces else None
            faces = yunet.detect(img)
            if ref is None or not faces:
                continue
            y = select_face(faces, img.shape, "center").landmarks_array().astype(np.float64)
            m = ref.landmarks_array().astype(np.float64)
            if np.abs(y - m).max() > 0.5 * np.linalg.norm(m[1] - m[0]):  # different faces chosen
                continue
            t = estimate_similarity(y, frame)
            diffs.append((m @ t[:, :2].T + t[:, 2]) - (y @ t[:, :2].T + t[:, 2]))
    d = np.array(diffs)
    print(f"| point ({len(d)} DevTrain faces, 150-pixel frame) | mean MTCNN - YuNet (x, y) | std (x, y) |")
    print("| --- | --- | --- |")
    for i, n in enumerate(LANDMARK_NAMES):
        print(f"| {n} | {d[:, i, 0].mean():+.2f}, {d[:, i, 1].mean():+.2f} | {d[:, i, 0].std():.2f}, {d[:, i, 1].std():.2f} |")
    print("LANDMARK_OFFSETS =", tuple((round(float(x), 2), round(float(y), 2)) for x, y in d.mean(0)))


if __name__ == "__main__":
    main()
