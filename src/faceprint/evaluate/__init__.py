"""Evaluation: the LFW pairs protocol and verification metrics."""

from faceprint.evaluate.lfw import Pair, PairsFile, PairsResult, evaluate_pairs, protocol_folds, read_pairs
from faceprint.evaluate.metrics import accuracy_at, best_threshold, roc_auc

__all__ = [
    "Pair",
    "PairsFile",
    "PairsResult",
    "accuracy_at",
    "best_threshold",
    "evaluate_pairs",
    "protocol_folds",
    "read_pairs",
    "roc_auc",
]
