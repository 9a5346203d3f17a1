"""Plain records passed between the pipeline's stages: detected faces and embeddings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from faceprint.errors import ModelMismatch

__all__ = ["BBox", "Landmarks", "Face", "FaceEmbedding", "Embeddings", "LANDMARK_NAMES", "face_from_json", "face_to_json"]

BBox = tuple[float, float, float, float]
"""A box as float (x1, y1, x2, y2) in source-image pixels."""

Landmarks = tuple[tuple[float, float], ...]
"""Five (x, y) points in source-image pixels, in the order of LANDMARK_NAMES."""

LANDMARK_NAMES: tuple[str, ...] = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
"""Landmark order. 'left' means the left side of the picture (the subject's right eye)."""


@dataclass(frozen=True)
class Face:
    """One detected face: box, detection confidence in [0, 1] and five landmarks."""

    box: BBox
    score: float
    landmarks: Landmarks

    def __post_init__(self) -> None:
        if len(self.box) != 4:
            raise ValueError(f"box needs 4 numbers, got {len(self.box)}")
        if len(self.landmarks) != 5:
            raise ValueError(f"landmarks need 5 points, got {len(self.landmarks)}")

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def area(self) -> float:
        return max(self.width, 0.0) * max(self.height, 0.0)

    @property
    def center(self) -> tuple[float, float]:
        return ((self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2)

    def __repr__(self) -> str:
        box = tuple(round(float(v), 1) for v in self.box)
        lms = tuple((round(float(x), 1), round(float(y), 1)) for x, y in self.landmarks)
        return f"Face(box={box}, score={self.score:.3f}, landmarks={lms})"

    def scaled(self, sx: float, sy: float | None = None) -> Face:
        """The same face in an image resized by `sx` horizontally and `sy` (default `sx`) vertically: a face found
        on a scaled copy, mapped back to the original's pixels."""
        sy = sx if sy is None else sy
        x1, y1, x2, y2 = self.box
        return Face((x1 * sx, y1 * sy, x2 * sx, y2 * sy), self.score, tuple((x * sx, y * sy) for x, y in self.landmarks))

    def landmarks_array(self) -> np.ndarray:
        """Landmarks as a float32 (5, 2) array."""
        return np.asarray(self.landmarks, dtype=np.float32).reshape(5, 2)

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly form: box as a list, landmarks keyed by name."""
        return {
            "box": [round(float(v), 2) for v in self.box],
            "score": round(float(self.score), 4),
            "landmarks": {n: [round(float(x), 2), round(float(y), 2)] for n, (x, y) in zip(LANDMARK_NAMES, self.landmarks)},
        }

    @classmethod
    def from_arrays(cls, box: np.ndarray, score: float, landmarks: np.ndarray) -> Face:
        """Build a Face from numpy arrays (box (4,), landmarks (5, 2))."""
        lm = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
        return cls(
            box=tuple(float(v) for v in np.asarray(box).reshape(4)),  # type: ignore[arg-type]
            score=float(score),
            landmarks=tuple((float(x), float(y)) for x, y in lm),
        )


def face_to_json(face: Face) -> dict[str, object]:
    """A face as faceprint stores it (the embedding caches, the training crop cache, stored clusters): full precision,
    landmarks as a list in LANDMARK_NAMES order. `Face.to_dict` is the rounded form with named landmarks that the API,
    the CLI and the service print; `face_from_json` reads this one back."""
    return {"box": [float(v) for v in face.box], "score": float(face.score),
            "landmarks": [[float(x), float(y)] for x, y in face.landmarks]}


def face_from_json(data: Mapping[str, Any]) -> Face:
    """The face `face_to_json` wrote (extra keys beside box, score and landmarks are ignored)."""
    x1, y1, x2, y2 = (float(v) for v in data["box"])
    return Face((x1, y1, x2, y2), float(data["score"]), tuple((float(x), float(y)) for x, y in data["landmarks"]))


@dataclass(frozen=True, eq=False, repr=False)
class FaceEmbedding:
    """One face found in an image and its embedding: what ``faceprint.embed`` returns, one per face.

    >>> faces = faceprint.embed("group.jpg")        # doctest: +SKIP
    >>> faces[0]                                     # doctest: +SKIP
    FaceEmbedding(box=(61.2, 70.4, 190.5, 199.7), score=0.999, model='dlib-resnet-v1', dim=128)
    """

    face: Face
    vector: np.ndarray
    """The embedding, 1-D float32."""
    model: str
    metric: str = "euclidean"

    @property
    def box(self) -> BBox:
        return self.face.box

    @property
    def score(self) -> float:
        """Detection confidence in [0, 1]."""
        return self.face.score

    @property
    def landmarks(self) -> np.ndarray:
        """The five landmarks as a float32 (5, 2) array, in the order of LANDMARK_NAMES."""
        return self.face.landmarks_array()

    def distance(self, other: FaceEmbedding) -> float:
        """Distance to another face's embedding of the same model (ModelMismatch otherwise)."""
        if self.model != other.model:
            raise ModelMismatch(self.model, other.model)
        return float(paired_distances(self.vector[None], other.vector[None], self.metric)[0])

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly form: the face's fields, the model and the vector as a list."""
        return {**self.face.to_dict(), "model": self.model, "embedding": [float(v) for v in self.vector]}

    def __repr__(self) -> str:
        box = tuple(round(float(v), 1) for v in self.box)
        return f"FaceEmbedding(box={box}, score={self.score:.3f}, model={self.model!r}, dim={self.vector.shape[0]})"


@dataclass(frozen=True, eq=False, repr=False)
class Embeddings:
    """A batch of embedding vectors (N, D) float32, tagged with the name of the model that made them.

    Distances between Embeddings of different models are meaningless, so `distances` refuses them.
    """

    vectors: np.ndarray
    model: str
    metric: str = field(default="euclidean")

    def __post_init__(self) -> None:
        v = np.asarray(self.vectors, dtype=np.float32)
        if v.ndim == 1:
            v = v[None, :]
        if v.ndim != 2:
            raise ValueError(f"embeddings must be (N, D), got shape {v.shape}")
        object.__setattr__(self, "vectors", v)

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    def __repr__(self) -> str:  # the vectors themselves would fill the screen
        return f"Embeddings(n={len(self)}, dim={self.dim}, model={self.model!r}, metric={self.metric!r})"

    def __getitem__(self, index: int | slice | np.ndarray) -> Embeddings:
        return Embeddings(self.vectors[index], self.model, self.metric)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def check_compatible(self, other: Embeddings) -> None:
        """Raise ModelMismatch unless both were made by the same model."""
        if self.model != other.model:
            raise ModelMismatch(self.model, other.model)

    def distances(self, other: Embeddings) -> np.ndarray:
        """(len(self), len(other)) matrix of distances under the model's metric."""
        self.check_compatible(other)
        return pairwise_distances(self.vectors, other.vectors, self.metric)

    def paired_distances(self, other: Embeddings) -> np.ndarray:
        """Distance between row i of self and row i of other, for equally long batches."""
        self.check_compatible(other)
        if len(self) != len(other):
            raise ValueError(f"paired distances need equal lengths, got {len(self)} and {len(other)}")
        return paired_distances(self.vectors, other.vectors, self.metric)

    @classmethod
    def concat(cls, items: list[Embeddings]) -> Embeddings:
        """Stack batches of the same model into one."""
        if not items:
            raise ValueError("nothing to concatenate")
        for it in items[1:]:
            items[0].check_compatible(it)
        return cls(np.concatenate([it.vectors for it in items], axis=0), items[0].model, items[0].metric)


# Where the expansion ||a||^2 + ||b||^2 - 2 a.b leaves less than this share of the squared norms, float32 rounding
# (about 1e-6 absolute on unit vectors, whatever the BLAS kernel) is no longer small against the result: a face
# against itself came out at 0.00049 instead of 0 on AVX-512. Those entries are recomputed from the differences.
# Above it (a distance of 0.45 between unit vectors), the expansion is within about 1e-6 of a float64 reference.
_REFINE_SHARE = 0.1


def pairwise_distances(a: np.ndarray, b: np.ndarray, metric: str = "euclidean") -> np.ndarray:
    """All-pairs distances between rows of a and b: one matrix product, with the entries where that product's
    rounding would dominate (near-identical rows) recomputed from the differences, so a row against itself is 0
    and every entry is within about 1e-6 of a float64 reference."""
    a = np.asarray(a, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    if metric == "euclidean":
        na = (a * a).sum(1)
        nb = (b * b).sum(1)
        sq = na[:, None] + nb[None, :] - 2.0 * (a @ b.T)
        if sq.size:
            scale = float(na.max() + nb.max())
            rows, cols = np.nonzero(sq < _REFINE_SHARE * scale)
            for s in range(0, len(rows), 1 << 20):
                r, c = rows[s : s + (1 << 20)], cols[s : s + (1 << 20)]
                diff = a[r] - b[c]
                sq[r, c] = np.einsum("ij,ij->i", diff, diff)
        return np.sqrt(np.maximum(sq, 0.0))
    if metric == "cosine":
        an = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
        bn = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
        return np.maximum(1.0 - an @ bn.T, 0.0)
    raise ValueError(f"unknown metric {metric!r}; choose euclidean or cosine")


def squared_distances_to(queries: np.ndarray, vectors: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances from each query to its own candidate rows, from the differences (no expansion):
    queries (Q, D), rows (Q, k) indices into vectors -> (Q, k) float32. Used to re-rank search candidates exactly."""
    q = np.asarray(queries, dtype=np.float32)
    diff = np.asarray(vectors, dtype=np.float32)[rows] - q[:, None, :]
    return np.einsum("qkd,qkd->qk", diff, diff).astype(np.float32, copy=False)


def paired_distances(a: np.ndarray, b: np.ndarray, metric: str = "euclidean") -> np.ndarray:
    """Row-wise distances between equally long a and b."""
    a = np.asarray(a, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    if metric == "euclidean":
        return np.linalg.norm(a - b, axis=1)
    if metric == "cosine":
        an = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
        bn = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
        return 1.0 - (an * bn).sum(1)
    raise ValueError(f"unknown metric {metric!r}; choose euclidean or cosine")
