"""The foundation commands through Typer's CLI runner: verdicts, exit codes, JSON, bad input."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from faceprint.models import DEFAULT_MODEL
from faceprint.cli.app import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture()
def photos(lfw_subset: Path) -> dict[str, Path]:
    return {
        "blair1": lfw_subset / "Tony_Blair/Tony_Blair_0001.jpg",
        "blair2": lfw_subset / "Tony_Blair/Tony_Blair_0002.jpg",
        "powell": lfw_subset / "Colin_Powell/Colin_Powell_0001.jpg",
        "bush": lfw_subset / "George_W_Bush/George_W_Bush_0001.jpg",
    }


def test_verify_same_and_different(photos) -> None:
    same = run("verify", photos["blair1"], photos["blair2"], "--json")
    assert same.exit_code == 0, same.output
    out = json.loads(same.stdout)
    assert out["same"] is True and out["model"] == DEFAULT_MODEL and 0 < out["distance"] <= out["threshold"]
    diff = run("verify", photos["blair1"], photos["powell"])
    assert diff.exit_code == 1
    assert "different people" in diff.stdout


def test_verify_unreadable_and_no_face(photos, tmp_path) -> None:
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(photos["blair1"].read_bytes()[:500])
    r = run("verify", photos["blair1"], bad)
    assert r.exit_code == 2 and "broken.jpg" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((200, 200, 3), 128, np.uint8)).save(blank)
    r = run("verify", blank, photos["blair1"])
    assert r.exit_code == 2 and "blank.png" in r.stderr and "no face" in r.stderr
    r = run("verify", tmp_path / "missing.jpg", photos["blair1"])
    assert r.exit_code == 2 and "missing.jpg" in r.stderr


def test_verify_several_faces_uses_largest(photos, tmp_path) -> None:
    # Blair large on the left, Powell small on the right: the largest face decides.
    big = np.asarray(Image.open(photos["blair2"]).convert("RGB"))
    small = np.asarray(Image.open(photos["powell"]).convert("RGB").resize((150, 150)))
    canvas = np.zeros((250, 420, 3), np.uint8)
    canvas[:, :250] = big
    canvas[50:200, 260:410] = small
    group = tmp_path / "group.png"
    Image.fromarray(canvas).save(group)
    r = run("verify", photos["blair1"], group, "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["faces"][1] == 2 and any("using the largest" in n for n in out["notes"])


def test_unknown_model_is_a_usage_error(photos) -> None:
    r = run("verify", photos["blair1"], photos["blair2"], "--model", "nope")
    assert r.exit_code == 3 and "dlib-resnet-v1" in r.stderr


def test_detect_json_and_annotate(photos, tmp_path) -> None:
    out_dir = tmp_path / "ann"
    r = run("detect", photos["blair1"], photos["bush"], "--annotate", out_dir, "--json")
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert [len(x["faces"]) >= 1 for x in res] == [True, True]
    face = res[0]["faces"][0]
    assert len(face["box"]) == 4 and set(face["landmarks"]) == {"left_eye", "right_eye", "nose", "mouth_left", "mouth_right"}
    for x in res:
        img = Image.open(x["annotated"])
        assert img.size == (x["width"], x["height"])


def test_detect_takes_a_folder_as_identify_does(photos, tmp_path) -> None:
    """Issue 29: `detect DIR` reads the photos of a folder (and its sub-folders), as `identify` and `cluster` do."""
    import shutil

    (tmp_path / "album" / "sub").mkdir(parents=True)
    shutil.copy(photos["blair1"], tmp_path / "album" / "a.jpg")
    shutil.copy(photos["bush"], tmp_path / "album" / "sub" / "b.jpg")
    r = run("detect", tmp_path / "album", "--json")
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert sorted(Path(x["image"]).name for x in res) == ["a.jpg", "b.jpg"] and all(x["faces"] for x in res)


def test_detect_reports_bad_files_and_goes_on(photos, tmp_path) -> None:
    txt = tmp_path / "notes.txt"
    txt.write_text("not an image")
    r = run("detect", txt, photos["blair1"])
    assert r.exit_code == 2
    assert "notes.txt" in r.stderr and "Tony_Blair_0001.jpg: " in r.stdout and "#1 box=" in r.stdout


def _pairs_fixture(lfw_subset: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A 10-fold pairs file over lfw-subset (1 matched + 1 mismatched per fold) plus one faceless image."""
    images = tmp_path / "images"
    people = sorted(p.name for p in lfw_subset.iterdir())
    lines = ["10 1"]
    for k in range(10):
        a, b = people[k], people[(k + 1) % 10]
        for name in (a, b):
            (images / name).mkdir(parents=True, exist_ok=True)
        lines.append(f"{a} 1 2")
        lines.append(f"{a} 3 {b} 4")
    for name in people:
        for i in (1, 2, 3, 4):
            src = lfw_subset / name / f"{name}_{i:04d}.jpg"
            (images / name / src.name).write_bytes(src.read_bytes())
    # One image with no face: the protocol must fall back to the centre and say so.
    blank = images / people[0] / f"{people[0]}_0002.jpg"
    Image.fromarray(np.full((250, 250, 3), 90, np.uint8)).save(blank)
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("\n".join(lines) + "\n")
    return pairs, images


def test_eval_pairs_json_and_cache(lfw_subset, tmp_path) -> None:
    from faceprint.cache import EmbeddingCache

    pairs, images = _pairs_fixture(lfw_subset, tmp_path)
    r = run("eval", "pairs", pairs, "--images", images, "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    for key in ("model", "pairs", "accuracy_mean", "accuracy_std", "auc", "threshold", "no_face"):
        assert key in out
    assert out["pairs"] == 20 and out["no_face"] == 1 and out["model"] == DEFAULT_MODEL
    assert 0.0 <= out["accuracy_std"] <= out["accuracy_mean"] <= 1.0 and out["auc"] > 0.8
    # Every image is cached once; a rerun gives the same figures from the cache.
    with EmbeddingCache() as cache:
        n_cached = cache._db.execute(
            "SELECT count(*) FROM photos WHERE key LIKE ? AND path LIKE ?",
            (EmbeddingCache.VIEW + "|%", str(Path(images).resolve()) + "/%"),
        ).fetchone()[0]
    assert n_cached == out["images"]
    again = json.loads(run("eval", "pairs", pairs, "--images", images, "--json").stdout)
    assert again["accuracy_mean"] == out["accuracy_mean"] and again["auc"] == out["auc"]
    r = run("eval", "pairs", pairs, "--images", images)
    assert "10 folds" in r.stdout and "central region" in r.stdout


def test_eval_pairs_bad_inputs(lfw_subset, tmp_path) -> None:
    pairs, images = _pairs_fixture(lfw_subset, tmp_path)
    bad = tmp_path / "bad.txt"
    bad.write_text("10 300\nA 1 2\n")
    r = run("eval", "pairs", bad, "--images", images)
    assert r.exit_code == 2 and "bad.txt" in r.stderr
    r = run("eval", "pairs", pairs, "--images", tmp_path / "nowhere")
    assert r.exit_code == 2 and "not found" in r.stderr
