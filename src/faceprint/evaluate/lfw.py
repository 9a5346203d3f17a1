"""The LFW pairs protocol: read pairs files, and score distances with 10-fold cross-validated thresholds."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from faceprint.errors import InsufficientData, PairsFormatError
from faceprint.evaluate.metrics import accuracy_at, best_threshold, eer, far_tar_at, roc_auc, roc_curve, threshold_at_far

__all__ = [
    "Pair",
    "PairsFile",
    "read_pairs",
    "PairsResult",
    "evaluate_pairs",
    "TarAtFar",
    "tar_at_far_folds",
    "VerificationMetrics",
    "verification_metrics",
    "DEFAULT_FARS",
]

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
    n_same, n_diff = int(same.sum()), int((~same).sum())
    if min(n_same, n_diff) < n_folds:
        raise InsufficientData(
            f"the {n_folds}-fold protocol needs at least {n_folds} matched and {n_folds} mismatched pairs "
            f"(one of each per fold); this file has {n_same} matched and {n_diff} mismatched"
        )
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


DEFAULT_FARS: tuple[float, ...] = (1e-1, 1e-2, 1e-3)


@dataclass(frozen=True)
class TarAtFar:
    """TAR at a target FAR under the 10-fold protocol: per fold, the threshold is set on the other nine folds."""

    far_target: float
    fold_tars: list[float]
    fold_fars: list[float]
    """The false-accept rate each fold's threshold actually gave on that (held-out) fold."""
    fold_thresholds: list[float]
    train_negatives: int
    """Fewest different-person pairs any fold's threshold was chosen on: the FAR resolution is 1 / this."""

    @property
    def tar_mean(self) -> float:
        return float(np.mean(self.fold_tars))

    @property
    def tar_std(self) -> float:
        return float(np.std(self.fold_tars))

    @property
    def far_mean(self) -> float:
        return float(np.mean(self.fold_fars))

    @property
    def far_std(self) -> float:
        return float(np.std(self.fold_fars))

    @property
    def resolution(self) -> float:
        return 1.0 / self.train_negatives

    @property
    def below_resolution(self) -> bool:
        """True when the target is finer than 1 / (training negatives): the threshold then allows no false accept."""
        return self.far_target * self.train_negatives < 1.0 - 1e-9

    def to_dict(self) -> dict[str, object]:
        return {
            "far": self.far_target,
            "tar_mean": self.tar_mean,
            "tar_std": self.tar_std,
            "far_measured_mean": self.far_mean,
            "far_measured_std": self.far_std,
            "fold_tars": self.fold_tars,
            "fold_fars": self.fold_fars,
            "fold_thresholds": self.fold_thresholds,
            "train_negatives": self.train_negatives,
            "below_resolution": self.below_resolution,
        }


def tar_at_far_folds(distances: np.ndarray, same: np.ndarray, folds: np.ndarray, far: float) -> TarAtFar:
    """TAR at FAR within the 10-fold protocol.

    For each fold k the threshold is the largest one whose false-accept rate on the different-person pairs of the
    other folds is <= `far` (`threshold_at_far`); TAR and FAR are then measured on fold k alone.
    """
    d = np.asarray(distances, dtype=np.float64)
    s = np.asarray(same, dtype=bool)
    f = np.asarray(folds)
    tars, fars, thrs, n_train = [], [], [], []
    for k in np.unique(f):
        test = f == k
        train_neg = d[~test & ~s]
        thr = threshold_at_far(train_neg, far)
        got_far, got_tar = far_tar_at(d[test], s[test], thr)
        tars.append(got_tar)
        fars.append(got_far)
        thrs.append(thr)
        n_train.append(len(train_neg))
    return TarAtFar(float(far), tars, fars, thrs, int(min(n_train)))


@dataclass(frozen=True, eq=False)
class VerificationMetrics:
    """ROC, AUC, EER and TAR at FAR of one set of pair distances (smaller = same person)."""

    roc_far: np.ndarray
    roc_tar: np.ndarray
    roc_thresholds: np.ndarray
    auc: float
    eer: float
    """Equal error rate over all pairs (threshold-free, like AUC)."""
    eer_threshold: float
    fold_eers: list[float]
    """EER of each fold that holds both kinds of pair."""
    tar_at_far: dict[float, TarAtFar]

    @property
    def eer_fold_mean(self) -> float:
        return float(np.mean(self.fold_eers)) if self.fold_eers else float("nan")

    @property
    def eer_fold_std(self) -> float:
        return float(np.std(self.fold_eers)) if self.fold_eers else float("nan")

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly summary (the ROC points themselves are left out; they are in the report's plot)."""
        return {
            "auc": self.auc,
            "eer": self.eer,
            "eer_threshold": self.eer_threshold,
            "eer_fold_mean": self.eer_fold_mean,
            "eer_fold_std": self.eer_fold_std,
            "tar_at_far": {repr(far): t.to_dict() for far, t in self.tar_at_far.items()},
        }


def verification_metrics(
    distances: np.ndarray, same: np.ndarray, folds: np.ndarray, fars: tuple[float, ...] = DEFAULT_FARS
) -> VerificationMetrics:
    """Everything the field reports about a verifier, the threshold-dependent figures cross-validated over folds."""
    d = np.asarray(distances, dtype=np.float64)
    s = np.asarray(same, dtype=bool)
    f = np.asarray(folds)
    far, tar, thr = roc_curve(d, s)
    rate, rate_thr = eer(d, s)
    fold_eers = [eer(d[f == k], s[f == k])[0] for k in np.unique(f) if s[f == k].any() and (~s[f == k]).any()]
    return VerificationMetrics(
        far, tar, thr, roc_auc(d, s), rate, rate_thr, fold_eers, {x: tar_at_far_folds(d, s, f, x) for x in fars}
    )
