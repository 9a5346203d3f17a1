"""`faceprint enroll --engine ray`: Ray Data actors hold the models, the driver writes in order; the gallery equals
the local engine's, an interrupted run resumes, and the local Ray listens on 127.0.0.1 only and is stopped."""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("ray", reason="the ray extra is not installed (pip install faceprint[ray])")

from faceprint.models import DEFAULT_MODEL
from faceprint.models.identity import model_identity
from faceprint.cli.app import app  # noqa: E402
from faceprint.gallery import Gallery  # noqa: E402
from listening import listening_ports as _listening_ports  # noqa: E402
from listening import port_owners  # noqa: E402

runner = CliRunner()


def _folder(lfw_subset: Path, root: Path, people: list[str]) -> Path:
    """Identity folders linking to lfw-subset photos, plus one unreadable file and one duplicate photo."""
    for name in people:
        (root / name).mkdir(parents=True)
        for p in sorted((lfw_subset / name).iterdir()):
            (root / name / p.name).symlink_to(p)
    (root / people[0] / "broken.jpg").write_bytes(b"not a jpeg")
    shutil.copy(lfw_subset / people[1] / f"{people[1]}_0001.jpg", root / people[1] / "copy.jpg")
    return root


def _rows(gallery: Path) -> list[tuple]:
    with sqlite3.connect(gallery) as db:
        return db.execute(
            """SELECT p.id, p.name, f.id, f.source, f.sha256, f.box, f.landmarks, f.det_score, e.model, e.dim
               FROM people p JOIN faces f ON f.person_id = p.id JOIN embeddings e ON e.face_id = f.id ORDER BY f.id"""
        ).fetchall()


def _enroll(folder: Path, gallery: Path, *extra: str) -> dict:
    r = runner.invoke(app, ["enroll", str(folder), "--gallery", str(gallery), "--json", *extra])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


@pytest.mark.slow
def test_ray_enrolment_equals_local_and_resumes(lfw_subset, tmp_path, monkeypatch) -> None:
    people = sorted(p.name for p in lfw_subset.iterdir())[:4]
    folder = _folder(lfw_subset, tmp_path / "photos", people)
    local = _enroll(folder, tmp_path / "local.sqlite")

    # A Ray run interrupted (Ctrl-C) after two batches were written, then rerun: it resumes where it stopped.
    ports: list[dict[int, str]] = []
    before = _listening_ports()
    from faceprint.gallery import ray_enroll

    real_write = ray_enroll._write

    def interrupted(*args, **kwargs):  # also notes, while Ray runs, which ports are open and on which address
        ports.append(_listening_ports())
        if len(ports) > 2:
            raise KeyboardInterrupt
        return real_write(*args, **kwargs)

    monkeypatch.setattr(ray_enroll, "_write", interrupted)
    r = runner.invoke(app, ["enroll", str(folder), "--gallery", str(tmp_path / "ray.sqlite"), "--engine", "ray"])
    assert r.exit_code == 130 and "rerun the same command" in r.stderr, r.output
    opened = {p: a for snap in ports for p, a in snap.items() if p not in before}
    assert opened and set(opened.values()) == {"127.0.0.1"}, opened
    deadline = time.monotonic() + 60  # the command waits for Ray's processes; a loaded machine may be slow to free
    while set(opened) & set(_listening_ports()) and time.monotonic() < deadline:
        time.sleep(0.5)
    left = set(opened) & set(_listening_ports())
    assert not left, port_owners(left)  # the local Ray was stopped
    with Gallery(tmp_path / "ray.sqlite") as g:
        written = len(g.faces())
    assert 0 < written < local["faces_enrolled"]

    monkeypatch.setattr(ray_enroll, "_write", real_write)
    second = _enroll(folder, tmp_path / "ray.sqlite", "--engine", "ray")
    assert second["skipped"]["already enrolled"] == written + 1  # + the duplicate photo
    for reason in ("no face", "several faces", "unreadable"):  # skipped photos are looked at again by a rerun
        assert second["skipped"][reason] == local["skipped"][reason], reason
    assert local["skipped"]["unreadable"] == 1 and local["skipped"]["already enrolled"] == 1

    # The same gallery: people, faces (ids, sources, hashes, boxes, landmarks), and embeddings.
    a, b = _rows(tmp_path / "local.sqlite"), _rows(tmp_path / "ray.sqlite")
    assert a == b and len(a) == local["faces_enrolled"]
    with Gallery(tmp_path / "local.sqlite") as ga, Gallery(tmp_path / "ray.sqlite") as gb:
        # Both record the pipeline's identity (a gallery without it would refuse identify as stale).
        current = model_identity(DEFAULT_MODEL)
        ea, eb = ga.embeddings(DEFAULT_MODEL, current), gb.embeddings(DEFAULT_MODEL, current)
        np.testing.assert_array_equal(ea.face_ids, eb.face_ids)
        np.testing.assert_allclose(ea.vectors, eb.vectors, atol=1e-5)


def test_engine_options_are_checked(tmp_path, lfw_subset) -> None:
    r = runner.invoke(app, ["enroll", str(lfw_subset), "--gallery", str(tmp_path / "g.sqlite"), "--engine", "spark"])
    assert r.exit_code == 3 and "local, ray" in r.stderr
    r = runner.invoke(app, ["enroll", str(lfw_subset), "--gallery", str(tmp_path / "g.sqlite"), "--address", "auto"])
    assert r.exit_code == 3 and "--engine ray" in r.stderr
