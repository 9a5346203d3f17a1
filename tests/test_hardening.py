"""Issue 11, items 1-12: the edges a new user hits, each through the real CLI (Typer's runner, or a subprocess where
file permissions matter). Every case ends in one `error:` line and the exit code of docs/cli.md's table, never a traceback.

Permissions: as root every file is writable, so the permission cases run the CLI in a subprocess without the
capabilities that let root ignore file modes (`setpriv`); as another user they run as that user.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import faceprint
from faceprint.cli._common import EXIT_CODES, Exit, distinct, exit_code_for
from faceprint.cli.app import app
from faceprint.errors import EXTRA_OF_PACKAGE, FaceprintError, GalleryError, InsufficientData, MissingExtra
from faceprint.evaluate.lfw import Pair, PairsFile, protocol_folds
from faceprint.gallery import Gallery
from faceprint.models import DEFAULT_MODEL

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]
SRC = Path(faceprint.__file__).resolve().parents[1]


def run(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def fails(r, code: int, *words: str) -> None:
    """Exit `code`, exactly one `error:` line on stderr containing every word, and no traceback."""
    out = r.stderr if hasattr(r, "stderr") else ""
    assert r.exit_code == code, (r.exit_code, r.output if hasattr(r, "output") else out)
    assert "Traceback" not in out
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, out
    for w in words:
        assert w in errors[0], (w, errors[0])


class Proc:
    """A finished CLI subprocess, shaped like a CliRunner result."""

    def __init__(self, p: subprocess.CompletedProcess[str]) -> None:
        self.exit_code, self.stdout, self.stderr = p.returncode, p.stdout, p.stderr
        self.output = p.stdout + p.stderr


def _unprivileged() -> list[str]:
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: file permissions cannot be tested")
    drop = "-dac_override,-dac_read_search"
    return ["setpriv", f"--bounding-set={drop}", f"--inh-caps={drop}"]


def run_unprivileged(*args: object, code: str | None = None) -> Proc:
    """The CLI (or a Python snippet) in a subprocess that file modes apply to."""
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    argv = [sys.executable, "-c", code] if code is not None else [sys.executable, "-m", "faceprint.cli", *map(str, args)]
    return Proc(subprocess.run(_unprivileged() + argv, capture_output=True, text=True, env=env, timeout=120))


@pytest.fixture
def a_file(tmp_path: Path) -> Path:
    f = tmp_path / "in_the_way"
    f.write_text("a file where a folder should be")
    return f


@pytest.fixture
def read_only_dir(tmp_path: Path):
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o555)
    yield d
    d.chmod(0o755)


@pytest.fixture
def small_gallery(lfw_subset: Path, tmp_path: Path) -> Path:
    """A gallery with 2 people x 2 photos (dlib-resnet-v1), enrolled through the CLI."""
    path = tmp_path / "g.sqlite"
    for person in ("Tony_Blair", "Colin_Powell"):
        photos = [lfw_subset / person / f"{person}_000{i}.jpg" for i in (1, 2)]
        r = run("enroll", "--person", person, *photos, "--gallery", path, "--json")
        assert r.exit_code == 0, r.output
    return path


def _vector_gallery(path: Path, names: list[str]) -> Path:
    """A gallery of random unit vectors standing in for the default model's (no model needed), two faces per name."""
    rng = np.random.default_rng(0)
    with Gallery(path) as g, g.transaction():
        for i, name in enumerate(names):
            for j in range(2):
                v = rng.normal(size=128).astype(np.float32)
                g.add_face(name, f"{i}-{j}.jpg", f"sha-{i}-{j}", None, v / np.linalg.norm(v), DEFAULT_MODEL)
    return path


# -- 1. output paths --------------------------------------------------------------------------------------------


def test_output_paths_with_a_file_in_the_way(a_file: Path, tmp_path: Path, lfw_subset: Path) -> None:
    photo = lfw_subset / "Tony_Blair/Tony_Blair_0001.jpg"
    fails(run("detect", photo, "--annotate", a_file), Exit.OUTPUT, str(a_file), "a file, not a folder")
    fails(run("detect", photo, "--annotate", a_file / "sub"), Exit.OUTPUT, "is a file, not a folder")
    fails(run("identify", photo, "--annotate", a_file, "--gallery", tmp_path / "none.sqlite"), Exit.OUTPUT, str(a_file))
    fails(run("export", "projector", a_file, lfw_subset), Exit.OUTPUT, str(a_file))
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("1\nTony_Blair 1 2\nTony_Blair 1 Colin_Powell 1\n")
    fails(run("eval", "pairs", pairs, "--images", lfw_subset, "--report", a_file), Exit.OUTPUT, str(a_file))
    fails(run("train", lfw_subset, "--model", "openface-nn4.small2-v1", "--out", a_file / "run"), Exit.OUTPUT, "not a folder")
    fails(run("enroll", lfw_subset, "--log", a_file / "x.log", "--gallery", tmp_path / "g.sqlite"), Exit.OUTPUT, "not a folder")
    assert not (tmp_path / "g.sqlite").exists()  # refused before anything was created


