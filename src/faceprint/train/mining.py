"""The triplet loss and the online miners, from pytorch-metric-learning.

All four strategies use `TripletMarginLoss` on L2-normalised embeddings with Euclidean distance
(pytorch-metric-learning's default `LpDistance(normalize_embeddings=True)`):

* ``random``: one random positive and one random negative per anchor (FaceNet's first baseline);
* ``semihard``: negatives farther than the positive but inside the margin (FaceNet, Schroff et al. 2015);
* ``hard``: batch-hard, the farthest positive and the nearest negative per anchor (Hermans et al. 2017);
* ``all``: every valid triplet of the batch, the loss averaged over those that are not yet satisfied
  ("batch all", Hermans et al.).
"""

from __future__ import annotations

from typing import Any

import torch

from faceprint.errors import MissingExtra
from faceprint.train.config import MINING_CHOICES

try:
    from pytorch_metric_learning import losses, miners, reducers
    from pytorch_metric_learning.miners import BaseMiner
    from pytorch_metric_learning.utils import loss_and_miner_utils as lmu
except ImportError as e:  # pragma: no cover - depends on the environment
    raise MissingExtra("pytorch-metric-learning", "train") from e

__all__ = ["RandomTripletMiner", "active_triplet_fraction", "build_loss", "build_miner"]


class RandomTripletMiner(BaseMiner):
    """One random (positive, negative) per anchor, as FaceNet's random-triplet baseline."""

    def mine(
        self, embeddings: torch.Tensor, labels: torch.Tensor, ref_emb: torch.Tensor, ref_labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        a, p, n = lmu.get_random_triplet_indices(labels, t_per_anchor=1)
        dev = embeddings.device
        return a.to(dev), p.to(dev), n.to(dev)


def build_miner(mining: str, margin: float) -> Any | None:
    """The miner of a strategy (None for "all": the loss then uses every triplet)."""
    if mining == "random":
        return RandomTripletMiner()
    if mining == "semihard":
        return miners.TripletMarginMiner(margin=margin, type_of_triplets="semihard")
    if mining == "hard":
        return miners.BatchHardMiner()
    if mining == "all":
        return None
    raise ValueError(f"unknown mining {mining!r}; choose one of {', '.join(MINING_CHOICES)}")


def build_loss(mining: str, margin: float) -> Any:
    """TripletMarginLoss(margin); mean over the mined triplets, or over the active ones for "all"."""
    reducer = reducers.AvgNonZeroReducer() if mining == "all" else reducers.MeanReducer()
    return losses.TripletMarginLoss(margin=margin, reducer=reducer)


@torch.no_grad()
def active_triplet_fraction(embeddings: torch.Tensor, labels: torch.Tensor, margin: float, chunk: int = 64) -> float:
    """Share of all valid triplets (a, p, n) of a batch that violate the margin: d(a,p) - d(a,n) + margin > 0.

    Independent of the miner, so strategies can be compared; falls as the embedding learns the batch.
    """
    e = torch.nn.functional.normalize(embeddings.float(), dim=1)
    d = torch.cdist(e, e)
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    pos_mask = same & ~eye
    neg_mask = ~same
    active = 0
    total = 0
    for start in range(0, len(labels), chunk):
        sl = slice(start, start + chunk)
        # (a, p, n) for anchors in this chunk
        viol = (d[sl, :, None] - d[sl, None, :] + margin) > 0
        valid = pos_mask[sl, :, None] & neg_mask[sl, None, :]
        active += int((viol & valid).sum())
        total += int(valid.sum())
    return active / total if total else 0.0
