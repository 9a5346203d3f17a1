"""Nearest-neighbour search over gallery embeddings: exact (batched matrix products) by default."""

from __future__ import annotations

import numpy as np

from faceprint.errors import FaceprintError
from faceprint.types import pairwise_distances

__all__ = ["ExactIndex", "model_metric"]


class ExactIndex:
    """Brute-force search; memory stays bounded by processing queries and gallery rows in chunks."""

    def __init__(self, vectors: np.ndarray, metric: str = "euclidean", chunk: int = 65536) -> None:
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.metric = metric
        self.chunk = chunk

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest gallery rows per query: (distances, indices), each (Q, k), nearest first."""
        q = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.vectors.shape[1])
        k = min(k, len(self))
        best_d = np.full((len(q), k), np.inf, np.float32)
        best_i = np.full((len(q), k), -1, np.int64)
        for start in range(0, len(self), self.chunk):
            d = pairwise_distances(q, self.vectors[start : start + self.chunk], self.metric)
            kk = min(k, d.shape[1])
            part = np.argpartition(d, kk - 1, axis=1)[:, :kk]
            cand_d = np.concatenate([best_d, np.take_along_axis(d, part, 1)], axis=1)
            cand_i = np.concatenate([best_i, part + start], axis=1)
            order = np.argsort(cand_d, axis=1, kind="stable")[:, :k]
            best_d = np.take_along_axis(cand_d, order, 1)
            best_i = np.take_along_axis(cand_i, order, 1)
        return best_d, best_i


def model_metric(model: str) -> str:
    """The metric of a registered model, for an index over its vectors; euclidean for a name no registry knows
    (embeddings written through the API under a name of the caller's)."""
    from faceprint.models import get_model_spec

    try:
        return get_model_spec(model).metric
    except FaceprintError:
        return "euclidean"
