"""One model identity: what changes it, how galleries keep it, and how stale vectors are found and re-embedded."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import faceprint
from faceprint.models import DEFAULT_MODEL
from faceprint.analyzer import FaceAnalyzer
from faceprint.cli.app import app
from faceprint.errors import StaleEmbeddings
from faceprint.gallery.reembed import reembed
from faceprint.models import get_model_spec
from faceprint.models.identity import ModelIdentity, model_identity


def test_identity_changes_with_every_vector_changing_setting_only() -> None:
    spec = get_model_spec("dlib-resnet-v1")
    base = model_identity(spec)
    assert base == model_identity("dlib-resnet-v1") and base.key.startswith("dlib-resnet-v1#")
    assert base.weights_sha256 == spec.weights.sha256
    for change in ({"flip_average": not spec.flip_average}, {"jitters": 2}, {"padding": spec.padding + 0.1}, {"input_size": 160}):
        assert model_identity(dataclasses.replace(spec, **change)).key != base.key, change
    # Judging distances is not making vectors: thresholds and slopes leave the identity alone.
    assert model_identity(dataclasses.replace(spec, threshold=0.5, confidence_slope=3.0)).key == base.key
    assert ModelIdentity.from_json(base.to_json()) == base


def test_ensemble_identity_follows_its_members() -> None:
    ens = "ensemble:dlib-resnet-v1+facenet-inception-resnet-v1"
    ident = model_identity(ens)
    assert ident.settings["members"] == [model_identity("dlib-resnet-v1").key, model_identity("facenet-inception-resnet-v1").key]


@pytest.fixture
def photos(shared_dir: Path, tmp_path: Path) -> dict[str, list[Path]]:
    """Copies of a few lfw-subset photos (a test may change or delete them)."""
    out: dict[str, list[Path]] = {}
    for person in ("Ariel_Sharon", "Colin_Powell"):
        (tmp_path / person).mkdir()
        out[person] = []
        for p in sorted((shared_dir / "data" / "lfw-subset" / person).glob("*.jpg"))[:4]:
            out[person].append(Path(shutil.copy(p, tmp_path / person / p.name)))
    return out


def _old_pipeline() -> FaceAnalyzer:
    """dlib's model as an earlier faceprint ran it: the same name, without test-time mirroring."""
    spec = dataclasses.replace(get_model_spec("dlib-resnet-v1"), flip_average=False)
    return FaceAnalyzer(model=spec.builder(spec))


def test_vectors_of_an_older_pipeline_are_refused_then_reembedded(photos, tmp_path: Path) -> None:
    path = tmp_path / "g.sqlite"
    with faceprint.Gallery(path, analyzer=_old_pipeline()) as old:
        old.enroll("Ariel", photos["Ariel_Sharon"][:3])
        old.enroll("Colin", photos["Colin_Powell"][:3])
    with faceprint.Gallery(tmp_path / "fresh.sqlite", model="dlib-resnet-v1") as fresh:
        fresh.enroll("Ariel", photos["Ariel_Sharon"][:3])
        fresh.enroll("Colin", photos["Colin_Powell"][:3])
        expected = fresh.store.embeddings("dlib-resnet-v1").vectors
    photos["Colin_Powell"][2].write_bytes(photos["Ariel_Sharon"][3].read_bytes())  # one source changed since
    with faceprint.Gallery(path, model="dlib-resnet-v1") as g:
        with pytest.raises(StaleEmbeddings, match="gallery reembed"):
            g.identify(photos["Ariel_Sharon"][3])
        report = reembed(g.store, g.analyzer)
        assert (report.stale, report.updated) == (6, 5)
        assert report.failed == [(6, str(photos["Colin_Powell"][2]), "source photo changed since it was enrolled")]
        # Still stale (one face): refused, not mixed.
        with pytest.raises(StaleEmbeddings, match="1 of 6"):
            g.identify(photos["Ariel_Sharon"][3])
        g.remove_face(6)
        assert g.identify(photos["Ariel_Sharon"][3])[0].person == "Ariel"
        np.testing.assert_allclose(g.store.embeddings("dlib-resnet-v1").vectors, expected[:5], atol=1e-5)


def test_gallery_reembed_command_and_galleries_from_before_identities(photos, tmp_path: Path) -> None:
    path = tmp_path / "g.sqlite"
    with faceprint.Gallery(path) as g:
        g.enroll("Ariel", photos["Ariel_Sharon"][:2])
    with sqlite3.connect(path) as db:  # as a gallery written before identities were recorded
        db.execute("UPDATE embeddings SET identity = NULL")
    result = CliRunner().invoke(app, ["identify", str(photos["Ariel_Sharon"][3]), "--gallery", str(path)])
    assert result.exit_code == 12 and "faceprint gallery reembed" in result.output
    result = CliRunner().invoke(app, ["gallery", "reembed", "--gallery", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"model": DEFAULT_MODEL, "stale": 2, "updated": 2, "failed": []}
    result = CliRunner().invoke(app, ["identify", str(photos["Ariel_Sharon"][3]), "--gallery", str(path), "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)[0]["person"] == "Ariel"


def test_gallery_keeps_the_identity_record(photos, tmp_path: Path) -> None:
    with faceprint.Gallery(tmp_path / "g.sqlite") as g:
        g.enroll("Ariel", photos["Ariel_Sharon"][:1])
        assert g.store.model_record(DEFAULT_MODEL) == model_identity(DEFAULT_MODEL)
        assert g.store.model_record("facenet-inception-resnet-v1") is None



def test_sources_are_stored_absolute_and_found_from_any_folder(photos, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`enroll` run with relative paths stores absolute ones; `gallery reembed` run elsewhere finds every photo; a
    gallery written before (sources relative to the folder enroll ran from) is read beside the gallery file."""
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "g.sqlite"
    result = CliRunner().invoke(app, ["enroll", "Ariel_Sharon", "--person", "Ariel", "--gallery", "g.sqlite", "--largest", "--json"])
    assert result.exit_code == 0, result.output
    with faceprint.Gallery(path) as g:
        sources = sorted(f.source for f in g.faces())
    assert sources == sorted(str(p.resolve()) for p in photos["Ariel_Sharon"])

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with sqlite3.connect(path) as db:  # stale vectors; and one face stored the old way, relative to tmp_path
        db.execute("UPDATE embeddings SET identity = NULL")
        db.execute("UPDATE faces SET source = ? WHERE id = 1", (f"Ariel_Sharon/{photos['Ariel_Sharon'][0].name}",))
    monkeypatch.chdir(elsewhere)
    result = CliRunner().invoke(app, ["gallery", "reembed", "--gallery", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"model": DEFAULT_MODEL, "stale": 4, "updated": 4, "failed": []}


def test_find_source_rule(tmp_path: Path) -> None:
    import hashlib

    from faceprint.gallery.sources import find_source, stored_source

    (tmp_path / "a").mkdir()
    photo = tmp_path / "a" / "p.jpg"
    photo.write_bytes(b"photo")
    sha = hashlib.sha256(b"photo").hexdigest()
    assert stored_source(tmp_path / "a" / ".." / "a" / "p.jpg") == str(photo.resolve())
    assert find_source(str(photo), sha) == (photo, None)
    assert find_source("a/p.jpg", sha, tmp_path / "g.sqlite") == (tmp_path.resolve() / "a" / "p.jpg", None)
    assert find_source(str(photo), "0" * 64) == (None, "source photo changed since it was enrolled")
    path, reason = find_source("b/p.jpg", sha, tmp_path / "g.sqlite")
    assert path is None and reason is not None and reason.startswith("source photo cannot be read")
