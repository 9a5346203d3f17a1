"""`faceprint train` (triplet training of an embedding network) and `faceprint train-head` (a linear head)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from rich.text import Text

from faceprint.detect import DEFAULT_DETECTOR
from faceprint.models import DEFAULT_MODEL
from faceprint.cli._common import Exit, console, err_console, handle_errors, print_error, print_json, progress_bar, styled, plural
from faceprint.cli._gallery_opts import GalleryOpt


def _usage_error(exc: Exception) -> typer.Exit:
    print_error(str(exc))
    return typer.Exit(int(Exit.USAGE))


def _fmt_pct(v: Any) -> str:
    return f"{100 * v:.1f}%" if isinstance(v, float) else "-"


def _resolved(name: str) -> str:
    """A model or --init that names an existing file or folder, as an absolute path (so a resume from another
    directory matches the stored config); a registered name or keyword as given."""
    return str(Path(name).resolve()) if Path(name).exists() else name


def _default_init(model: str) -> str:
    """pretrained when the model's weights are here (or it is a checkpoint), else scratch, saying so."""
    from faceprint.errors import FaceprintError
    from faceprint.models import get_model_spec

    try:
        spec = get_model_spec(model)
    except FaceprintError:
        return "pretrained"  # an unknown name fails with its own message when the run is configured
    if spec.weights is not None and not spec.weights.present():
        err_console.print(f"note: no pretrained weights of {model} here; training from scratch (--init scratch)", highlight=False)
        return "scratch"
    return "pretrained"


def _epoch_line(row: dict[str, Any], epochs: int, best: bool) -> Text:
    loss = f"loss {row['loss']:.4f}  active {_fmt_pct(row.get('active'))}  " if row.get("loss") is not None else "before training  "
    val = ""
    if row.get("val_auc") is not None:
        val = (
            f"held-out AUC {row['val_auc']:.4f}  pair acc {_fmt_pct(row['val_accuracy'])}  "
            f"rank-1 {_fmt_pct(row['val_rank1'])}"
        )
    return Text.assemble(f"epoch {row['epoch']}/{epochs}  {loss}{val}", styled("  (best)", "green") if best else "")


def train(
    data_dir: Annotated[Path, typer.Argument(help="Identity folders DIR/<person>/<images> to train on.")],
    model: Annotated[str, typer.Option("--model", "-m", help="Model whose network is trained (openface-nn4.small2-v1, facenet-inception-resnet-v1, or a checkpoint).")] = "openface-nn4.small2-v1",
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Run directory (required, unless --export-faces): checkpoints, metrics.jsonl, curves.png. Rerun into it to resume.")] = None,
    init: Annotated[Optional[str], typer.Option(help="Start from: pretrained, scratch, or the path of a checkpoint (default: pretrained when the model's weights are present, else scratch).")] = None,
    mining: Annotated[str, typer.Option(help="Triplet mining: random, semihard, hard (batch-hard) or all.")] = "semihard",
    margin: Annotated[float, typer.Option(help="Triplet loss margin on L2-normalised embeddings.")] = 0.2,
    persons: Annotated[int, typer.Option("--persons", "-P", help="People per batch.")] = 8,
    per_person: Annotated[int, typer.Option("--per-person", "-K", help="Photos per person per batch.")] = 4,
    epochs: Annotated[int, typer.Option(help="Epochs (one = as many batches as there are training photos / P*K).")] = 10,
    lr: Annotated[float, typer.Option(help="Adam learning rate (warm-up, then cosine decay).")] = 1e-3,
    weight_decay: Annotated[float, typer.Option(help="Adam weight decay.")] = 1e-4,
    warmup_epochs: Annotated[float, typer.Option(help="Linear learning-rate warm-up, in epochs.")] = 1.0,
    cropped: Annotated[bool, typer.Option("--cropped", help="Each file is already one face crop: no detection.")] = False,
    detector: Annotated[str, typer.Option(help="Face detector when not --cropped: yunet, mtcnn or dlib-hog.")] = DEFAULT_DETECTOR,
    val_people: Annotated[float, typer.Option(help="People held out for validation: a share (< 1) or a count; 0 for none.")] = 0.2,
    val_dir: Annotated[Optional[Path], typer.Option(help="Validate on the people of this folder instead (all of DIR trains).")] = None,
    holdout_photos: Annotated[float, typer.Option(help="Share of each person's photos never trained on (as train-head --holdout holds them out).")] = 0.0,
    people_from: Annotated[Optional[Path], typer.Option(help="Train only on the people of this LFW pairs file (e.g. pairsDevTrain.txt).")] = None,
    min_images: Annotated[int, typer.Option(help="Leave out people with fewer photos.")] = 2,
    augment: Annotated[bool, typer.Option("--augment/--no-augment", help="Flip, affine and colour jitter.")] = True,
    amp: Annotated[Optional[bool], typer.Option("--amp/--no-amp", help="Mixed precision (default: on for CUDA).")] = None,
    device: Annotated[Optional[str], typer.Option(help="cpu or cuda (default: cuda when available).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the split, sampler, augmentation and initial weights.")] = 0,
    save_every: Annotated[int, typer.Option(help="Also keep epoch-NNN.pt every N epochs (0: only last.pt and best.pt).")] = 0,
    threads: Annotated[Optional[int], typer.Option(help="torch CPU threads.")] = None,
    export_faces: Annotated[Optional[Path], typer.Option(help="Only prepare the face crops and write them as PNG identity folders here (to train elsewhere with --cropped).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the final summary as JSON.")] = False,
) -> None:
    """Train an embedding network with the triplet loss on P x K batches; validate on held-out people each epoch.

    Writes RUN_DIR/last.pt after every epoch (rerun the same command to resume), RUN_DIR/best.pt (usable as
    --model RUN_DIR/best.pt anywhere), metrics.jsonl and curves.png.
    """
    from faceprint.train.config import TrainConfig

    if out is None and export_faces is None:
        raise _usage_error(ValueError("give --out RUN_DIR (or --export-faces DIR to only prepare the crops)"))
    if init is None:
        init = _default_init(model)
    try:
        config = TrainConfig(
            data_dir=str(data_dir.resolve()),
            model=_resolved(model),
            init=_resolved(init),
            mining=mining,
            margin=margin,
            persons=persons,
            per_person=per_person,
            epochs=epochs,
            lr=lr,
            weight_decay=weight_decay,
            warmup_epochs=warmup_epochs,
            val_people=val_people,
            val_dir=str(val_dir.resolve()) if val_dir else None,
            holdout_photos=holdout_photos,
            people_from=str(people_from.resolve()) if people_from else None,
            min_images=min_images,
            cropped=cropped,
            detector=detector,
            augment=augment,
            amp=amp,
            device=device,
            seed=seed,
            save_every=save_every,
            threads=threads,
        )
    except ValueError as exc:
        raise _usage_error(exc) from None
    from faceprint.output_paths import check_output_dir

    with handle_errors():
        check_output_dir(export_faces if export_faces is not None else out, "run folder" if export_faces is None else "--export-faces folder")
    if export_faces is not None:
        _export(config, export_faces, as_json)
        return
    assert out is not None
    _run_training(config, out, as_json)


