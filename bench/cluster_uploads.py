"""What keeping unknown faces of uploads (`faceprint serve --cluster-unknown`) costs as the stored clusters grow.

    python bench/cluster_uploads.py --sizes 500 2000 5000

For each size N: a SQLite gallery holding N clustered faces kept from uploads (synthetic unit vectors around
N/4 people, each with a 6 kB crop, the size of the 128 px JPEG the service keeps), then the time to keep one more
upload face (`faceprint.cluster.review.keep_unknown`: load the clusters, join the new face, store them) and of its
last step alone (store the clusters after one face joined them: what format 2 made incremental), the time
to read the clusters once (what GET /v1/clusters pays when the gallery changed; later reads and thumbnails reuse
it) and the size of the stored clustering (its header blob and its face rows, gallery/stored_clusters.py). Minimum
of 3 runs; the load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import base64
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from faceprint.cluster.collect import CollectedFace
from faceprint.cluster.methods import cluster_vectors
from faceprint.cluster.review import keep_unknown
from faceprint.cluster.saved import SavedClusters
from faceprint.gallery.store import Gallery as Store
from faceprint.types import Face

MODEL = "dlib-resnet-v1"


def _face(i: int) -> Face:
    return Face((0.0, 0.0, 80.0, 80.0 + i % 97), 0.99, tuple((float(k), 5.0) for k in range(5)))  # type: ignore[arg-type]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[500, 2000])
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    crop = os.urandom(6000)
    table = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            centers = rng.standard_normal((max(1, n // 4), 128))
            v = centers[rng.integers(0, len(centers), n)] + 0.15 * rng.standard_normal((n, 128))
            v = (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)
            faces = [CollectedFace(f"upload:{i:064x}", _face(i), v[i], 0.0) for i in range(n)]
            labels = cluster_vectors(v, method="agglomerative", threshold=0.51, min_size=2, metric="euclidean")
            saved = SavedClusters.from_labels(faces, labels, model=MODEL, metric="euclidean", method="agglomerative",
                                              threshold=0.51, min_size=2)
            saved.extras = {f.id: {"crop": base64.b64encode(crop).decode(), "created": 1.0, "sha256": "0" * 64} for f in saved.faces}
            with Store(Path(tmp) / f"g{n}.sqlite") as st:
                saved.save(st)
                keep, read, write = [], [], []
                for k in range(3):  # the write alone: one face joins clusters already read, then they are stored
                    q = v[-k] + 0.1 * rng.standard_normal(128)
                    loaded = SavedClusters.load(st, MODEL)
                    assert loaded is not None
                    loaded.add([CollectedFace(f"upload:{10**7 + k:064x}", _face(10**7 + k), (q / np.linalg.norm(q)).astype(np.float32), 0.0)])
                    t = time.perf_counter()
                    loaded.save(st)
                    write.append(time.perf_counter() - t)
                for k in range(3):
                    q = v[k] + 0.1 * rng.standard_normal(128)
                    q = (q / np.linalg.norm(q)).astype(np.float32)
                    t = time.perf_counter()
                    keep_unknown(st, MODEL, "euclidean", [(_face(10**6 + k), q, crop)], f"{k:064x}")
                    keep.append(time.perf_counter() - t)
                    t = time.perf_counter()
                    SavedClusters.load(st, MODEL)
                    read.append(time.perf_counter() - t)
                key = SavedClusters.blob_key(st, MODEL)
                blob = st.get_blob(key)
                assert blob is not None
                rows = st.cluster_face_rows(key) if hasattr(st, "cluster_face_rows") else []  # (one blob before format 2)
                mb = (len(str(blob[0])) + len(blob[1]) + sum(len(r) + len(v) for _, r, v in rows)) / 1e6
            table.append((n, len(saved.clusters()), 1000 * min(write), 1000 * min(keep), 1000 * min(read), mb))
    print(f"load average {os.getloadavg()[0]:.1f} (cores: {os.cpu_count()}); CPU s of the process {time.process_time():.1f}")
    print(f"{'stored faces':>12} {'clusters':>9} {'store one (ms)':>15} {'keep one (ms)':>14} {'read all (ms)':>14} {'stored (MB)':>12}")
    for n, c, w, k, r, mb in table:
        print(f"{n:>12} {c:>9} {w:>15.1f} {k:>14.0f} {r:>14.0f} {mb:>12.1f}")


if __name__ == "__main__":
    main()
