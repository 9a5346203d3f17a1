"""Run the LFW pairs protocol end to end: embed every referenced image once (cached), score the pairs."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceprint.analyzer import FaceAnalyzer
from faceprint.cache import EmbeddingCache
from faceprint.errors import ImageError
from faceprint.evaluate.lfw import PairsResult, evaluate_pairs, protocol_folds, read_pairs
from faceprint.pipeline import item_pixels
from faceprint.types import Face, paired_distances

__all__ = ["PairsEvaluation", "run_pairs"]


@dataclass(frozen=True, eq=False)
class PairsEvaluation:
    """The protocol's result plus what happened to the images on the way."""

    model: str
    pairs_file: str
    result: PairsResult
    distances: np.ndarray
    same: np.ndarray
    n_images: int
    no_face: list[str]
    """Images where the detector found no face; their central region was embedded instead."""
    several_faces: int
    """Images with more than one detected face; the one nearest the centre was used."""

    def to_dict(self) -> dict[str, object]:
        r = self.result
        return {
            "model": self.model,
            "pairs_file": self.pairs_file,
            "pairs": r.n_pairs,
            "images": self.n_images,
            "accuracy_mean": r.accuracy_mean,
            "accuracy_std": r.accuracy_std,
            "accuracy_sem": r.accuracy_sem,
            "fold_accuracies": r.fold_accuracies,
            "fold_thresholds": r.fold_thresholds,
            "auc": r.auc,
            "threshold": r.threshold,
            "accuracy_at_threshold": r.accuracy_at_threshold,
            "no_face": len(self.no_face),
            "no_face_images": self.no_face,
            "several_faces": self.several_faces,
        }


def run_pairs(
    pairs_path: str | os.PathLike[str],
    images_dir: str | os.PathLike[str],
    analyzer: FaceAnalyzer,
    cache: EmbeddingCache | None = None,
    on_image: Callable[[int, int], None] | None = None,
) -> PairsEvaluation:
    """Embed each image named by the pairs file once and score the pairs with the 10-fold protocol.

    Pre-cropped datasets like LFW centre the subject, so the face nearest the centre is used; where no face is
    found the central region is embedded and the image is listed in `no_face`. A missing or unreadable image
    is an error: the protocol needs every pair.
    """
    pairs = read_pairs(pairs_path)
    root = Path(images_dir)
    names = pairs.images()
    index = {n: i for i, n in enumerate(names)}
    vectors: list[np.ndarray | None] = [None] * len(names)
    faces: list[Face | None] = [None] * len(names)
    counts = [0] * len(names)
    todo: list[int] = []
    for i, name in enumerate(names):
        path = root / name
        if not path.is_file():
            raise ImageError(path, f"image named by {Path(pairs_path).name} not found under {root}")
        hit = cache.get(analyzer.model, path, detector=analyzer.detector) if cache is not None else None
        if hit is None:
            todo.append(i)
        else:
            vectors[i], faces[i], counts[i] = hit.vector, hit.face, hit.n_faces
    done = len(names) - len(todo)
    if on_image is not None and done:
        on_image(done, len(names))
    results = analyzer.analyze_many(
        ((i, root / names[i]) for i in todo), select="center", fallback_center=True, load=lambda t: analyzer.load(t[1]),
        pixels=lambda t: item_pixels(t[1]),
    )
    for r in results:
        if r.error is not None:
            raise r.error
        i, path = r.item
        assert r.embeddings is not None
        vectors[i], faces[i], counts[i] = r.embeddings.vectors[0], (r.chosen[0] if r.chosen else None), len(r.faces)
        if cache is not None:
            cache.put(analyzer.model, path, vectors[i], faces[i], counts[i], detector=analyzer.detector)
        done += 1
        if on_image is not None:
            on_image(done, len(names))
    no_face = [n for n, f in zip(names, faces) if f is None]
    several = sum(c > 1 for c in counts)
    emb = np.stack(vectors)
    left = emb[[index[p.left] for p in pairs.pairs]]
    right = emb[[index[p.right] for p in pairs.pairs]]
    metric = analyzer.embedder.spec.metric
    dist = paired_distances(left, right, metric)
    same = np.array([p.same for p in pairs.pairs])
    result = evaluate_pairs(dist, same, protocol_folds(pairs))
    return PairsEvaluation(analyzer.model, str(pairs_path), result, dist, same, len(names), no_face, several)
