"""What `identify`, `enroll` and `detect` print: candidates in text and CSV, faceless rows, file names, exit codes."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

import faceprint
from faceprint.cli.app import app

runner = CliRunner()


@pytest.fixture(scope="module")
def gallery(lfw_subset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("g") / "g.sqlite"
    with faceprint.Gallery(path) as g:
        for person in ("Colin_Powell", "Ariel_Sharon", "Tony_Blair"):
            g.enroll(person, sorted((lfw_subset / person).glob("*.jpg"))[:2])
    return path


@pytest.mark.slow
def test_identify_lists_candidates_and_faceless_rows_and_keeps_every_annotated_copy(
    gallery: Path, lfw_subset: Path, tmp_path: Path, with_weights: Path
) -> None:
    for col, person in (("colA", "Colin_Powell"), ("colB", "Ariel_Sharon")):
        (tmp_path / col).mkdir()
        shutil.copy(sorted((lfw_subset / person).glob("*.jpg"))[5], tmp_path / col / "img.jpg")
    Image.new("RGB", (120, 120), (128, 128, 128)).save(tmp_path / "colB" / "blank.png")
    args = [str(tmp_path / "colA"), str(tmp_path / "colB"), "--gallery", str(gallery), "-k", "2"]

    r = runner.invoke(app, ["identify", *args, "--annotate", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    assert r.stdout.count("    candidates: ") == 2 and "no face found" in r.stdout
    written = sorted(p.name for p in (tmp_path / "out").glob("*_identified.jpg"))
    assert written == ["blank_identified.jpg", "colB_img_identified.jpg", "img_identified.jpg"]

    r = runner.invoke(app, ["identify", *args, "--csv"])
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [row["status"] for row in rows] == ["identified", "no face", "identified"]
    assert rows[0]["person"] == "Colin_Powell" and rows[0]["candidates"].startswith("Colin_Powell:")
    assert rows[0]["candidates"].count(";") == 1 and rows[1]["candidates"] == "" and rows[1]["image"].endswith("blank.png")


def test_identify_without_a_gallery_is_an_empty_gallery(tmp_path: Path, lfw_subset: Path) -> None:
    r = runner.invoke(app, ["identify", str(next(lfw_subset.glob("*/*.jpg"))), "--gallery", str(tmp_path / "none.sqlite")])
    assert r.exit_code == 8 and r.stderr.startswith("error: ") and "no gallery here" in r.stderr
    assert not (tmp_path / "none.sqlite").exists()


def test_plural() -> None:
    from faceprint.cli._common import plural

    assert [plural(1, "track"), plural(2, "track"), plural(1, "person", "people"), plural(1200, "person", "people")] == [
        "1 track", "2 tracks", "1 person", "1,200 people"]


@pytest.mark.slow
def test_enroll_says_use_largest_and_keeps_one_log(lfw_subset: Path, tmp_path: Path, with_weights: Path) -> None:
    folder = tmp_path / "people"
    for person in ("Colin_Powell", "Ariel_Sharon"):
        (folder / person).mkdir(parents=True)
        for p in sorted((lfw_subset / person).glob("*.jpg"))[:5]:
            shutil.copy(p, folder / person / p.name)
    Image.new("RGB", (120, 120), (128, 128, 128)).save(folder / "Nobody.png")  # not in a person folder: ignored
    (folder / "Empty_Person").mkdir()
    Image.new("RGB", (120, 120), (128, 128, 128)).save(folder / "Empty_Person" / "blank.png")
    first = runner.invoke(app, ["enroll", str(folder), "--gallery", str(tmp_path / "g.sqlite")])
    assert first.exit_code == 0, first.output
    assert "people enrolled" in first.stdout and "people in the photos" in first.stdout
    assert "photo skipped for several faces; rerun with --largest" in first.stdout
    again = runner.invoke(app, ["enroll", str(folder), "--gallery", str(tmp_path / "g.sqlite")])
    assert again.exit_code in (0, 2), again.output
    assert [p.name for p in tmp_path.glob("*.log")] == ["g-enroll.log"]
    assert (tmp_path / "g-enroll.log").read_text().count(" run of ") == 2
    r = runner.invoke(app, ["enroll", str(folder), "--gallery", str(tmp_path / "g.sqlite"), "--json"])
    import json

    out = json.loads(r.stdout)
    assert out["people_enrolled"] == 0 and out["people"] == 3  # a rerun enrols nobody new; 3 people in the photos


def test_no_empty_progress_bar_for_stored_vectors(gallery: Path, tmp_path: Path) -> None:
    """export and viz read a gallery's vectors without embedding anything: no "embedding photos 0/?" bar."""
    r = runner.invoke(app, ["export", "projector", str(tmp_path / "proj"), "--gallery", str(gallery), "--no-sprite"])
    assert r.exit_code == 0, r.output
    assert "0/?" not in r.stderr and "embedding photos" not in r.stderr


def test_threshold_zero_is_accepted_as_video_accepts_it(gallery: Path, lfw_subset: Path) -> None:
    """Issue 29: `--threshold 0` exited 3 in identify while video took it; one rule now (a number >= 0, where 0
    names only identical vectors), and -1 is refused in both (tests/test_video.py checks video's side)."""
    other = sorted((lfw_subset / "Colin_Powell").glob("*.jpg"))[5]  # not one of the enrolled photos
    r = runner.invoke(app, ["identify", str(other), "--gallery", str(gallery), "--threshold", "0"])
    assert r.exit_code == 0, r.output
    assert "UNKNOWN" in r.stdout and "threshold 0.000 (--threshold)" in r.stdout
    r = runner.invoke(app, ["identify", str(other), "--gallery", str(gallery), "--threshold", "-1"])
    assert r.exit_code == 3 and ">= 0" in r.stderr
