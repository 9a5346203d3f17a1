"""The training loop: P x K batches, online triplet mining, Adam with warm-up and cosine decay, validation, resume.

`train(config, run_dir)` prepares the face crops (cached), splits the people into training and held-out
validation people, and trains the network with pytorch-metric-learning's `TripletMarginLoss` on L2-normalised
embeddings. Before the first epoch and after every epoch the held-out people are embedded and scored
(`faceprint.train.validate`); the row goes into metrics.jsonl and the checkpoints are written (see
`faceprint.train.checkpoint`). Rerunning into a run directory that holds ``last.pt`` continues after its epoch.

Reproducibility: the sampler, the augmentation and the random miner are reseeded at the start of every epoch from
(seed, epoch), so a resumed run draws the same batches as an uninterrupted one would have.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from faceprint.errors import NoImagesFound, RunConflict
from faceprint.output_paths import make_output_dir
from faceprint.gallery.enroll import identity_folders, split_per_person
from faceprint.train.checkpoint import (
    load_checkpoint,
    model_checkpoint,
    save_checkpoint,
    write_json,
    write_metrics,
)
from faceprint.train.config import TrainConfig
from faceprint.train.curves import plot_curves
from faceprint.train.data import FaceSet, prepare_faces, select_people, split_people
from faceprint.train.mining import active_triplet_fraction, build_loss, build_miner
from faceprint.train.network import Network, build_network, network_from_state
from faceprint.train.validate import ValidationResult, validate_embeddings

__all__ = ["RunConflict", "TrainHooks", "TrainResult", "learning_rate", "train", "training_items"]

log = logging.getLogger(__name__)


class TrainHooks:
    """Progress callbacks of `train` (all optional; the CLI draws progress bars with them)."""

    def prepare_start(self, images: int) -> None: ...
    def prepare_image(self, path: str) -> None: ...
    def prepare_end(self, faces: FaceSet) -> None: ...
    def epoch_start(self, epoch: int, steps: int) -> None: ...
    def step(self, epoch: int, step: int, loss: float) -> None: ...
    def validation(self, epoch: int) -> None: ...
    def epoch_end(self, row: dict[str, Any], best: bool) -> None:
        """`row` is the epoch's metrics.jsonl line; `best` says whether it became best.pt (also after a resume)."""


@dataclass
class TrainResult:
    """What a call of `train` left in the run directory."""

    run_dir: Path
    epochs: int
    """The last finished epoch."""
    best_epoch: int
    best_auc: float | None
    history: list[dict[str, Any]] = field(default_factory=list)
    resumed_from: int | None = None
    """The epoch the run continued after, or None for a fresh run."""
    train_people: int = 0
    val_people: int = 0
    train_images: int = 0
    val_images: int = 0


def learning_rate(config: TrainConfig, step: int, total_steps: int, steps_per_epoch: int) -> float:
    """Linear warm-up from lr/10 over warmup_epochs, then cosine decay to lr * min_lr_ratio at the last step."""
    warm = int(round(config.warmup_epochs * steps_per_epoch))
    if step < warm:
        return config.lr * (0.1 + 0.9 * step / warm)
    span = max(total_steps - warm, 1)
    t = min((step - warm) / span, 1.0)
    lo = config.lr * config.min_lr_ratio
    return lo + (config.lr - lo) * 0.5 * (1.0 + math.cos(math.pi * t))


def _device(name: str | None) -> torch.device:
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {name!r}; choose cpu or cuda")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but torch sees no CUDA device")
    return torch.device(name)


@contextmanager
def _numpy_random(seed: int) -> Iterator[None]:
    """Seed pytorch-metric-learning's sampler (it draws from c_f.NUMPY_RANDOM) for one epoch."""
    from pytorch_metric_learning.utils import common_functions as c_f

    old = c_f.NUMPY_RANDOM
    c_f.NUMPY_RANDOM = np.random.RandomState(seed)
    try:
        yield
    finally:
        c_f.NUMPY_RANDOM = old