def test_viz_out_must_be_a_picture_file(tmp_path: Path) -> None:
    gallery = _vector_gallery(tmp_path / "g.sqlite", ["ann", "bob", "cy"])
    fails(run("viz", "tsne", "--gallery", gallery, "--out", tmp_path / "t.txt"), Exit.OUTPUT, "t.txt", "unsupported", ".png")
    empty = tmp_path / "emptydir"
    empty.mkdir()
    fails(run("viz", "tsne", "--gallery", gallery, "--out", empty), Exit.OUTPUT, "is a folder", "emptydir/out.png")
    assert list(empty.iterdir()) == [] and not (tmp_path / "emptydir.png").exists()


def test_output_folder_without_write_permission(read_only_dir: Path, lfw_subset: Path) -> None:
    photo = lfw_subset / "Tony_Blair/Tony_Blair_0001.jpg"
    r = run_unprivileged("detect", photo, "--annotate", read_only_dir / "out")
    fails(r, Exit.OUTPUT, "no permission to write in", str(read_only_dir))


# -- 2, 3. gallery location and read-only galleries -------------------------------------------------------------


def test_gallery_folder_that_cannot_be_created(a_file: Path) -> None:
    with pytest.raises(GalleryError, match="cannot create the gallery's folder"):
        Gallery(a_file / "sub" / "g.sqlite")
    fails(run("people", "list", "--gallery", a_file / "g.sqlite"), Exit.GALLERY)  # a file as folder: no gallery here
    r = run("enroll", "--person", "x", a_file, "--gallery", a_file / "sub" / "g.sqlite")
    fails(r, Exit.GALLERY, "cannot create the gallery's folder", "--gallery")


def test_gallery_in_a_folder_without_write_permission(read_only_dir: Path, lfw_subset: Path) -> None:
    photo = lfw_subset / "Tony_Blair/Tony_Blair_0001.jpg"
    r = run_unprivileged("enroll", "--person", "x", photo, "--gallery", read_only_dir / "g.sqlite")
    fails(r, Exit.GALLERY, "no permission to create a file in", str(read_only_dir))
    code = f"from faceprint.gallery import Gallery\nGallery({str(read_only_dir / 'sub' / 'g.sqlite')!r})"
    r = run_unprivileged(code=code)
    assert r.exit_code == 1 and "faceprint.errors.GalleryError" in r.stderr and "PermissionError" not in r.stderr


def test_read_only_gallery_serves_every_read_command(small_gallery: Path, tmp_path: Path, lfw_subset: Path) -> None:
    folder = tmp_path / "shelf"
    folder.mkdir()
    gallery = folder / "g.sqlite"
    shutil.copy(small_gallery, gallery)
    gallery.chmod(0o444)
    folder.chmod(0o555)
    try:
        r = run_unprivileged("people", "list", "--gallery", gallery, "--json")
        assert r.exit_code == 0, r.output
        assert {p["name"] for p in json.loads(r.stdout)} == {"Tony_Blair", "Colin_Powell"}
        r = run_unprivileged("identify", lfw_subset / "Tony_Blair/Tony_Blair_0003.jpg", "--gallery", gallery, "--json")
        assert r.exit_code == 0, r.output
        assert json.loads(r.stdout)[0]["person"] == "Tony_Blair"
        code = f"from faceprint.gallery import Gallery\nprint(len(Gallery({str(gallery)!r}, create=False).people()))"
        r = run_unprivileged(code=code)
        assert r.exit_code == 0 and r.stdout.strip() == "2", r.output
        r = run_unprivileged("people", "rename", "Tony_Blair", "Tony", "--gallery", gallery)
        fails(r, Exit.GALLERY, "read-only")
    finally:
        folder.chmod(0o755)


# -- 5. eval pairs on tiny files --------------------------------------------------------------------------------


