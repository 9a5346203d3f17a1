"""The full configuration of a training run: what `faceprint train` was asked to do, stored in every checkpoint."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from faceprint.detect import DEFAULT_DETECTOR
from faceprint.train.augment import Augmentation

__all__ = ["INIT_CHOICES", "MINING_CHOICES", "TrainConfig"]

MINING_CHOICES = ("random", "semihard", "hard", "all")
"""Online triplet mining inside each P x K batch: random triplets, FaceNet's semi-hard negatives, batch-hard
(hardest positive and negative per anchor), or every valid triplet."""
INIT_CHOICES = ("pretrained", "scratch")
"""Besides these, --init takes the path of a checkpoint to start from."""

RESUMABLE_CHANGES = frozenset({"device", "amp", "threads", "save_every"})
"""Settings a resumed run may change: where and how fast it runs, and which epoch checkpoints it keeps. Not
`epochs`: the learning-rate schedule is laid out over all of them, so a changed count would jump the rate; to train
longer, start a new run from the old one (`--init RUN_DIR/last.pt`)."""


@dataclass
class TrainConfig:
    """Everything that defines a run. Saved in every checkpoint; a rerun into the same RUN_DIR must match it.

    Attributes:
        data_dir: identity folders DIR/<person>/<images>.
        model: registered model name (or a checkpoint path) whose network is trained.
        init: "pretrained", "scratch" or the path of a checkpoint whose weights start the run.
        mining, margin: triplet mining strategy and the triplet loss margin (on L2-normalised embeddings).
        persons, per_person: P people x K photos per batch.
        epochs: passes over the training photos (one epoch = len(train photos) // (P*K) batches).
        lr, weight_decay, warmup_epochs: Adam's learning rate, its weight decay, linear warm-up before the
            cosine decay to lr * min_lr_ratio at the last step.
        val_people: people held out of training for validation (share if < 1, else a count; 0: none).
        val_dir: validate on the people of this other identity folder instead (all of data_dir then trains).
        holdout_photos: share of every person's photos kept out of training altogether (split_per_person), so
            they can test identification afterwards.
        people_from: only train on people named in this LFW pairs file (for example pairsDevTrain.txt).
        min_images: people with fewer photos are left out (they cannot form a positive pair).
        cropped: each file is one face crop; no detection.
        detector: face detector when not cropped.
        augment: flip, affine and colour jitter on training batches (see Augmentation).
        amp: mixed precision (None: on for CUDA, off on the CPU).
        device: "cpu", "cuda" or None (cuda when available).
        seed: seeds the people split, the sampler, the augmentation and the initial weights.
        save_every: also keep epoch-NNN.pt every this many epochs (0: only last.pt and best.pt).
        threads: torch CPU threads (None: torch's default).
    """

    data_dir: str
    model: str
    init: str = "pretrained"
    mining: str = "semihard"
    margin: float = 0.2
    persons: int = 8
    per_person: int = 4
    epochs: int = 10
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_epochs: float = 1.0
    min_lr_ratio: float = 0.01
    val_people: float = 0.2
    val_dir: str | None = None
    holdout_photos: float = 0.0
    people_from: str | None = None
    min_images: int = 2
    cropped: bool = False
    detector: str = DEFAULT_DETECTOR
    augment: bool = True
    augmentation: dict[str, float] = field(default_factory=lambda: Augmentation().to_dict())
    amp: bool | None = None
    device: str | None = None
    seed: int = 0
    save_every: int = 0
    threads: int | None = None

    def __post_init__(self) -> None:
        if self.mining not in MINING_CHOICES:
            raise ValueError(f"unknown mining {self.mining!r}; choose one of {', '.join(MINING_CHOICES)}")
        if self.persons < 2:
            raise ValueError(f"--persons must be at least 2 (a triplet needs two people), got {self.persons}")
        if self.per_person < 2:
            raise ValueError(f"--per-person must be at least 2 (a triplet needs two photos of a person), got {self.per_person}")
        if self.epochs < 1:
            raise ValueError(f"--epochs must be at least 1, got {self.epochs}")
        if not self.lr > 0:
            raise ValueError(f"--lr must be positive, got {self.lr}")
        if self.margin < 0:
            raise ValueError(f"--margin must not be negative, got {self.margin}")
        if not 0.0 <= self.holdout_photos < 1.0:
            raise ValueError(f"--holdout-photos must be in [0, 1), got {self.holdout_photos}")
        if self.val_people < 0:
            raise ValueError(f"--val-people must not be negative, got {self.val_people}")

    @property
    def batch_size(self) -> int:
        return self.persons * self.per_person

    def augmentation_(self) -> Augmentation:
        return Augmentation(**self.augmentation)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Rebuild from `to_dict` output (unknown keys from newer versions are ignored)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def differences(self, other: TrainConfig) -> list[str]:
        """Settings that differ from `other` and that a resumed run may not change, as 'name: old -> new'."""
        mine, theirs = self.to_dict(), other.to_dict()
        return [
            f"{k}: {mine[k]!r} -> {theirs[k]!r}"
            for k in mine
            if k not in RESUMABLE_CHANGES and mine[k] != theirs[k]
        ]
