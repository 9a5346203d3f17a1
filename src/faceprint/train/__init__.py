"""Training: triplet loss with online mining on P x K batches, validation on held-out people, resume, linear head.

Needs the ``train`` extra (torch, pytorch-metric-learning, matplotlib). Inference code never imports this package.
"""

from __future__ import annotations

__all__: list[str] = []