def _pairs(n_same: int, n_diff: int) -> PairsFile:
    pairs = [Pair(f"A/{i}.jpg", f"A/{i + 1}.jpg", True, 0) for i in range(n_same)]
    pairs += [Pair(f"A/{i}.jpg", f"B/{i}.jpg", False, 0) for i in range(n_diff)]
    return PairsFile(pairs, 1)


def test_pairs_file_too_small_for_ten_folds(tmp_path: Path, lfw_subset: Path) -> None:
    for n in (1, 5, 9):
        with pytest.raises(InsufficientData, match=f"at least 10 matched and 10 mismatched.*{n} matched and {n} mismatched"):
            protocol_folds(_pairs(n, n))
    assert sorted(set(protocol_folds(_pairs(10, 12)))) == list(range(10))
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("1\nTony_Blair 1 2\nTony_Blair 1 Colin_Powell 1\n")
    fails(run("eval", "pairs", pairs, "--images", lfw_subset), Exit.BAD_INPUT, "at least 10 matched")


# -- 6. user data is never markup; names must be visible --------------------------------------------------------


def test_names_and_file_names_print_as_they_are(tmp_path: Path) -> None:
    gallery = _vector_gallery(tmp_path / "g.sqlite", ["ann", "eve"])
    r = run("people", "rename", "ann", "Bob [i]", "--gallery", gallery)  # ('/' is refused by the name rule)
    assert r.exit_code == 0 and "Bob [i]" in r.stdout, r.output
    r = run("people", "rename", "eve", "[bold]Eve", "--gallery", gallery)
    assert r.exit_code == 0, r.output
    r = run("people", "list", "--gallery", gallery)
    assert r.exit_code == 0, r.output
    assert "Bob [i]" in r.stdout and "[bold]Eve" in r.stdout
    odd = tmp_path / "b[red]x.png"
    odd.write_bytes(b"not a png")
    r = run("detect", odd)
    fails(r, Exit.BAD_INPUT, "b[red]x.png")


@pytest.mark.parametrize(("name", "why"), [("", "visible characters"), ("   ", "visible characters"), ("tab\there", "control character")])
def test_blank_names_refused(tmp_path: Path, name: str, why: str) -> None:
    gallery = _vector_gallery(tmp_path / "g.sqlite", ["ann"])
    fails(run("people", "rename", "ann", name, "--gallery", gallery), Exit.BAD_INPUT, why)
    assert [p.name for p in Gallery(gallery, create=False).people()] == ["ann"]


# -- 7, 8. thresholds and rounding ------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["-1", "-0.01", "nan", "inf"])
def test_verify_refuses_meaningless_thresholds(value: str, lfw_subset: Path) -> None:
    photo = lfw_subset / "Tony_Blair/Tony_Blair_0001.jpg"
    fails(run("verify", photo, photo, "--threshold", value), Exit.USAGE, "--threshold", ">= 0")
    fails(run("identify", photo, "--threshold", value, "--gallery", "nowhere.sqlite"), Exit.USAGE, "--threshold")


def test_distances_print_with_the_digits_that_tell_them_apart() -> None:
    a, b = distinct(0.00021, 0.00024)
    assert a != b and float(a) < float(b)
    a, b = distinct(0.61234567, 0.61234599)
    assert a != b and a.startswith("0.612345")
    assert distinct(0.5, 0.6) == ("0.5000", "0.6000")
    assert distinct(0.25, 0.25) == ("0.2500", "0.2500")


# -- 10. install advice -----------------------------------------------------------------------------------------


def test_install_advice_names_real_extras() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    core = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for package, extra in EXTRA_OF_PACKAGE.items():
        reqs = core if extra is None else extras[extra]
        assert any(r.lower().startswith(package) for r in reqs), (package, extra)
    assert MissingExtra("torchfile", "torch").extra == "openface"
    assert "core dependency" in str(MissingExtra("onnx", "onnx"))
    assert "faceprint[umap]" in str(MissingExtra("umap-learn"))


