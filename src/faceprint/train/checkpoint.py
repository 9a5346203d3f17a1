"""Writing training checkpoints: atomically, with the run's full configuration, readable as models.

A run directory holds:

* ``last.pt``: the state after the last finished epoch (network, optimizer, gradient scaler, metrics history,
  best epoch): a rerun of the same command continues from it. The learning rate and the random generators are not
  stored: both are functions of (seed, epoch, step), so the resumed run draws what an uninterrupted one would;
* ``best.pt``: the network of the epoch with the best held-out AUC, with its calibrated threshold: usable as a
  model name (see `faceprint.models.checkpoint_model`);
* ``epoch-NNN.pt`` every `save_every` epochs, if asked;
* ``config.json``, ``metrics.jsonl`` (one JSON object per epoch) and ``curves.png``.

Every file is written to a temporary file in the same directory, flushed to disk and renamed over the old one, so
a kill at any moment leaves either the old or the new complete file.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import torch

from faceprint._version import __version__
from faceprint._files import atomic_write
from faceprint.models.checkpoint_model import CHECKPOINT_FORMAT, CHECKPOINT_VERSION, load_checkpoint

__all__ = ["load_checkpoint", "model_checkpoint", "read_metrics", "save_checkpoint", "write_json", "write_metrics"]


def save_checkpoint(path: str | os.PathLike[str], payload: dict[str, Any]) -> None:
    """torch.save a checkpoint dict atomically."""
    atomic_write(path, lambda f: torch.save(payload, f))


def model_checkpoint(
    base_model: str,
    model_state: dict[str, torch.Tensor],
    config: dict[str, Any],
    epoch: int,
    metrics: dict[str, Any],
    calibration: dict[str, float],
    data: dict[str, Any],
) -> dict[str, Any]:
    """The part of a checkpoint every reader needs: format, network weights and where they came from."""
    return {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "faceprint": __version__,
        "created": time.time(),
        "base_model": base_model,
        "model_state": {k: v.detach().cpu().clone() for k, v in model_state.items()},
        "config": config,
        "epoch": epoch,
        "metrics": metrics,
        "calibration": calibration,
        "data": data,
    }


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Pretty JSON, written atomically."""
    atomic_write(path, lambda f: f.write((json.dumps(obj, indent=2) + "\n").encode()))


def write_metrics(path: str | os.PathLike[str], history: list[dict[str, Any]]) -> None:
    """metrics.jsonl: one JSON object per line, rewritten atomically from the whole history."""
    atomic_write(path, lambda f: f.write("".join(json.dumps(row) + "\n" for row in history).encode()))


def read_metrics(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The rows of a metrics.jsonl file."""
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
