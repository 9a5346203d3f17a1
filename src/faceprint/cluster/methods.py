"""Clustering face embeddings: Chinese Whispers over a kNN graph, scikit-learn's HDBSCAN, average-linkage
agglomerative; and the cannot-link rule that two faces of one photo are never the same person.

Every method returns one integer label per face: clusters are 0, 1, 2... (largest first) and -1 is a face left
alone (noise, a cluster smaller than ``min_size``, or a face the cannot-link rule pushed out).

Nothing here is O(n^2) in memory: neighbours come from an exact kNN search done in blocks (FAISS when the
``faiss`` extra is installed), and average linkage runs per connected component of the thresholded kNN graph.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal

import numpy as np

from faceprint._extras import optional_module
from faceprint.errors import FaceprintError
from faceprint.types import pairwise_distances

__all__ = ["METHODS", "Method", "cannot_link", "cluster_vectors", "knn", "relabel"]

log = logging.getLogger(__name__)

Method = Literal["chinese-whispers", "hdbscan", "agglomerative"]
METHODS: tuple[str, ...] = ("agglomerative", "chinese-whispers", "hdbscan")

DENSE_COMPONENT = 12000
"""Components up to this size get exact average linkage on their full distance matrix; larger ones the
kNN-graph-constrained average linkage of scikit-learn."""

HDBSCAN_MIN_CLUSTER = 3
"""HDBSCAN's smallest cluster: BCubed F 0.942 on the dev collection of `bench/cluster.py --sweep` against 0.857 at 2."""

EXACT_KNN = 50_000
"""Up to this many faces the kNN graph is exact; above, FAISS's inverted-file index (when installed)."""

IVF_NPROBE = 16
"""Inverted lists each query scans (of 4 sqrt(n)): it finds 99.94% of the exact neighbours within the default
threshold on 100k synthetic vectors (`python bench/cluster.py --synthetic 100000 --knn-recall`)."""

_BIG = 1e6
"""The distance given to two faces of one photo before average linkage: no merge at a usable threshold."""