def _epoch_batches(labels: np.ndarray, config: TrainConfig, epoch: int) -> list[np.ndarray]:
    """The P x K batches of one epoch (pytorch-metric-learning's MPerClassSampler, seeded by epoch)."""
    from pytorch_metric_learning.samplers import MPerClassSampler

    b = config.batch_size
    sampler = MPerClassSampler(labels, m=config.per_person, batch_size=b, length_before_new_iter=max(len(labels), b))
    with _numpy_random(config.seed * 100_003 + epoch):
        order = np.fromiter(iter(sampler), dtype=np.int64)
    return [order[i : i + b] for i in range(0, len(order) - b + 1, b)]


def training_items(config: TrainConfig) -> list[tuple[str, Path]]:
    """The (person, photo) items to train and validate on, after --people-from, --min-images and --holdout-photos."""
    items = identity_folders(config.data_dir)
    people = None
    if config.people_from:
        from faceprint.evaluate.lfw import read_pairs

        pairs = read_pairs(config.people_from)
        people = sorted({img.split("/")[0] for img in pairs.images()})
    if config.holdout_photos > 0:
        items, _ = split_per_person(items, 1.0 - config.holdout_photos)
    return select_people(items, config.min_images, people)


def _split(faces: FaceSet, config: TrainConfig) -> tuple[list[str], list[str]]:
    counts: dict[str, int] = {}
    for p in faces.persons:
        counts[p] = counts.get(p, 0) + 1
    people = sorted(p for p, n in counts.items() if n >= config.min_images)
    if len(people) < 2:
        raise NoImagesFound(f"{config.data_dir}: fewer than two people with {config.min_images} usable photos")
    if config.val_dir or config.val_people == 0:
        return people, []
    return split_people(people, config.val_people, config.seed)


def _photos_digest(train: FaceSet, val: FaceSet | None) -> str:
    """A fingerprint of which photos (resolved path, size, mtime) train and validate, to refuse a resume on changed data."""
    h = hashlib.sha256()
    for tag, fs in (("train", train), ("val", val)):
        for src in sorted(str(Path(s).resolve()) for s in (fs.sources if fs is not None else [])):
            st = Path(src).stat()
            h.update(f"{tag}\0{src}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


@torch.no_grad()
def _embed(network: Network, crops: torch.Tensor, device: torch.device, amp: bool, batch: int = 128) -> np.ndarray:
    module = network.module
    module.eval()
    out = []
    for i in range(0, len(crops), batch):
        x = crops[i : i + batch].to(device).float()
        with _autocast(device, amp):
            e = module(network.embedder.preprocess(x))
        out.append(F.normalize(e.float(), dim=1).cpu())
    return torch.cat(out).numpy()


def _amp_dtype(device: torch.device) -> torch.dtype:
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def _autocast(device: torch.device, amp: bool) -> Any:
    if not amp:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=_amp_dtype(device))


