"""2-D maps of embeddings (t-SNE from scikit-learn, or UMAP when umap-learn is installed), coloured by person."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from faceprint._extras import optional_module
from faceprint.viz._figure import new_figure, require, save_figure

__all__ = ["MAP_SIZE", "METHODS", "embedding_map_plot", "project_2d"]

MAP_SIZE = (1000, 800)
METHODS = ("tsne", "umap")
LEGEND_MAX_PEOPLE = 20


def project_2d(vectors: np.ndarray, method: str = "tsne", seed: int = 0, metric: str = "euclidean") -> np.ndarray:
    """(N, 2) coordinates: t-SNE (PCA start, perplexity min(30, (N-1)/3)) or UMAP (15 neighbours at most).

    Raises ValueError for fewer than 4 points or an unknown method, MissingExtra when the library is absent.
    """
    x = np.asarray(vectors, dtype=np.float32)
    if len(x) < 4:
        raise ValueError(f"a 2-D map needs at least 4 faces, got {len(x)}")
    if method == "tsne":
        require("sklearn", "viz")
        from sklearn.manifold import TSNE

        perplexity = float(min(30.0, (len(x) - 1) / 3.0))
        tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed, metric=metric)
        return tsne.fit_transform(x).astype(np.float64)
    if method == "umap":
        reducer = optional_module("umap", "umap-learn").UMAP(n_components=2, n_neighbors=min(15, len(x) - 1), random_state=seed, metric=metric)
        return np.asarray(reducer.fit_transform(x), dtype=np.float64)
    raise ValueError(f"unknown method {method!r}; choose one of: {', '.join(METHODS)}")


def embedding_map_plot(points: np.ndarray, labels: Sequence[str], out: str | os.PathLike[str], title: str = "") -> Path:
    """Scatter the 2-D points coloured by person, each person's name written at the middle of their points.

    A legend is added for up to 20 people; beyond that the names on the map are the only key.
    """
    from matplotlib import colormaps

    p = np.asarray(points, dtype=np.float64)
    if p.shape != (len(labels), 2):
        raise ValueError(f"points of shape {p.shape} do not fit {len(labels)} labels")
    people = sorted(set(labels))
    lab = np.asarray(labels, dtype=object)
    cmap = colormaps["tab20" if len(people) <= 20 else "nipy_spectral"]
    fig = new_figure(*MAP_SIZE)
    ax = fig.add_subplot()
    for i, person in enumerate(people):
        rows = lab == person
        color = cmap(i % 20) if len(people) <= 20 else cmap(i / max(len(people) - 1, 1))
        ax.scatter(p[rows, 0], p[rows, 1], s=22, color=color, alpha=0.85, label=person, edgecolors="none")
        cx, cy = np.median(p[rows], axis=0)
        ax.annotate(person, (cx, cy), fontsize=8 if len(people) <= 30 else 6, ha="center", va="center",
                    bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": color, "alpha": 0.8})
    if len(people) <= LEGEND_MAX_PEOPLE:
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, markerscale=1.5, frameon=False)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or f"{len(p)} faces of {len(people)} people")
    return save_figure(fig, out)
