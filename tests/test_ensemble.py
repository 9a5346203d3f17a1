"""Ensembles: names, the threshold-normalised distance, crops, and use wherever a model name is."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from faceprint.analyzer import FaceAnalyzer
from faceprint.cli.app import app
from faceprint.errors import ModelMismatch, UnknownModel
from faceprint.models import create_embedder, get_model_spec
from faceprint.models.ensemble import DEFAULT_ENSEMBLE, EnsembleEmbedder, parse_ensemble_name
from faceprint.types import Embeddings

runner = CliRunner()
PHOTOS = ["Tony_Blair/Tony_Blair_0001.jpg", "Tony_Blair/Tony_Blair_0002.jpg", "Colin_Powell/Colin_Powell_0001.jpg"]


def test_names() -> None:
    assert parse_ensemble_name(DEFAULT_ENSEMBLE) == ["dlib-resnet-v1", "facenet-inception-resnet-v1"]
    spec = get_model_spec("ensemble:facenet-inception-resnet-v1+dlib-resnet-v1")  # any order, resolved on first use
    assert (spec.input_size, spec.embedding_dim, spec.metric, spec.threshold) == (310, 256, "euclidean", 1.0)
    assert spec.weights is None and get_model_spec(spec.name) == spec  # the same record, made again from the name
    assert spec.name == "ensemble:facenet-inception-resnet-v1+dlib-resnet-v1" and [m.name for m in spec.members] == [
        "facenet-inception-resnet-v1", "dlib-resnet-v1"]
    with pytest.raises(UnknownModel, match="'nope'.*dlib-resnet-v1"):
        get_model_spec("ensemble:dlib-resnet-v1+nope")
    for bad in ("ensemble:dlib-resnet-v1", "ensemble:dlib-resnet-v1+dlib-resnet-v1", "ensemble:dlib-resnet-v1+"):
        with pytest.raises(UnknownModel, match="at least two distinct"):
            get_model_spec(bad)
    with pytest.raises(UnknownModel, match="do not nest"):
        get_model_spec(f"ensemble:dlib-resnet-v1+{DEFAULT_ENSEMBLE}")


@pytest.fixture
def ensemble(with_weights: Path) -> EnsembleEmbedder:
    emb = create_embedder(DEFAULT_ENSEMBLE)
    assert isinstance(emb, EnsembleEmbedder)
    return emb


def test_distance_is_the_quadratic_mean_of_normalised_member_distances(ensemble: EnsembleEmbedder, lfw_subset: Path) -> None:
    """Brute force: each member on its own crops, distances divided by its threshold, then the quadratic mean."""
    analyzer = FaceAnalyzer(model=ensemble)
    images = [analyzer.load(lfw_subset / p) for p in PHOTOS]
    faces = [analyzer.detector.detect(img)[0] for img in images]
    emb = Embeddings.concat([analyzer.embed_faces(img, [f]) for img, f in zip(images, faces)])
    assert emb.model == DEFAULT_ENSEMBLE and emb.vectors.shape == (3, 256)
    normalised = []
    for member in ensemble.members:
        v = np.concatenate([member.embed(member.align(img, f)).vectors for img, f in zip(images, faces)])
        d = np.linalg.norm(v[:, None] - v[None], axis=2)
        normalised.append(d / member.spec.threshold)
    want = np.sqrt(np.mean(np.square(normalised), axis=0))
    off = ~np.eye(3, dtype=bool)  # the diagonal is 0 up to float32 cancellation in the matrix form
    np.testing.assert_allclose(emb.distances(emb)[off], want[off], atol=1e-5)
    assert want[0, 1] < 1.0 < min(want[0, 2], want[1, 2])  # Blair/Blair same, Blair/Powell different


def test_crops_are_the_members_own(ensemble: EnsembleEmbedder, lfw_subset: Path) -> None:
    analyzer = FaceAnalyzer(model=ensemble)
    img = analyzer.load(lfw_subset / PHOTOS[0])
    face = analyzer.detector.detect(img)[0]
    canvas = ensemble.align(img, face)
    assert canvas.shape == (310, 310, 3) and canvas.dtype == np.uint8
    dlib_m, facenet_m = ensemble.members
    np.testing.assert_array_equal(canvas[:150, :150], dlib_m.align(img, face))
    np.testing.assert_array_equal(canvas[:160, 150:310], facenet_m.align(img, face))
    assert not canvas[160:].any()
    center = ensemble.center_crop(img)
    np.testing.assert_array_equal(center[:160, 150:310], facenet_m.center_crop(img))


def test_embeddings_do_not_mix_with_members(ensemble: EnsembleEmbedder, lfw_subset: Path) -> None:
    a = FaceAnalyzer(model=ensemble).embed_one(lfw_subset / PHOTOS[0]).embedding
    b = FaceAnalyzer(model="dlib-resnet-v1").embed_one(lfw_subset / PHOTOS[0]).embedding
    with pytest.raises(ModelMismatch, match="ensemble:dlib-resnet-v1"):
        a.distances(b)


def test_verify_and_identify_with_an_ensemble(with_weights: Path, lfw_subset: Path, tmp_path: Path) -> None:
    """The ensemble name works on the command line: verify, enroll, identify."""
    model = ["--model", DEFAULT_ENSEMBLE]
    same = runner.invoke(app, ["verify", str(lfw_subset / PHOTOS[0]), str(lfw_subset / PHOTOS[1]), *model, "--json"])
    assert same.exit_code == 0, same.output
    out = json.loads(same.stdout)
    assert out["model"] == DEFAULT_ENSEMBLE and out["same"] is True and out["threshold"] == 1.0
    different = runner.invoke(app, ["verify", str(lfw_subset / PHOTOS[0]), str(lfw_subset / PHOTOS[2]), *model])
    assert different.exit_code == 1, different.output

    gallery = str(tmp_path / "g.sqlite")
    for person in ("Tony_Blair", "Colin_Powell"):
        enrolled = runner.invoke(app, ["enroll", "--gallery", gallery, *model, "--person", person, str(lfw_subset / person / f"{person}_0003.jpg")])
        assert enrolled.exit_code == 0, enrolled.output
    found = runner.invoke(app, ["identify", "--gallery", gallery, *model, str(lfw_subset / PHOTOS[2]), "--json"])
    assert found.exit_code == 0, found.output
    (face,) = json.loads(found.stdout)
    assert face["person"] == "Colin_Powell" and math.isfinite(face["distance"])