class _Run:
    """State of one training run (used by `train`)."""

    def __init__(self, config: TrainConfig, run_dir: Path, hooks: TrainHooks) -> None:
        self.config = config
        self.run_dir = run_dir
        self.hooks = hooks
        self.device = _device(config.device)
        self.amp = (self.device.type == "cuda") if config.amp is None else bool(config.amp)
        if self.amp and self.device.type != "cuda":
            raise ValueError("mixed precision (--amp) needs a CUDA device")

    # -- setup ----------------------------------------------------------------------------------------------

    def setup(self) -> None:
        cfg = self.config
        last = self.run_dir / "last.pt"
        self.resume = load_checkpoint(last) if last.is_file() else None
        if self.resume is not None:
            stored = TrainConfig.from_dict(self.resume["config"])
            diff = stored.differences(cfg)
            if diff:
                raise RunConflict(
                    f"{self.run_dir} holds a run with other settings ({'; '.join(diff)}); rerun with the same "
                    f"settings to continue it, or start another --out from it with --init {self.run_dir / 'last.pt'}"
                )
            self.network = network_from_state(
                self.resume["base_model"], self.resume["model_state"], str(self.device),
                f"resumed from {last} (epoch {self.resume['epoch']})",
            )
        else:
            self.network = build_network(cfg.model, cfg.init, str(self.device), cfg.seed)
        self._prepare_data()
        self.batches_per_epoch = len(_epoch_batches(self.train_labels, cfg, 0))
        self.total_steps = cfg.epochs * self.batches_per_epoch
        self.miner = build_miner(cfg.mining, cfg.margin)
        self.loss_fn = build_loss(cfg.mining, cfg.margin)
        self.optimizer = torch.optim.Adam(self.network.module.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        use_scaler = self.amp and _amp_dtype(self.device) == torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=use_scaler)
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] = {"epoch": -1, "val_auc": None}
        self.epoch = 0
        if self.resume is not None:
            self.optimizer.load_state_dict(self.resume["optimizer"])
            if self.resume.get("scaler") and use_scaler:
                self.scaler.load_state_dict(self.resume["scaler"])
            self.history = list(self.resume["history"])
            self.best = dict(self.resume["best"])
            self.epoch = int(self.resume["epoch"])

    def _prepare_data(self) -> None:
        cfg = self.config
        items = training_items(cfg)
        val_items: list[tuple[str, Path]] = []
        if cfg.val_dir:
            val_items = select_people(identity_folders(cfg.val_dir), 2)
        self.hooks.prepare_start(len(items) + len(val_items))
        faces = prepare_faces(items, self.network.embedder, cfg.cropped, cfg.detector, on_image=self.hooks.prepare_image)
        train_people, val_people = _split(faces, cfg)
        val_faces = faces.of_people(val_people)
        if cfg.val_dir:
            val_faces = prepare_faces(val_items, self.network.embedder, cfg.cropped, cfg.detector, on_image=self.hooks.prepare_image)
            val_people = [p for p in val_faces.people if val_faces.persons.count(p) >= 2]  # with a same-person pair
            val_faces = val_faces.of_people(val_people)
        self.hooks.prepare_end(faces)
        digest = _photos_digest(faces.of_people(train_people), val_faces if val_people else None)
        if self.resume is not None:
            stored = self.resume["data"]
            same_photos = stored.get("photos_digest") in (None, digest)  # None: a run from before the digest
            if stored.get("train_people") != train_people or stored.get("val_people") != val_people or not same_photos:
                raise RunConflict(
                    f"the people or photos found in {cfg.data_dir} differ from those {self.run_dir} was trained on; "
                    "the data changed since the run started: choose another --out"
                )
        if len(train_people) < cfg.persons:
            raise ValueError(
                f"--persons {cfg.persons} is more than the {len(train_people)} people left for training "
                f"({len(val_people)} held out for validation): use --persons {len(train_people)} or fewer"
            )
        train_faces = faces.of_people(train_people)
        self.train_people, self.val_people = train_people, val_people
        self.train_crops = torch.from_numpy(np.ascontiguousarray(train_faces.crops)).to(self.device)
        self.train_labels = train_faces.labels(train_people)
        self.train_labels_t = torch.from_numpy(self.train_labels).to(self.device)
        self.val_crops = torch.from_numpy(np.ascontiguousarray(val_faces.crops)) if val_people else None
        self.val_labels = val_faces.labels(val_people) if val_people else None
        self.data_info = {
            "data_dir": cfg.data_dir,
            "train_people": train_people,
            "val_people": val_people,
            "train_images": len(train_faces),
            "val_images": len(val_faces) if val_people else 0,
            "skipped": {k: len(v) for k, v in faces.skipped.items()},
            "photos_digest": digest,
            "input_size": self.network.spec.input_size,
            "alignment": "cropped (central square)" if cfg.cropped else f"{cfg.detector} + {self.network.spec.template}",
        }

    # -- one epoch ------------------------------------------------------------------------------------------

    def _validate(self) -> ValidationResult | None:
        if self.val_crops is None:
            return None
        vec = _embed(self.network, self.val_crops, self.device, self.amp)
        return validate_embeddings(vec, self.val_labels, self.network.spec.metric, seed=self.config.seed)

    def train_epoch(self, epoch: int) -> dict[str, Any]:
        cfg = self.config
        batches = _epoch_batches(self.train_labels, cfg, epoch)
        torch.manual_seed(cfg.seed * 100_003 + epoch)  # the random miner draws from torch's global generator
        gen = torch.Generator().manual_seed(cfg.seed * 100_019 + epoch)
        aug = cfg.augmentation_() if cfg.augment else None
        module = self.network.module
        preprocess = self.network.embedder.preprocess
        module.train()
        self.hooks.epoch_start(epoch, len(batches))
        losses, actives, mined = [], [], []
        t0 = time.perf_counter()
        step0 = (epoch - 1) * self.batches_per_epoch
        lr = cfg.lr
        for i, idx in enumerate(batches):
            lr = learning_rate(cfg, step0 + i, self.total_steps, self.batches_per_epoch)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            sel = torch.from_numpy(idx).to(self.device)
            x = self.train_crops[sel].float()
            y = self.train_labels_t[sel]
            if aug is not None:
                x = aug(x, gen)
            with _autocast(self.device, self.amp):
                emb = module(preprocess(x))
            emb = F.normalize(emb.float(), dim=1)
            tuples = self.miner(emb, y) if self.miner is not None else None
            loss = self.loss_fn(emb, y, tuples)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            value = float(loss.detach())
            if not math.isfinite(value):
                raise FloatingPointError(f"the loss became {value} at epoch {epoch}, step {i + 1}; try a lower --lr")
            losses.append(value)
            actives.append(active_triplet_fraction(emb.detach(), y, cfg.margin))
            mined.append(len(tuples[0]) if tuples is not None else float("nan"))
            self.hooks.step(epoch, i + 1, value)
        seconds = time.perf_counter() - t0
        return {
            "epoch": epoch,
            "loss": float(np.mean(losses)),
            "active": float(np.mean(actives)),
            "mined_per_batch": None if self.miner is None else float(np.mean(mined)),
            "lr": lr,
            "steps": len(batches),
            "seconds": round(seconds, 3),
            "images_per_second": round(len(batches) * cfg.batch_size / max(seconds, 1e-9), 1),
        }

    # -- checkpoints ----------------------------------------------------------------------------------------

    def _calibration(self, val: ValidationResult | None) -> dict[str, float]:
        spec = self.network.spec
        if val is None:
            return {"threshold": spec.threshold, "confidence_slope": spec.confidence_slope, "source": "base model"}
        return {"threshold": val.threshold, "confidence_slope": val.confidence_slope, "source": "held-out people"}

    def finish_epoch(self, row: dict[str, Any], val: ValidationResult | None) -> None:
        """Record an epoch: last.pt first (atomic), then best.pt, metrics.jsonl, curves.png, epoch-NNN.pt."""
        cfg = self.config
        epoch = row["epoch"]
        if val is not None:
            row.update(val.to_metrics())
        else:
            row["val_auc"] = None
        self.history = [r for r in self.history if r["epoch"] < epoch] + [row]
        auc = row.get("val_auc")
        improved = (
            self.best["epoch"] < 0
            or (auc is not None and (self.best["val_auc"] is None or auc > self.best["val_auc"]))
            or (auc is None and self.best["val_auc"] is None)
        )
        if improved:
            self.best = {"epoch": epoch, "val_auc": auc}
        model = model_checkpoint(
            self.network.base_model, self.network.module.state_dict(), cfg.to_dict(), epoch, row,
            self._calibration(val), self.data_info,
        )
        last = {
            **model,
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
            "history": self.history,
            "best": self.best,
        }
        save_checkpoint(self.run_dir / "last.pt", last)
        if improved:
            save_checkpoint(self.run_dir / "best.pt", model)
        if cfg.save_every and epoch > 0 and epoch % cfg.save_every == 0:
            save_checkpoint(self.run_dir / f"epoch-{epoch:03d}.pt", model)
        self._write_history()
        self.hooks.epoch_end(row, improved)

    def _write_history(self) -> None:
        """metrics.jsonl and curves.png from the history so far."""
        write_metrics(self.run_dir / "metrics.jsonl", self.history)
        title = f"{self.network.base_model}: {self.config.mining} mining, {self.run_dir.name}"
        plot_curves(self.history, self.run_dir / "curves.png", title=title)

    def repair_outputs(self) -> None:
        """Redo what a kill just after last.pt may have left unwritten: best.pt (when the last epoch was the best),
        its epoch-NNN.pt, metrics.jsonl and curves.png, all from last.pt."""
        if self.resume is None:
            return
        cfg = self.config
        epoch = int(self.resume["epoch"])
        keys = ("format", "version", "faceprint", "created", "base_model", "model_state", "config", "epoch",
                "metrics", "calibration", "data")
        best_path = self.run_dir / "best.pt"
        if self.best["epoch"] == epoch and not (best_path.is_file() and load_checkpoint(best_path)["epoch"] == epoch):
            save_checkpoint(best_path, {k: self.resume[k] for k in keys})
        snapshot = self.run_dir / f"epoch-{epoch:03d}.pt"
        if cfg.save_every and epoch > 0 and epoch % cfg.save_every == 0 and not snapshot.is_file():
            save_checkpoint(snapshot, {k: self.resume[k] for k in keys})
        self._write_history()


