"""Pictures of a clustering's worst mistakes against the true people: the clusters that merged most people, and the
people split over most clusters (`faceprint eval cluster --report`)."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np

from faceprint.cluster.metrics import singletons
from faceprint.cluster.sheets import face_sheet
from faceprint.types import Face
from faceprint.viz.annotate import save_image

__all__ = ["worst_merges", "worst_splits", "write_error_report"]


def worst_merges(truth: list[str], labels: np.ndarray, n: int = 5) -> list[tuple[int, list[int]]]:
    """Clusters holding more than one person, most faces of other people than its main one first:
    (cluster label, member indices, the people with fewest faces in it first)."""
    out = []
    for c in np.unique(labels[labels >= 0]):
        members = np.flatnonzero(labels == c)
        counts = Counter(truth[i] for i in members)
        if len(counts) > 1:
            wrong = len(members) - counts.most_common(1)[0][1]
            out.append((wrong, int(c), sorted(members.tolist(), key=lambda i: (counts[truth[i]], truth[i]))))
    out.sort(key=lambda t: (-t[0], t[1]))
    return [(c, m) for _, c, m in out[:n]]


def worst_splits(truth: list[str], labels: np.ndarray, n: int = 5) -> list[tuple[str, list[int]]]:
    """People whose faces fall in more than one cluster (faces left alone count as clusters of their own), most
    pieces first: (person, member indices, the smallest pieces first)."""
    full = singletons(labels)
    by: dict[str, list[int]] = {}
    for i, p in enumerate(truth):
        by.setdefault(p, []).append(i)
    out = []
    for p, idx in by.items():
        pieces = len({int(full[i]) for i in idx})
        if pieces > 1:
            size = Counter(int(full[i]) for i in idx)
            out.append((pieces, p, sorted(idx, key=lambda i: (size[int(full[i])], int(full[i])))))
    out.sort(key=lambda t: (-t[0], t[1]))
    return [(p, m) for _, p, m in out[:n]]


def write_error_report(
    truth: list[str], labels: np.ndarray, sources: list[str], faces: list[Face | None], out_dir: str | os.PathLike[str], n: int = 5
) -> list[Path]:
    """`merges.jpg` (one sheet per bad cluster, faces captioned with their true person) and `splits.jpg` (one per
    split person, captioned with the cluster each face went to); returns the files written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    blocks = []
    for c, members in worst_merges(truth, labels, n):
        items = [(sources[i], faces[i], truth[i]) for i in members[:40] if faces[i] is not None]
        if items:
            blocks.append(face_sheet(items, f"cluster {c + 1}: {len(members)} faces of {len({truth[i] for i in members})} people", cols=10))  # type: ignore[misc]
    if blocks:
        written.append(save_image(_stack(blocks), out / "merges.jpg"))
    blocks = []
    full = singletons(labels)
    for p, members in worst_splits(truth, labels, n):
        items = [(sources[i], faces[i], f"cluster {int(labels[i]) + 1}" if labels[i] >= 0 else "alone") for i in members[:40] if faces[i] is not None]
        if items:
            blocks.append(face_sheet(items, f"{p}: {len(members)} faces in {len({int(full[i]) for i in members})} pieces", cols=10))  # type: ignore[misc]
    if blocks:
        written.append(save_image(_stack(blocks), out / "splits.jpg"))
    return written


def _stack(blocks: list[np.ndarray]) -> np.ndarray:
    width = max(b.shape[1] for b in blocks)
    padded = [np.pad(b, ((0, 12), (0, width - b.shape[1]), (0, 0)), constant_values=255) for b in blocks]
    return np.concatenate(padded, axis=0)
