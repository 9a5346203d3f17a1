"""Writing training checkpoints: atomically, with the run's full configuration, readable as models.

A run directory holds:

* ``last.pt``: the state after the last finished epoch (network, optimizer, LR schedule, gradient scaler, random
  generators, metrics history): a rerun of the same command continues from it;
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
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import torch

from faceprint import __version__
from faceprint.models.checkpoint_model import CHECKPOINT_FORMAT, CHECKPOINT_VERSION, load_checkpoint

__all__ = ["atomic_write", "load_checkpoint", "model_checkpoint", "read_metrics", "save_checkpoint", "write_json", "write_metrics"]


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], None]) -> None:
    """Write a file through `write(f)` into a temporary sibling, fsync it, then rename it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