def knn(vectors: np.ndarray, k: int, metric: str = "euclidean", block: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest neighbours of every row among the others: (distances, indices), each (n, k), nearest first.

    With FAISS (the ``faiss`` extra): exact up to `EXACT_KNN` rows, an inverted-file index above (index -1 and
    distance inf where fewer than k were found). Without it: exact, in blocks of rows (a block x n distance
    matrix at a time).
    """
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    n = len(x)
    k = max(0, min(k, n - 1))
    if k == 0:
        return np.zeros((n, 0), np.float32), np.zeros((n, 0), np.int64)
    if metric == "cosine":
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    try:
        import faiss  # type: ignore[import-not-found]
    except ImportError:
        faiss = None
    if faiss is not None:
        dim = x.shape[1]
        flat = faiss.IndexFlatIP(dim) if metric == "cosine" else faiss.IndexFlatL2(dim)
        if n > EXACT_KNN:
            # Inverted lists: each query scans the nprobe lists nearest it instead of every vector.
            nlist = int(4 * np.sqrt(n))
            kind = faiss.METRIC_INNER_PRODUCT if metric == "cosine" else faiss.METRIC_L2
            index = faiss.IndexIVFFlat(flat, dim, nlist, kind)
            index.train(x[np.random.default_rng(0).choice(n, size=min(n, 64 * nlist), replace=False)])
            index.nprobe = IVF_NPROBE
        else:
            index = flat
        index.add(x)
        d, i = index.search(x, k + 1)
        i = i.astype(np.int64)
        d = 1.0 - d if metric == "cosine" else np.sqrt(np.maximum(d, 0.0))
    else:
        d = np.empty((n, k + 1), np.float32)
        i = np.empty((n, k + 1), np.int64)
        for s in range(0, n, block):
            dist = pairwise_distances(x[s : s + block], x, metric)
            part = np.argpartition(dist, k, axis=1)[:, : k + 1]
            pd = np.take_along_axis(dist, part, axis=1)
            order = np.argsort(pd, axis=1, kind="stable")
            i[s : s + block] = np.take_along_axis(part, order, axis=1)
            d[s : s + block] = np.take_along_axis(pd, order, axis=1)
    # Drop each row's own entry (normally first; with duplicates it may sit elsewhere).
    own = i == np.arange(n)[:, None]
    keep = ~own
    rows_without_self = keep.sum(1) == k + 1  # self not found (exact duplicates filled the list): drop the last
    keep[rows_without_self, -1] = False
    return d[keep].reshape(n, k).astype(np.float32), i[keep].reshape(n, k)


def _edges(dist: np.ndarray, idx: np.ndarray, threshold: float, groups: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Undirected kNN edges (a < b) at or below the threshold, without edges between faces of one photo."""
    n, k = idx.shape
    a = np.repeat(np.arange(n), k)
    b = idx.ravel()
    w = dist.ravel()
    m = (w <= threshold) & (b >= 0) & (a != b)
    if groups is not None:
        m &= groups[a] != groups[np.maximum(b, 0)]
    a, b, w = a[m], b[m], w[m]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    key = lo * n + hi
    _, first = np.unique(key, return_index=True)
    return lo[first], hi[first], w[first]


def _chinese_whispers(
    vectors: np.ndarray, threshold: float, metric: str, groups: np.ndarray | None, k: int, seed: int
) -> np.ndarray:
    optional_module("networkx", extra="cluster")
    optional_module("chinese_whispers", "chinese-whispers", "cluster")
    import networkx as nx
    from chinese_whispers import chinese_whispers

    n = len(vectors)
    dist, idx = knn(vectors, k, metric)
    a, b, w = _edges(dist, idx, threshold, groups)
    g = nx.Graph()
    g.add_nodes_from(range(n))
    g.add_edges_from((int(x), int(y), {"weight": 1.0}) for x, y in zip(a, b))
    chinese_whispers(g, weighting="top", iterations=20, seed=seed)
    return np.array([g.nodes[i]["label"] for i in range(n)], dtype=np.int64)


def _hdbscan(vectors: np.ndarray, metric: str, min_size: int) -> np.ndarray:
    optional_module("sklearn", "scikit-learn", "cluster")
    from sklearn.cluster import HDBSCAN

    x = np.asarray(vectors, np.float64)
    if metric == "cosine":  # on unit vectors Euclidean distance orders pairs as cosine distance does
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    if len(x) < 2:
        return np.full(len(x), -1, np.int64)
    # No cluster_selection_epsilon: scikit-learn 1.9's epsilon search fails on face embeddings (TypeError in
    # traverse_upwards), and HDBSCAN picks its own density levels anyway.
    model = HDBSCAN(min_cluster_size=max(HDBSCAN_MIN_CLUSTER, min_size), copy=True)
    return model.fit_predict(x).astype(np.int64)


def _agglomerative(
    vectors: np.ndarray, threshold: float, metric: str, groups: np.ndarray | None, k: int
) -> np.ndarray:
    optional_module("scipy", extra="cluster")
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial.distance import squareform

    n = len(vectors)
    labels = np.full(n, -1, np.int64)
    if n == 0:
        return labels
    dist, idx = knn(vectors, k, metric)
    # Average linkage never joins two groups without a pair at or below the threshold, so it can run per
    # connected component of the threshold graph (same-photo pairs stay in: they only raise an average).
    a, b, _ = _edges(dist, idx, threshold, None)
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n))
    n_comp, comp = connected_components(graph, directed=False)
    order = np.argsort(comp, kind="stable")
    bounds = np.flatnonzero(np.diff(comp[order])) + 1
    next_label = 0
    for members in np.split(order, bounds):
        if len(members) == 1:
            labels[members] = next_label
            next_label += 1
            continue
        if len(members) <= DENSE_COMPONENT:
            d = pairwise_distances(vectors[members], vectors[members], metric)
            if groups is not None:
                g = groups[members]
                d[g[:, None] == g[None, :]] = _BIG
            np.fill_diagonal(d, 0.0)
            condensed = squareform(d, checks=False).astype(np.float64)
            del d
            tree = linkage(condensed, method="average")
            sub = fcluster(tree, t=threshold, criterion="distance") - 1
        else:
            sub = _agglomerative_sparse(vectors[members], threshold, metric, k)
        labels[members] = sub + next_label
        next_label += int(sub.max()) + 1
    log.info("agglomerative: %d faces, %d components of the threshold graph", n, n_comp)
    return labels


def _agglomerative_sparse(vectors: np.ndarray, threshold: float, metric: str, k: int) -> np.ndarray:
    """Average linkage constrained to a (connected) kNN graph: scikit-learn's, for components too big for a full
    distance matrix."""
    optional_module("sklearn", "scikit-learn", "cluster")
    from scipy.sparse import coo_matrix
    from sklearn.cluster import AgglomerativeClustering

    dist, idx = knn(vectors, k, metric)
    n = len(vectors)
    rows, cols = np.repeat(np.arange(n), idx.shape[1]), idx.ravel()
    found = cols >= 0
    conn = coo_matrix((np.ones(int(found.sum())), (rows[found], cols[found])), shape=(n, n)).tocsr()
    model = AgglomerativeClustering(
        n_clusters=None, distance_threshold=threshold, linkage="average", connectivity=conn,
        metric="cosine" if metric == "cosine" else "euclidean",
    )
    return model.fit_predict(vectors).astype(np.int64)