def test_missing_extra_advice_printed_whole(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    if __import__("importlib").util.find_spec("umap") is not None:
        pytest.skip("umap-learn is installed")
    gallery = _vector_gallery(tmp_path / "g.sqlite", ["ann", "bob", "cy"])
    r = run("viz", "tsne", "--gallery", gallery, "--out", tmp_path / "u.png", "--method", "umap")
    fails(r, Exit.MISSING, "pip install 'faceprint[umap]'")


# -- 11. pipes --------------------------------------------------------------------------------------------------


def test_tables_never_wrap_names_in_a_pipe() -> None:
    r = run("models", "list")
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert any("dlib-resnet-v1" in line for line in lines)
    assert any("ensemble:dlib-resnet-v1+facenet-inception-resnet-v1" in line for line in lines)


def test_every_table_command_has_json() -> None:
    for args in (["models", "list"], ["people", "list"], ["people", "show"], ["enroll"], ["eval", "pairs"], ["eval", "identify"]):
        r = run(*args, "--help")
        assert r.exit_code == 0 and "--json" in r.stdout, args


# -- 12. exit codes ---------------------------------------------------------------------------------------------


def test_exit_code_table_is_the_only_source() -> None:
    import faceprint.errors as errors

    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, FaceprintError)]
    assert {c for c, _ in EXIT_CODES} == set(classes)
    assert not [c.__name__ for c in classes if "exit_code" in vars(c)]
    assert exit_code_for(errors.RunConflict("x")) != Exit.USAGE
    # ... and every error class of the package is defined there (issue 10: one owner, errors.py).
    import importlib
    import pkgutil

    import faceprint

    for mod in pkgutil.walk_packages(faceprint.__path__, "faceprint."):
        if mod.name.endswith("__main__"):
            continue
        module = importlib.import_module(mod.name)
        strays = [
            name for name, obj in vars(module).items()
            if isinstance(obj, type) and issubclass(obj, FaceprintError) and obj.__module__ == mod.name and mod.name != "faceprint.errors"
        ]
        assert not strays, f"{mod.name} defines error classes outside errors.py: {strays}"
    readme = (ROOT / "docs" / "cli.md").read_text()
    for code in sorted({int(c) for _, c in EXIT_CODES}):
        assert f"| {code} |" in readme, f"exit code {code} missing from the table of docs/cli.md"


def test_enroll_exit_codes(tmp_path: Path) -> None:
    gallery = tmp_path / "g.sqlite"
    fails(run("enroll", tmp_path / "missing", "--gallery", gallery), Exit.BAD_INPUT, "missing", "not found")
    blanks = tmp_path / "blanks"
    blanks.mkdir()
    for i in range(7):
        Image.fromarray(np.full((120, 120, 3), 20 * i, np.uint8)).save(blanks / f"b{i}.png")
    r = run("enroll", "--person", "nobody", blanks, "--gallery", gallery, "-v")  # -v after the subcommand
    fails(r, Exit.BAD_INPUT, "none of the 7 images was enrolled")
    assert r.stderr.count("no face") >= 7  # -v logs every skipped image


def test_usage_errors_exit_3(tmp_path: Path, lfw_subset: Path) -> None:
    photo = lfw_subset / "Tony_Blair/Tony_Blair_0001.jpg"
    fails(run("identify", photo, "--csv", "--json", "--gallery", tmp_path / "g.sqlite"), Exit.USAGE, "--json or --csv")
    r = run("models", "list", "--json", "true")
    assert r.exit_code == Exit.USAGE
    r = run("verify", "--help")
    assert "<bool>" not in r.stdout and "--json" in r.stdout
    r = run("models", "list", "--json", "-v")
    assert r.exit_code == 0 and json.loads(r.stdout)
    gallery = _vector_gallery(tmp_path / "v.sqlite", ["ann"])
    r = run("people", "list", "--gallery", gallery, "-v")
    assert r.exit_code == 0 and "opened gallery" in r.stderr


# -- 13. train --------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_train_defaults_and_failed_runs_leave_nothing(shared_dir: Path, tmp_path: Path) -> None:
    """--model and --init have working defaults (no OpenFace weights here: scratch, with a note); --persons above
    the people available names the maximum; the failed run leaves no empty run folder."""
    pytest.importorskip("torch")
    data = tmp_path / "orl5"
    data.mkdir()
    for s in ("s1", "s2", "s3", "s4", "s5"):
        (data / s).symlink_to(shared_dir / "data" / "orl" / s)
    runs = tmp_path / "runs"
    r = run("train", data, "--cropped", "--out", runs / "r1", "--epochs", "1")
    fails(r, Exit.USAGE, "--persons 8", "use --persons 3 or fewer")
    assert "training from scratch" in r.stderr
    assert not runs.exists()


# -- 14. make demo without ../shared: tests/test_sample_photos.py ----------------------------------------------