def train(config: TrainConfig, run_dir: str | Path, hooks: TrainHooks | None = None) -> TrainResult:
    """Train (or continue training) a network as `config` says, writing everything into `run_dir`.

    Returns what the run directory holds at the end. An interruption (KeyboardInterrupt, a kill) loses at most
    the epoch in progress: rerun with the same settings to continue.
    """
    run = Path(run_dir)
    created = [p for p in (run, *run.parents) if not p.exists()]
    make_output_dir(run, "run folder")
    threads = torch.get_num_threads()
    if config.threads:
        torch.set_num_threads(config.threads)
    try:
        return _train(config, run, hooks or TrainHooks())
    except BaseException:
        for folder in created:  # a run that failed before writing anything leaves no empty folders behind
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        raise
    finally:
        torch.set_num_threads(threads)


def _train(config: TrainConfig, run: Path, hooks: TrainHooks) -> TrainResult:
    r = _Run(config, run, hooks)
    r.setup()
    resumed_from = r.epoch if r.resume is not None else None
    if r.resume is None:
        write_json(run / "config.json", {"config": config.to_dict(), "init": r.network.init, "data": r.data_info})
        r.finish_epoch({"epoch": 0, "loss": None, "active": None, "lr": None, "steps": 0}, r._validate())
    else:
        r.repair_outputs()
    for epoch in range(r.epoch + 1, config.epochs + 1):
        row = r.train_epoch(epoch)
        r.hooks.validation(epoch)
        r.finish_epoch(row, r._validate())
        r.epoch = epoch
    return TrainResult(
        run_dir=run,
        epochs=max(r.epoch, 0),
        best_epoch=int(r.best["epoch"]),
        best_auc=r.best["val_auc"],
        history=r.history,
        resumed_from=resumed_from,
        train_people=len(r.train_people),
        val_people=len(r.val_people),
        train_images=len(r.train_labels),
        val_images=0 if r.val_labels is None else len(r.val_labels),
    )