def cannot_link(
    labels: np.ndarray, vectors: np.ndarray, groups: np.ndarray, metric: str = "euclidean"
) -> tuple[np.ndarray, list[int]]:
    """Enforce "two faces of one photo are different people": where a cluster holds several faces of one photo,
    keep the one nearest (on average) to the rest of the cluster and leave the others alone (-1).

    Returns the new labels and the indices of the faces pushed out.
    """
    out = labels.copy()
    pushed: list[int] = []
    for c in np.unique(labels[labels >= 0]):
        members = np.flatnonzero(labels == c)
        g = groups[members]
        if len(np.unique(g)) == len(g):
            continue
        mean_d = pairwise_distances(vectors[members], vectors[members], metric).mean(axis=1)
        for photo in np.unique(g):
            same = members[g == photo]
            if len(same) < 2:
                continue
            keep = same[np.argmin(mean_d[np.isin(members, same)])]
            for i in same:
                if i != keep:
                    out[i] = -1
                    pushed.append(int(i))
    return out, sorted(pushed)


def relabel(labels: np.ndarray, min_size: int) -> np.ndarray:
    """Clusters renumbered 0, 1, 2... largest first (ties: by first member); clusters under `min_size` become -1."""
    out = np.full(len(labels), -1, np.int64)
    ids, first, counts = np.unique(labels[labels >= 0], return_index=True, return_counts=True)
    firsts = np.array([np.flatnonzero(labels == c)[0] for c in ids], dtype=np.int64) if len(ids) else first
    order = sorted(range(len(ids)), key=lambda j: (-counts[j], firsts[j]))
    new = 0
    for j in order:
        if counts[j] < max(1, min_size):
            continue
        out[labels == ids[j]] = new
        new += 1
    return out


def cluster_vectors(
    vectors: np.ndarray,
    *,
    method: str = "agglomerative",
    threshold: float,
    min_size: int = 2,
    metric: str = "euclidean",
    groups: Sequence[object] | np.ndarray | None = None,
    k: int = 50,
    seed: int = 0,
) -> np.ndarray:
    """Cluster embeddings: one label per row, clusters 0, 1, 2... largest first, -1 for faces left alone.

    Args:
        vectors: (n, d) embeddings of one model.
        method: ``agglomerative`` (average linkage cut at the threshold), ``chinese-whispers`` (over the kNN graph
            whose edges are at or below the threshold) or ``hdbscan`` (scikit-learn's, with ``min_cluster_size`` =
            max(3, ``min_size``); it finds its own density levels and does not use the threshold).
        threshold: a distance in the model's metric.
        min_size: clusters with fewer faces are left alone (-1).
        groups: the photo of each face: faces of one photo are never put in one cluster (None: no rule).
        k: neighbours per face in the kNN graph.

    Raises:
        FaceprintError: unknown method or a bad threshold / min_size. MissingExtra: the ``cluster`` extra is missing.

    >>> cluster_vectors(np.array([[0, 0], [0, 0.1], [5, 5]], np.float32), threshold=0.5)
    array([ 0,  0, -1])
    """
    if method not in METHODS:
        raise FaceprintError(f"unknown clustering method {method!r}; choose one of {', '.join(METHODS)}")
    if not np.isfinite(threshold) or threshold <= 0:
        raise FaceprintError(f"the clustering threshold must be a positive distance, got {threshold}")
    if min_size < 1:
        raise FaceprintError(f"--min-size must be at least 1, got {min_size}")
    x = np.asarray(vectors, np.float32)
    if x.ndim != 2:
        raise ValueError(f"vectors must be (n, d), got shape {x.shape}")
    if len(x) == 0:
        return np.zeros(0, np.int64)
    g = None
    if groups is not None:
        _, g = np.unique(np.asarray([str(v) for v in groups]), return_inverse=True)
        if len(g) != len(x):
            raise ValueError("groups must give one photo per face")
    if method == "chinese-whispers":
        raw = _chinese_whispers(x, threshold, metric, g, k, seed)
    elif method == "hdbscan":
        raw = _hdbscan(x, metric, min_size)
    else:
        raw = _agglomerative(x, threshold, metric, g, k)
    if g is not None:
        raw, pushed = cannot_link(raw, x, g, metric)
        if pushed:
            log.info("cannot-link: %d faces left alone (another face of their photo is in the same cluster)", len(pushed))
    return relabel(raw, min_size)
