"""Bad input to the gallery commands through the CLI runner: each case gets one clear line on stderr and its own
exit code, and nothing already enrolled is lost.

Exit codes (README, errors.py): 3 unknown model or option value, 6 gallery corrupt or unusable, 7 locked, 8 empty,
9 unknown person or face, 10 stale classifier (tests/test_classifiers.py), 11 no images, 12 no embeddings of the
requested model. The same photo enrolled twice is not an error: it is skipped, reported, and not duplicated.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from faceprint.cli.app import app
from faceprint.gallery import Gallery
from faceprint.models import DEFAULT_MODEL

runner = CliRunner()
MODEL = DEFAULT_MODEL  # what the commands use when no --model is given


def run(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def fails(r, code: int, *words: str) -> None:
    """Exit `code`, and exactly one `error:` line on stderr, containing every word."""
    assert r.exit_code == code, (r.exit_code, r.output)
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, r.stderr
    for w in words:
        assert w in errors[0], (w, errors[0])


def counts(path: Path) -> tuple[int, int]:
    """(people, faces) in a gallery."""
    with Gallery(path, create=False) as g:
        people = g.people()
    return len(people), sum(p.n_faces for p in people)


def synthetic(path: Path, model: str = MODEL, people: tuple[str, ...] = ("ada", "grace", "alan"), per: int = 4) -> Path:
    """A gallery written through the Gallery API: random unit vectors standing in for embeddings of `model`."""
    from faceprint.errors import UnknownModel
    from faceprint.models.identity import model_identity

    rng = np.random.default_rng(0)
    try:
        identity = model_identity(model)  # as enrolment records it, so commands take these vectors as current
    except UnknownModel:  # a model faceprint cannot build: stored without one, as a foreign tool would
        identity = None
    with Gallery(path) as g, g.transaction():
        for name in people:
            for j in range(per):
                v = rng.standard_normal(128).astype(np.float32)
                g.add_face(name, f"{name}/{j}.jpg", f"{name}-{j}", None, v / np.linalg.norm(v), model, identity)
    return path


@pytest.fixture()
def photo(lfw_subset: Path) -> Path:
    return lfw_subset / "Tony_Blair" / "Tony_Blair_0002.jpg"  # one face (_0001's cut-off second face: YuNet finds it)


def test_empty_gallery(tmp_path, photo, gallery_target) -> None:
    path = synthetic(gallery_target("g"), people=("ada",), per=1)
    assert run("people", "remove", "ada", "--gallery", path).exit_code == 0
    fails(run("identify", photo, "--gallery", path), 8, "empty", "faceprint enroll")
    fails(run("fit-classifier", "--kind", "knn", "--gallery", path), 8, "empty")
    r = run("people", "list", "--gallery", path, "--json")
    assert r.exit_code == 0 and json.loads(r.stdout) == []
    # No gallery file at all: said so, and nothing is created by a command that only reads.
    missing = tmp_path / "none.sqlite"
    fails(run("identify", photo, "--gallery", missing), 8, "no gallery here", "enroll")  # nobody enrolled yet: empty (issue 29)
    fails(run("video", photo, "--gallery", missing), 8, "no gallery here", "enroll")  # the same for video
    fails(run("people", "list", "--gallery", missing), 6, "no gallery here")
    assert not missing.exists()


def test_unknown_person_or_face(gallery_target) -> None:
    path = synthetic(gallery_target("g"))
    before = counts(path)
    fails(run("people", "show", "nobody", "--gallery", path), 9, "'nobody'")
    fails(run("people", "rename", "nobody", "somebody", "--gallery", path), 9, "'nobody'")
    fails(run("people", "remove", "nobody", "--gallery", path), 9, "'nobody'")
    fails(run("people", "remove-face", "99999", "--gallery", path), 9, "99999")
    fails(run("people", "rename", "ada", "grace", "--gallery", path), 2, "'grace' is already enrolled")
    assert counts(path) == before == (3, 12)
    r = run("people", "list", "--gallery", path, "--json")
    assert [p["name"] for p in json.loads(r.stdout)] == ["ada", "alan", "grace"]


def test_same_photo_enrolled_twice_is_skipped(tmp_path, lfw_subset, gallery_target, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # a PostgreSQL gallery's enrolment log goes to the working folder
    path = gallery_target("g")
    a, b = (lfw_subset / "Tony_Blair" / f"Tony_Blair_000{i}.jpg" for i in (2, 3))  # _0001 also shows a cut-off face that YuNet finds
    first = run("enroll", "--person", "Tony Blair", a, b, a, "--gallery", path, "--json")  # `a` twice in one run
    assert first.exit_code == 0, first.output
    out = json.loads(first.stdout)
    assert out["faces_enrolled"] == 2 and out["skipped"]["already enrolled"] == 1
    assert counts(path) == (1, 2)
    again = run("enroll", "--person", "Tony Blair", a, b, "--gallery", path, "--json")
    out = json.loads(again.stdout)
    assert again.exit_code == 0 and out["faces_enrolled"] == 0 and out["skipped"]["already enrolled"] == 2
    # The same bytes under another name are not enrolled as a second person either.
    other = run("enroll", "--person", "Someone Else", a, "--gallery", path, "--json")
    out = json.loads(other.stdout)
    assert other.exit_code == 0 and out["faces_enrolled"] == 0 and out["skipped"]["already enrolled"] == 1
    assert counts(path) == (1, 2)
    log = Path(out["log"]).read_text()
    assert "already enrolled" in log and "as Tony Blair" in log
    table = run("enroll", "--person", "Tony Blair", a, "--gallery", path)
    assert "skipped: already enrolled" in table.stdout


def test_gallery_of_another_model(photo, gallery_target) -> None:
    path = synthetic(gallery_target("g"), model="other-net")
    before = counts(path)
    fails(run("identify", photo, "--gallery", path), 12, f"no faces enrolled with model '{MODEL}'", "other-net")
    fails(run("fit-classifier", "--kind", "svm", "--gallery", path), 12, "other-net")
    # A model this faceprint does not know is a usage error that lists the known ones.
    fails(run("identify", photo, "--gallery", path, "--model", "other-net"), 3, "unknown model 'other-net'", MODEL)
    # The other model's embeddings are still usable for what needs no network.
    assert run("fit-classifier", "--kind", "knn", "--model", "other-net", "--gallery", path).exit_code == 0
    assert counts(path) == before


def test_corrupt_gallery_file(tmp_path, photo) -> None:
    noise = tmp_path / "noise.sqlite"
    noise.write_bytes(np.random.default_rng(0).integers(0, 256, 8192, dtype=np.uint8).tobytes())
    original = noise.read_bytes()
    fails(run("people", "list", "--gallery", noise), 6, "corrupt or not a database")
    fails(run("identify", photo, "--gallery", noise), 6, "corrupt or not a database")
    fails(run("enroll", "--person", "x", photo, "--gallery", noise), 6, "corrupt or not a database")
    assert noise.read_bytes() == original  # nothing written into it

    # A real gallery whose pages were overwritten: its header is fine, its tables are not.
    damaged = synthetic(tmp_path / "damaged.sqlite", per=60)
    data = bytearray(damaged.read_bytes())
    assert len(data) > 6 * 4096
    data[2 * 4096 :] = np.random.default_rng(1).integers(0, 256, len(data) - 2 * 4096, dtype=np.uint8).tobytes()
    damaged.write_bytes(bytes(data))
    fails(run("people", "list", "--gallery", damaged), 6, "damaged.sqlite", "corrupt")
    fails(run("identify", photo, "--gallery", damaged), 6, "damaged.sqlite", "corrupt")


def test_locked_gallery(tmp_path, photo) -> None:
    path = synthetic(tmp_path / "g.sqlite")
    before = counts(path)
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        holder.execute("DELETE FROM people")  # uncommitted: nobody else may see or block on it
        fails(run("people", "remove", "ada", "--gallery", path, "--wait", "0.2"), 7, "locked by another process")
        fails(run("people", "rename", "ada", "eve", "--gallery", path, "--wait", "0.2"), 7, "locked")
        fails(run("fit-classifier", "--kind", "knn", "--gallery", path, "--wait", "0.2"), 7, "locked")
        fails(run("enroll", "--person", "ada", photo, "--gallery", path, "--wait", "0.2"), 7, "locked")
        # Readers still read the last committed state (WAL).
        r = run("people", "list", "--gallery", path, "--json", "--wait", "0.2")
        assert r.exit_code == 0 and len(json.loads(r.stdout)) == 3
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert counts(path) == before
    assert run("people", "remove", "ada", "--gallery", path).exit_code == 0
    assert counts(path) == (2, 8)


def test_directories_without_images(tmp_path, photo) -> None:
    path = synthetic(tmp_path / "g.sqlite")
    before = counts(path)
    empty = tmp_path / "empty"
    empty.mkdir()
    notes = tmp_path / "notes" / "ada"
    notes.mkdir(parents=True)
    (notes / "readme.txt").write_text("no photos here")
    fails(run("enroll", empty, "--gallery", path), 11, "no images")
    fails(run("enroll", notes.parent, "--gallery", path), 11, "no images")
    fails(run("enroll", "--person", "ada", empty, "--gallery", path), 11, "no images")
    fails(run("identify", empty, "--gallery", path), 11, "no images in this folder")
    fresh = tmp_path / "fresh.sqlite"
    fails(run("enroll", empty, "--gallery", fresh), 11, "no images")
    assert not fresh.exists()  # no gallery created for nothing
    # Two folders without --person is a usage error.
    fails(run("enroll", empty, notes.parent, "--gallery", path), 3, "--person")
    assert counts(path) == before
    assert os.listdir(empty) == []