def _export(config: Any, out_dir: Path, as_json: bool) -> None:
    from faceprint.train.data import export_faces, prepare_faces
    from faceprint.train.loop import training_items
    from faceprint.train.network import build_network

    with handle_errors():
        try:
            network = build_network(config.model, "scratch", "cpu")
            items = training_items(config)
        except ValueError as exc:
            raise _usage_error(exc) from None
        with progress_bar() as bar:
            task = bar.add_task("preparing faces", total=len(items))
            faces = prepare_faces(items, network.embedder, config.cropped, config.detector, on_image=lambda _: bar.advance(task))
        n = export_faces(faces, out_dir)
    summary = {"faces": n, "people": len(faces.people), "out": str(out_dir), "skipped": {k: len(v) for k, v in faces.skipped.items()}}
    if as_json:
        print_json(summary)
    else:
        console.print(f"wrote {plural(n, 'face crop')} of {plural(len(faces.people), 'person', 'people')} to {out_dir} (skipped: {summary['skipped']})", highlight=False)


def _run_training(config: Any, out: Path, as_json: bool) -> None:
    from faceprint.train.loop import TrainHooks, train as run_train

    class Hooks(TrainHooks):
        def __init__(self) -> None:
            self.bar = progress_bar()
            self.task: Any = None
            self.started = False

        def prepare_start(self, images: int) -> None:
            self.started = True
            self.bar.start()
            self.task = self.bar.add_task("preparing faces", total=images)

        def prepare_image(self, path: str) -> None:
            self.bar.advance(self.task)

        def prepare_end(self, faces: Any) -> None:
            self.bar.update(self.task, completed=self.bar.tasks[-1].total)

        def epoch_start(self, epoch: int, steps: int) -> None:
            self.task = self.bar.add_task(f"epoch {epoch}/{config.epochs}", total=steps)
            self.losses: list[float] = []

        def step(self, epoch: int, step: int, loss: float) -> None:
            # The epoch's mean loss so far: at the end it is the figure of the epoch's summary line.
            self.losses.append(loss)
            mean = sum(self.losses) / len(self.losses)
            self.bar.update(self.task, advance=1, description=f"epoch {epoch}/{config.epochs} loss {mean:.4f}")

        def epoch_end(self, row: dict[str, Any], best: bool) -> None:
            self.bar.console.print(_epoch_line(row, config.epochs, best), highlight=False)

    hooks = Hooks()
    try:
        with handle_errors():
            try:
                result = run_train(config, out, hooks)
            except (ValueError, FloatingPointError) as exc:
                raise _usage_error(exc) from None
            finally:
                if hooks.started:
                    hooks.bar.stop()
    except KeyboardInterrupt:
        err_console.print(Text.assemble(
            styled("interrupted", "yellow"), f": every finished epoch is saved in {out / 'last.pt'}; rerun the same command to continue."
        ), highlight=False)
        raise typer.Exit(130) from None
    summary = {
        "run_dir": str(result.run_dir),
        "epochs": result.epochs,
        "resumed_from": result.resumed_from,
        "best_epoch": result.best_epoch,
        "best_val_auc": result.best_auc,
        "best": str(result.run_dir / "best.pt"),
        "train_people": result.train_people,
        "train_images": result.train_images,
        "val_people": result.val_people,
        "val_images": result.val_images,
        "last": result.history[-1] if result.history else None,
    }
    if as_json:
        print_json(summary)
        return
    if result.resumed_from is not None:
        console.print(f"resumed after epoch {result.resumed_from}", highlight=False)
    auc = f"held-out AUC {result.best_auc:.4f}" if result.best_auc is not None else "no validation"
    console.print(
        f"{result.epochs} epochs on {plural(result.train_images, 'photo')} of {plural(result.train_people, 'person', 'people')}; "
        f"best: epoch {result.best_epoch} ({auc}) -> {result.run_dir / 'best.pt'}",
        highlight=False,
    )
    console.print(f"use it as a model: --model {result.run_dir / 'best.pt'}", highlight=False, style="dim")


