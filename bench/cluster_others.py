"""How photo libraries cluster faces, re-implemented on faceprint's vectors for `bench/cluster.py`'s comparison.

Written from the projects' documentation and settings (read, not copied); each function returns one label per face,
-1 for a face left without a person. The libraries use their own models: Immich ArcFace (buffalo_l, 512-d, unit
length), PhotoPrism a 512-d FaceNet (unit length), Nextcloud Recognize 128-d face-api.js vectors in older releases
and 1,024-d ones now. Their distances are for unit vectors, so the vectors are L2-normalised first; "literal" rows
use the libraries' numbers as they are, "chosen on DevTrain" rows keep the algorithm and take the distance that
scores best on the DevTrain collection (`python bench/cluster.py --sweep`).

* Immich (`machineLearning.facialRecognition`: minFaces 3, maxDistance 0.5 cosine distance), incremental: each face
  in turn searches the faces within maxDistance (itself included, nearest first, at most minFaces of them); with
  fewer than minFaces the face is deferred. Otherwise it takes the person of the first match that has one, else of
  the nearest face within maxDistance that has one, else it founds a new person. Deferred faces then go through the
  same steps once more, except that they may not found a person.
* PhotoPrism (`--face-cluster-dist 0.64`, `--face-cluster-core 4`): DBSCAN with eps 0.64 (Euclidean) and 4 faces to
  form a core.
* Nextcloud Recognize (`FaceClusterAnalyzer`): HDBSCAN with min cluster size round(clip(n ** (1 / 4.7), 2, 5)) and
  min samples round(clip(n ** (1 / 5.6), 2, 4)) for n faces, and a minimum cluster separation of 0.35, taken here
  as scikit-learn's cluster_selection_epsilon; its maximum cluster edge length (0.5) has no scikit-learn
  counterpart and is left out.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["immich", "nextcloud_hdbscan", "photoprism_dbscan", "unit"]


def unit(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (the libraries compare unit vectors)."""
    x = np.asarray(vectors, np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def immich(vectors: np.ndarray, max_distance: float = 0.5, min_faces: int = 3) -> np.ndarray:
    """Immich's incremental clustering (see the module docstring); `max_distance` is a cosine distance."""
    from sklearn.neighbors import NearestNeighbors

    x = unit(vectors)
    n = len(x)
    radius = math.sqrt(2.0 * max_distance)  # cosine distance d <=> Euclidean sqrt(2 d) between unit vectors
    _, near = NearestNeighbors(radius=radius).fit(x).radius_neighbors(x, sort_results=True)
    person = np.full(n, -1, np.int64)
    founded = 0

    def visit(i: int, deferred: bool) -> bool:
        nonlocal founded
        matches = near[i][:min_faces]
        core = len(matches) >= min_faces
        if not core and not deferred:
            return False
        if min_faces > 1 and len(matches) <= 1:  # only itself: nobody to join
            return True
        pid = next((int(person[j]) for j in matches if person[j] >= 0), -1)
        if pid < 0:
            pid = next((int(person[j]) for j in near[i] if person[j] >= 0), -1)
        if pid < 0 and core:
            pid, founded = founded, founded + 1
        if pid >= 0:
            person[i] = pid
        return True

    later = [i for i in range(n) if not visit(i, deferred=False)]
    for i in later:
        if person[i] < 0:
            visit(i, deferred=True)
    return person


def photoprism_dbscan(vectors: np.ndarray, eps: float = 0.64, core: int = 4) -> np.ndarray:
    """PhotoPrism's DBSCAN: eps in Euclidean distance between unit vectors, `core` faces to form a core."""
    from sklearn.cluster import DBSCAN

    return DBSCAN(eps=eps, min_samples=core).fit_predict(unit(vectors)).astype(np.int64)


def nextcloud_hdbscan(vectors: np.ndarray, separation: float = 0.35) -> tuple[np.ndarray, bool]:
    """Nextcloud Recognize's HDBSCAN settings for n faces, on unit vectors: (labels, whether the separation was
    applied). If scikit-learn's epsilon search fails on these vectors (a TypeError in scikit-learn 1.9, see
    `faceprint.cluster.methods`), it runs without it."""
    from sklearn.cluster import HDBSCAN

    x = unit(vectors)
    n = len(x)
    size = round(max(2.0, min(5.0, n ** (1 / 4.7))))
    samples = round(max(2.0, min(4.0, n ** (1 / 5.6))))
    try:
        model = HDBSCAN(min_cluster_size=size, min_samples=samples, cluster_selection_epsilon=separation, copy=True)
        return model.fit_predict(x).astype(np.int64), True
    except TypeError:
        return HDBSCAN(min_cluster_size=size, min_samples=samples, copy=True).fit_predict(x).astype(np.int64), False
