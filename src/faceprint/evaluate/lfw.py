"""The LFW pairs protocol: read pairs files, and score distances with 10-fold cross-validated thresholds."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from faceprint.errors import PairsFormatError
from faceprint.evaluate.metrics import accuracy_at, best_threshold, roc_auc

__all__ = ["Pair", "PairsFile", "read_pairs", "PairsResult", "evaluate_pairs"]

N_FOLDS = 10


@dataclass(frozen=True)
class Pair:
    """One line of a pairs file: two image paths relative to the images root, whether they show one person."""

    left: str
    right: str
    same: bool
    fold: int


@dataclass(frozen=True)
class PairsFile:
    pairs: list[Pair]
    n_folds: int
    """Folds as written in the file's header (1 for single-count headers such as View 1's)."""

    def images(self) -> list[str]:
        """Every referenced image once, in first-use order."""
        return list(dict.fromkeys(p for pair in self.pairs for p in (pair.left, pair.right)))


def _image_path(name: str, index: str, suffix: str) -> str:
    return f"{name}/{name}_{int(index):04d}{suffix}"


def read_pairs(path: str | os.PathLike[str], suffix: str = ".jpg") -> PairsFile:
    """Parse an LFW pairs file.

    Accepts the View 2 header ``10 300`` (10 folds of 300 matched then 300 mismatched lines) and single-count
    headers such as View 1's ``500`` (500 matched then 500 mismatched). Lines are ``name i j`` (matched) or
    ``name1 i name2 j`` (mismatched).
    """
    path = Path(path)
    try:
        lines = [ln.split() for ln in path.read_text().splitlines() if ln.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise PairsFormatError(f"{path}: cannot read pairs file ({exc})") from None
    if not lines:
        raise PairsFormatError(f"{path}: empty pairs file")
    header = lines[0]
    try:
        nums = [int(x) for x in header]
    except ValueError:
        raise PairsFormatError(f"{path}: line 1 should be '<folds> <pairs per kind>' or '<pairs per kind>', got {' '.join(header)!r}") from None
    if len(nums) == 1:
        n_folds, per_kind = 1, nums[0]
    elif len(nums) == 2:
        n_folds, per_kind = nums
    else:
        raise PairsFormatError(f"{path}: header has {len(nums)} numbers, expected 1 or 2")
    body = lines[1:]
    expected = n_folds * per_kind * 2
    if len(body) != expected:
        raise PairsFormatError(f"{path}: header promises {expected} pairs, file has {len(body)}")
    pairs: list[Pair] = []
    for i, parts in enumerate(body):
        fold, pos = divmod(i, 2 * per_kind)
        same_expected = pos < per_kind
        lineno = i + 2
        try:
            if len(parts) == 3:
                same = True
                left, right = _image_path(parts[0], parts[1], suffix), _image_path(parts[0], parts[2], suffix)
            elif len(parts) == 4:
                same = False
                left, right = _image_path(parts[0], parts[1], suffix), _image_path(parts[2], parts[3], suffix)
            else:
                raise ValueError
        except ValueError:
            raise PairsFormatError(f"{path}:{lineno}: expected 'name i j' or 'name1 i name2 j', got {' '.join(parts)!r}") from None
        if same != same_expected:
            kind = "matched" if same_expected else "mismatched"
            raise PairsFormatError(f"{path}:{lineno}: expected a {kind} pair here (each block is matched then mismatched)")
        pairs.append(Pair(left, right, same, fold))
    return PairsFile(pairs, n_folds)


def protocol_folds(pairs: PairsFile, n_folds: int = N_FOLDS) -> np.ndarray:
    """Fold index per pair for the 10-fold protocol.

    Files with 10 folds keep them. A single-block file (View 1) is cut into 10 folds in file order, each with
    an equal share of the matched and of the mismatched pairs, as View 2's folds are built.
    """
    if pairs.n_folds == n_folds:
        return np.array([p.fold for p in pairs.pairs])
    same = np.array([p.same for p in pairs.pairs])
    folds = np.empty(len(same), dtype=int)
    for kind in (True, False):
        idx = np.flatnonzero(same == kind)
        folds[idx] = np.arange(len(idx)) * n_folds // max(len(idx), 1)
    return folds


@dataclass(frozen=True)
class PairsResult:
    """Outcome of the 10-fold protocol on one set of pair distances."""

    fold_accuracies: list[float]
    fold_thresholds: list[float]
    auc: float
    threshold: float
    """The single best-accuracy threshold over all pairs (for calibration, not for the accuracy figure)."""
    accuracy_at_threshold: float
    n_pairs: int
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def accuracy_mean(self) -> float:
        return float(np.mean(self.fold_accuracies))

    @property
    def accuracy_std(self) -> float:
        """Population standard deviation over folds (as OpenFace and FaceNet print it)."""
        return float(np.std(self.fold_accuracies))

    @property
    def accuracy_sem(self) -> float:
        """Standard error of the mean (std / sqrt(folds)), which the LFW page asks for."""
        return self.accuracy_std / np.sqrt(len(self.fold_accuracies))


def evaluate_pairs(distances: np.ndarray, same: np.ndarray, folds: np.ndarray) -> PairsResult:
    """10-fold protocol: each fold is scored at the best-accuracy threshold of the other folds."""
    d = np.asarray(distances, dtype=np.float64)
    s = np.asarray(same, dtype=bool)
    f = np.asarray(folds)
    if not (len(d) == len(s) == len(f)):
        raise ValueError("distances, same and folds must be equally long")
    accs, thrs = [], []
    for k in np.unique(f):
        test = f == k
        thr, _ = best_threshold(d[~test], s[~test])
        thrs.append(thr)
        accs.append(accuracy_at(d[test], s[test], thr))
    thr_all, acc_all = best_threshold(d, s)
    return PairsResult(accs, thrs, roc_auc(d, s), thr_all, acc_all, len(d))