def train_head(
    data_dir: Annotated[Path, typer.Argument(help="Identity folders DIR/<person>/<images>.")],
    model: Annotated[str, typer.Option("--model", "-m", help="The frozen embedding model (any model name or checkpoint).")] = DEFAULT_MODEL,
    gallery: GalleryOpt = None,
    holdout: Annotated[float, typer.Option(help="Share of each person's photos held out to measure accuracy (0: none).")] = 0.4,
    cropped: Annotated[bool, typer.Option("--cropped", help="Each file is already one face crop: no detection.")] = False,
    detector: Annotated[str, typer.Option(help="Face detector when not --cropped: yunet, mtcnn or dlib-hog.")] = DEFAULT_DETECTOR,
    steps: Annotated[int, typer.Option(help="Training steps of the linear layer (Adam, cross-entropy).")] = 300,
    lr: Annotated[float, typer.Option(help="Learning rate of the linear layer.")] = 0.05,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Transfer learning: freeze the network, train a new linear layer on its embeddings, report held-out accuracy.

    The training share of each person's photos is enrolled into the gallery and the head is stored there, so
    `faceprint identify --classifier linear` uses it.
    """
    from faceprint.gallery import Gallery, identity_folders
    from faceprint.models import create_embedder
    from faceprint.train.head import train_head as run_head

    with handle_errors():
        try:
            items = identity_folders(data_dir)
            embedder = create_embedder(model)
            with Gallery(gallery) as g, progress_bar() as bar:
                task = bar.add_task("preparing faces", total=len(items))
                report, _ = run_head(
                    g, embedder, items, holdout, cropped, detector, params={"steps": steps, "lr": lr},
                    on_image=lambda _: bar.advance(task),
                )
                bar.update(task, completed=len(items))  # photos read from the face cache are not reported one by one
        except ValueError as exc:
            raise _usage_error(exc) from None
    if as_json:
        print_json(report.to_dict())
        return
    console.print(
        f"linear head on {report.model}: {plural(report.people, 'person', 'people')}, fitted on "
        f"{plural(report.fitted_faces, 'face')} of the gallery ({report.train_faces} from these photos, "
        f"{report.enrolled} newly enrolled); stored in {report.gallery} as {report.classifier_key}",
        highlight=False,
    )
    if report.head_accuracy is not None:
        console.print(
            f"held-out accuracy on {plural(report.test_faces, 'face')}: linear head {_fmt_pct(report.head_accuracy)}, "
            f"nearest enrolled face {_fmt_pct(report.nearest_accuracy)}",
            highlight=False,
        )
    skipped = {k: v for k, v in report.skipped.items() if v}
    if skipped:
        console.print(f"skipped photos: {skipped}", highlight=False, style="dim")
    console.print("use it with: faceprint identify PHOTOS --classifier linear --model " + model, highlight=False, style="dim")
