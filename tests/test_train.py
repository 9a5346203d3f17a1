"""Training: nn4.small2 learns on ORL faces (CPU, a few steps), a killed run resumes, best.pt works as a model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from faceprint.analyzer import FaceAnalyzer
from faceprint.cli.app import app
from faceprint.errors import WeightsError
from faceprint.gallery import Gallery, build_identifier, identity_folders, split_per_person
from faceprint.gallery.classifier_store import load_classifier
from faceprint.models import create_embedder, get_model_spec
from faceprint.models.checkpoint_model import load_checkpoint
from faceprint.recognize import identify_images
from faceprint.recognize.classifiers import LinearHeadClassifier
from faceprint.recognize.open_set import threshold_setting
from faceprint.train.augment import Augmentation
from faceprint.train.checkpoint import read_metrics
from faceprint.train.config import TrainConfig
from faceprint.train.loop import learning_rate
from faceprint.train.mining import RandomTripletMiner, active_triplet_fraction
from faceprint.train.validate import validate_embeddings

runner = CliRunner()
MODEL = "openface-nn4.small2-v1"
EPOCHS = 2


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> object:
    """Small CPU work runs much faster on one torch thread on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def run(*args: object):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def orl_small(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10 ORL people x 6 photos (links to ../shared): 7 train, 3 are held out by the run's seed."""
    root = tmp_path_factory.mktemp("orl-small")
    for s in range(1, 11):
        (root / f"s{s}").mkdir()
        for j in range(1, 7):
            (root / f"s{s}" / f"{j}.pgm").symlink_to(shared_dir / "data" / "orl" / f"s{s}" / f"{j}.pgm")
    return root


def _train_args(data: Path, out: Path) -> list[str]:
    return [
        "train", str(data), "--model", MODEL, "--init", "scratch", "--cropped", "--mining", "semihard",
        "--persons", "4", "--per-person", "2", "--epochs", str(EPOCHS), "--val-people", "3",
        "--threads", "1", "--out", str(out),
    ]


@pytest.fixture(scope="module")
def killed_and_resumed(orl_small: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A run killed (SIGKILL) right after its first epoch's checkpoint, then continued to the end."""
    out = tmp_path_factory.mktemp("run") / "orl"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "faceprint.cli", *_train_args(orl_small, out)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    metrics = out / "metrics.jsonl"
    deadline = time.monotonic() + 300
    try:
        while True:
            if metrics.is_file() and any(r["epoch"] >= 1 for r in read_metrics(metrics)):
                break
            if proc.poll() is not None:
                pytest.fail(f"the training process ended early ({proc.returncode}): {proc.stderr.read().decode()[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail("no epoch finished within 300 s")
            time.sleep(0.1)
        proc.send_signal(signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    killed_at = load_checkpoint(out / "last.pt")["epoch"]
    killed_rows = [r["epoch"] for r in read_metrics(metrics)]
    resumed = run(*_train_args(orl_small, out), "--json")
    return {"out": out, "killed_at": killed_at, "killed_rows": killed_rows, "resumed": resumed}


def test_killed_run_resumes_from_last_finished_epoch(killed_and_resumed, orl_small: Path) -> None:
    out: Path = killed_and_resumed["out"]  # type: ignore[assignment]
    killed_at = killed_and_resumed["killed_at"]
    assert killed_at >= 1 and killed_and_resumed["killed_rows"] == list(range(killed_at + 1))
    res = killed_and_resumed["resumed"]
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["resumed_from"] == killed_at and summary["epochs"] == EPOCHS
    rows = read_metrics(out / "metrics.jsonl")
    assert [r["epoch"] for r in rows] == list(range(EPOCHS + 1))  # epoch 0 = before training, each epoch once
    last = load_checkpoint(out / "last.pt")
    assert last["epoch"] == EPOCHS and [r["epoch"] for r in last["history"]] == list(range(EPOCHS + 1))
    assert TrainConfig.from_dict(last["config"]).epochs == EPOCHS and last["config"]["mining"] == "semihard"
    best = load_checkpoint(out / "best.pt")
    assert best["epoch"] == summary["best_epoch"] and "optimizer" not in best
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a finished run is not trained again
    # a kill right after last.pt can leave metrics.jsonl and curves.png unwritten: a rerun writes them again
    rows_before = (out / "metrics.jsonl").read_text()
    (out / "metrics.jsonl").unlink()
    (out / "curves.png").unlink()
    again = run(*_train_args(orl_small, out), "--json")
    assert again.exit_code == 0 and json.loads(again.stdout)["resumed_from"] == EPOCHS
    assert (out / "metrics.jsonl").read_text() == rows_before and (out / "curves.png").is_file()


def test_loss_falls_and_unseen_people_are_told_apart(killed_and_resumed) -> None:
    out: Path = killed_and_resumed["out"]  # type: ignore[assignment]
    rows = read_metrics(out / "metrics.jsonl")
    trained = [r for r in rows if r["epoch"] >= 1]
    assert trained[-1]["loss"] < trained[0]["loss"], [r["loss"] for r in trained]
    assert trained[-1]["active"] < trained[0]["active"]
    assert rows[-1]["val_auc"] > 0.5 and max(r["val_auc"] for r in trained) > rows[0]["val_auc"]
    data = load_checkpoint(out / "last.pt")["data"]
    assert len(data["val_people"]) == 3 and not set(data["val_people"]) & set(data["train_people"])
    for r in rows:
        assert {"epoch", "loss", "val_auc", "val_accuracy", "val_rank1"} <= set(r)


def test_best_checkpoint_is_a_model_name(killed_and_resumed, lfw_subset: Path) -> None:
    out: Path = killed_and_resumed["out"]  # type: ignore[assignment]
    best = out / "best.pt"
    spec = get_model_spec(str(best))
    assert spec.name.startswith(MODEL + "@") and spec.input_size == 96
    assert get_model_spec(str(out)).name == spec.name  # the run directory means its best.pt
    assert spec.threshold == pytest.approx(load_checkpoint(best)["calibration"]["threshold"])
    a, b = lfw_subset / "Tony_Blair/Tony_Blair_0001.jpg", lfw_subset / "Tony_Blair/Tony_Blair_0002.jpg"
    r = run("verify", a, b, "--model", best, "--json")
    assert r.exit_code in (0, 1), r.output
    result = json.loads(r.stdout)
    assert result["model"] == spec.name and result["threshold"] == pytest.approx(spec.threshold)
    missing = run("verify", a, b, "--model", out / "nope.pt")
    assert missing.exit_code == 4 and "nope.pt" in missing.stderr


def test_checkpoint_rewritten_after_resolving_is_not_built_under_the_old_name(killed_and_resumed, tmp_path: Path) -> None:
    """A best.pt replaced (by a training run) between naming it and building it must not embed under the old digest."""
    import shutil

    out: Path = killed_and_resumed["out"]  # type: ignore[assignment]
    ckpt = tmp_path / "copy.pt"
    shutil.copyfile(out / "best.pt", ckpt)
    spec = get_model_spec(str(ckpt))
    before = create_embedder(str(ckpt))
    assert before.name == spec.name  # unchanged file: builds
    other = (out / "last.pt").read_bytes()
    assert other != ckpt.read_bytes()
    ckpt.write_bytes(other)
    with pytest.raises(WeightsError, match="changed after it was read"):
        spec.builder(spec)
    # resolving the path again names the new content, and the embedder is built anew from it
    after = create_embedder(str(ckpt))
    assert after is not before and after.name == get_model_spec(str(ckpt)).name != spec.name


def test_ensemble_with_a_checkpoint_member_is_named_by_its_content(killed_and_resumed, lfw_subset: Path, tmp_path: Path) -> None:
    """`ensemble:dlib-resnet-v1+PATH.pt` carries the checkpoint's digest, so a retrained file is another model."""
    import shutil

    from faceprint.cache import pipeline_key

    out: Path = killed_and_resumed["out"]  # type: ignore[assignment]
    ckpt = tmp_path / "member.pt"
    shutil.copyfile(out / "best.pt", ckpt)
    name = f"ensemble:dlib-resnet-v1+{ckpt}"
    spec = get_model_spec(name)
    assert spec.name == f"ensemble:dlib-resnet-v1+{get_model_spec(str(ckpt)).name}"
    assert get_model_spec(spec.name) == spec and pipeline_key(name) == pipeline_key(spec.name)
    fe = FaceAnalyzer(model=name).embed_one(lfw_subset / "Tony_Blair/Tony_Blair_0001.jpg")
    assert fe.embedding.model == spec.name and fe.embedding.vectors.shape == (1, 128 + 128)
    ckpt.write_bytes((out / "last.pt").read_bytes())
    retrained = get_model_spec(name)
    assert retrained.name != spec.name and pipeline_key(name) != pipeline_key(spec.name)
    assert create_embedder(name).name == retrained.name


def test_cli_gallery_commands_take_a_checkpoint_path_or_an_ensemble_with_one(killed_and_resumed, lfw_subset: Path, tmp_path: Path) -> None:
    """enroll, calibrate and identify store and look up by the resolved name, so the same path finds what was stored."""
    out: Path = killed_and_resumed["out"]  # type: ignore[assignment]
    best = out / "best.pt"
    photos = [lfw_subset / "Tony_Blair" / f"Tony_Blair_000{i}.jpg" for i in (2, 3, 4)]  # _0001: a second, cut-off face for YuNet
    query = lfw_subset / "Tony_Blair" / "Tony_Blair_0005.jpg"
    for model in (str(best), f"ensemble:dlib-resnet-v1+{best}"):
        g = tmp_path / f"g{len(model)}.sqlite"
        r = run("enroll", *photos, "--person", "Tony_Blair", "-g", g, "-m", model, "--json")
        assert r.exit_code == 0, r.output
        assert json.loads(r.stdout)["model"] == get_model_spec(model).name
        r = run("calibrate", lfw_subset, "-g", g, "-m", model, "--pair-far", "0.01", "--json")
        assert r.exit_code == 0, r.output
        with Gallery(g) as gallery:  # stored where identify looks for the model's threshold
            assert gallery.get_setting(threshold_setting(gallery, get_model_spec(model).name)) == repr(json.loads(r.stdout)["threshold"])
        r = run("identify", query, "-g", g, "-m", model, "--json")
        assert r.exit_code == 0, r.output
        assert len(json.loads(r.stdout)) == 1
        r = run("enroll", *[lfw_subset / "Colin_Powell" / f"Colin_Powell_000{i}.jpg" for i in (1, 2, 3)], "--person", "Colin_Powell", "-g", g, "-m", model)
        assert r.exit_code == 0, r.output
        r = run("fit-classifier", "--kind", "knn", "-g", g, "-m", model)
        assert r.exit_code == 0, r.output
        r = run("export", "projector", tmp_path / f"proj{len(model)}", "-g", g, "-m", model, "--no-sprite")
        assert r.exit_code == 0, r.output
        assert len((tmp_path / f"proj{len(model)}" / "vecs.tsv").read_text().splitlines()) == 6
    # the resolved name alone means nothing to a new process: the message says to give the path
    fresh = subprocess.run([str(Path(sys.executable).with_name("faceprint")), "verify", photos[0], photos[1], "-m", get_model_spec(str(best)).name],
                           capture_output=True, text=True)
    assert fresh.returncode == 3 and "give the checkpoint's path" in fresh.stderr


def test_ensemble_of_one_checkpoint_twice_is_refused(killed_and_resumed, tmp_path: Path) -> None:
    import shutil

    from faceprint.errors import UnknownModel

    out: Path = killed_and_resumed["out"]  # type: ignore[assignment]
    a, b = tmp_path / "a.pt", tmp_path / "b.pt"
    shutil.copyfile(out / "best.pt", a)
    shutil.copyfile(out / "best.pt", b)
    with pytest.raises(UnknownModel, match="same weights"):
        get_model_spec(f"ensemble:{a}+{b}")


def test_train_head_is_used_by_identify(killed_and_resumed, orl_small: Path, tmp_path: Path) -> None:
    best = killed_and_resumed["out"] / "best.pt"  # type: ignore[operator]
    gallery = tmp_path / "g.sqlite"
    r = run("train-head", orl_small, "--model", best, "--gallery", gallery, "--holdout", "0.34", "--json")
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    train, test = split_per_person(identity_folders(orl_small), 0.66)
    assert report["people"] == 10 and report["train_faces"] == len(train) and report["test_faces"] == len(test)
    assert report["fitted_faces"] == len(train)
    assert 0.0 <= report["head_accuracy"] <= 1.0 and report["classifier_key"].startswith("classifier:linear:")
    name = get_model_spec(str(best)).name
    with Gallery(gallery, create=False) as g:
        clf = load_classifier(g, name, "linear", stale="refuse")
    assert isinstance(clf, LinearHeadClassifier) and len(clf.classes_) == 10
    # what `identify --classifier linear` does with it (build_identifier loads the stored head)
    with Gallery(gallery, create=False) as g:
        analyzer = FaceAnalyzer(model=str(best))
        ident = build_identifier(g, analyzer, classifier="linear")
        results = identify_images([test[0][1]], analyzer, ident)
    assert isinstance(ident.classifier, LinearHeadClassifier) and ident.gallery.model == name
    assert results[0].match is not None and results[0].match.closest in clf.classes_
    # --holdout 0 on the same gallery: every photo trains, the held-out share is enrolled now, and the counts say
    # what the head was fitted on (all the gallery's faces), with a progress bar that reaches its end
    r = run("train-head", orl_small, "--model", best, "--gallery", gallery, "--holdout", "0")
    assert r.exit_code == 0, r.output
    n = len(train) + len(test)
    assert f"fitted on {n} faces of the gallery ({n} from these photos, {len(test)} newly enrolled)" in r.stdout
    assert f"{n}/{n}" in r.stderr


def test_rerun_with_other_settings_is_refused(killed_and_resumed) -> None:
    out: Path = killed_and_resumed["out"]  # type: ignore[assignment]
    data = Path(load_checkpoint(out / "last.pt")["config"]["data_dir"])
    args = _train_args(data, out)
    args[args.index("semihard")] = "hard"
    r = run(*args)
    assert r.exit_code == 13 and "mining" in r.stderr
    # more epochs would reshape the learning-rate schedule of the finished part: refused too
    longer = _train_args(data, out)
    longer[longer.index("--epochs") + 1] = str(EPOCHS + 2)
    r = run(*longer)
    assert r.exit_code == 13 and "epochs" in r.stderr and "--init" in r.stderr


# -- the parts, on synthetic inputs ---------------------------------------------------------------------------


def test_augmentation_flip_is_exact_and_jitter_stays_in_range() -> None:
    x = torch.rand(3, 96, 96, 3) * 255
    flip_only = Augmentation(flip=1.0, rotate=0, scale=0, shift=0, brightness=0, contrast=0, saturation=0)
    assert torch.allclose(flip_only(x, torch.Generator().manual_seed(0)), x.flip(2), atol=1e-2)
    y = Augmentation()(x, torch.Generator().manual_seed(1))
    assert y.shape == x.shape and float(y.min()) >= 0 and float(y.max()) <= 255
    again = Augmentation()(x, torch.Generator().manual_seed(1))
    assert torch.equal(y, again) and not torch.allclose(y, x)


def test_learning_rate_warms_up_then_decays() -> None:
    cfg = TrainConfig(data_dir=".", model=MODEL, lr=1e-3, warmup_epochs=1, min_lr_ratio=0.01)
    lrs = [learning_rate(cfg, s, 100, 10) for s in range(100)]
    assert lrs[0] == pytest.approx(1e-4) and max(lrs) == pytest.approx(1e-3, rel=1e-6)
    assert np.all(np.diff(lrs[:10]) > 0) and np.all(np.diff(lrs[10:]) <= 0) and lrs[-1] >= 1e-5


def test_miner_and_active_fraction_against_brute_force() -> None:
    gen = torch.Generator().manual_seed(0)
    emb = torch.nn.functional.normalize(torch.randn(12, 8, generator=gen), dim=1)
    labels = torch.arange(4).repeat_interleave(3)
    a, p, n = RandomTripletMiner()(emb, labels)
    assert len(a) == 12 and bool((labels[a] == labels[p]).all() and (labels[a] != labels[n]).all() and (a != p).all())
    d = torch.cdist(emb, emb)
    active = total = 0
    for i in range(12):
        for j in range(12):
            for k in range(12):
                if i != j and labels[i] == labels[j] and labels[i] != labels[k]:
                    total += 1
                    active += bool(d[i, j] - d[i, k] + 0.2 > 0)
    assert active_triplet_fraction(emb, labels, 0.2, chunk=5) == pytest.approx(active / total)


def test_validation_of_separated_and_random_embeddings() -> None:
    labels = np.repeat(np.arange(5), 4)
    centres = np.eye(5, 16)
    perfect = centres[labels] + 0.01 * np.random.default_rng(0).normal(size=(20, 16))
    v = validate_embeddings(perfect.astype(np.float32), labels)
    assert v.auc == 1.0 and v.rank1 == 1.0 and v.accuracy == 1.0 and v.same_pairs == 30
    noise = validate_embeddings(np.random.default_rng(1).normal(size=(20, 16)).astype(np.float32), labels)
    assert 0.2 < noise.auc < 0.8


def test_cached_crops_keep_the_callers_paths(orl_small: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cache hit names sources as the caller spells them (train-head matches its hold-out by these strings)."""
    from faceprint.models.checkpoint_model import get_architecture
    from faceprint.train.data import face_cache_path, prepare_faces

    arch = get_architecture(MODEL)  # an untrained nn4.small2: OpenFace's weights are not here
    emb = arch.wrap(get_model_spec(MODEL), arch.build(), "cpu")
    absolute = identity_folders(orl_small)[:6]
    first = prepare_faces(absolute, emb, cropped=True)
    monkeypatch.chdir(orl_small)
    relative = [(person, Path(path).relative_to(orl_small)) for person, path in absolute]
    assert face_cache_path(relative, emb, True) == face_cache_path(absolute, emb, True)  # the same cache entry
    again = prepare_faces(relative, emb, cropped=True)
    assert again.sources == [str(p) for _, p in relative] and again.persons == first.persons
    np.testing.assert_array_equal(again.crops, first.crops)


def test_train_head_refuses_held_out_photos_already_enrolled(killed_and_resumed, orl_small: Path, tmp_path: Path) -> None:
    best = killed_and_resumed["out"] / "best.pt"  # type: ignore[operator]
    gallery = tmp_path / "g.sqlite"
    everything = run("train-head", orl_small, "--model", best, "--gallery", gallery, "--holdout", "0", "--json")
    assert everything.exit_code == 0, everything.output
    r = run("train-head", orl_small, "--model", best, "--gallery", gallery, "--holdout", "0.34")
    assert r.exit_code != 0 and "already enrolled" in r.stderr


def test_resume_on_changed_photos_is_refused(killed_and_resumed, orl_small: Path, shared_dir: Path) -> None:
    out: Path = killed_and_resumed["out"]  # type: ignore[assignment]
    extra = orl_small / "s1" / "7.pgm"  # one more photo of a person the run trains on: same people, other data
    extra.symlink_to(shared_dir / "data" / "orl" / "s1" / "7.pgm")
    try:
        r = run(*_train_args(orl_small, out))
    finally:
        extra.unlink()
    assert r.exit_code == 13 and "photos" in r.stderr


def test_validation_with_a_single_same_person_pair_says_so() -> None:
    v = np.random.default_rng(0).normal(size=(4, 8)).astype(np.float32)
    with pytest.raises(ValueError, match="two same-person pairs"):
        validate_embeddings(v, np.array([0, 0, 1, 2]))


def test_checkpoint_is_a_model_name_plus_weights_and_its_gallery_reopens_in_a_new_process(
    killed_and_resumed, lfw_subset: Path, tmp_path: Path
) -> None:
    """timm's create_model(name, checkpoint_path=...): the base model's name plus weights=PATH; a gallery enrolled
    with it records the path, so another process reopens it by the stored name alone."""
    import subprocess
    import sys

    import faceprint

    out: Path = killed_and_resumed["out"]  # type: ignore[assignment]
    best = out / "best.pt"
    spec = get_model_spec("openface-nn4.small2-v1", weights=best)
    assert spec.name.startswith("openface-nn4.small2-v1@") and spec.name == get_model_spec(str(best)).name
    with pytest.raises(WeightsError, match="not dlib-resnet-v1"):
        get_model_spec("dlib-resnet-v1", weights=best)
    photos = sorted((lfw_subset / "Tony_Blair").glob("*.jpg"))[1:]  # _0001: a second, cut-off face for YuNet
    path = tmp_path / "g.sqlite"
    with faceprint.Gallery(path, model="openface-nn4.small2-v1", weights=best) as g:
        assert g.enroll("Tony", photos[:3]).faces_enrolled == 3
        assert g.model == spec.name
    script = (
        "import sys, faceprint\n"
        f"g = faceprint.Gallery({str(path)!r}, model={spec.name!r}, create=False)\n"
        f"print(g.identify({str(photos[0])!r})[0].person)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Tony"
