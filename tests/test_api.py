"""The one-import public API: faceprint.verify / detect / embed / Gallery / load_image, on real photos."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceprint.detect import DEFAULT_DETECTOR
from faceprint.models import DEFAULT_MODEL
import faceprint
from faceprint.errors import InvalidName


@pytest.fixture(scope="module")
def photos(shared_dir: Path) -> dict[str, list[Path]]:
    root = shared_dir / "data" / "lfw-subset"
    return {d.name: sorted(d.glob("*.jpg")) for d in sorted(root.iterdir()) if d.is_dir()}


def test_public_names_are_documented() -> None:
    for name in ("verify", "detect", "embed", "Gallery", "load_image", "FaceAnalyzer", "list_models", "analyzers"):
        assert name in faceprint.__all__ and hasattr(faceprint, name)
        obj = getattr(faceprint, name)
        if callable(obj):
            assert obj.__doc__ and (">>>" in obj.__doc__ or name in ("FaceAnalyzer", "list_models", "load_image")), name
    assert "verify(" in faceprint.__doc__ and "Gallery(" in faceprint.__doc__
    assert ">>>" in faceprint.load_image.__doc__


def test_errors_the_gallery_raises_are_importable_from_faceprint() -> None:
    """Issue 29: `Gallery.rename`/`remove` raise InvalidName and UnknownPerson; a caller catches them without
    reaching into faceprint.errors."""
    import faceprint.errors as errors

    for name in ("InvalidName", "UnknownPerson", "GalleryError", "NoFaceFound", "ImageError", "FaceprintError"):
        assert name in faceprint.__all__ and getattr(faceprint, name) is getattr(errors, name), name


def test_verify_same_and_different(photos) -> None:
    a1, a2 = photos["Ariel_Sharon"][:2]
    b1 = photos["Colin_Powell"][0]
    same = faceprint.verify(a1, a2)
    diff = faceprint.verify(a1, b1)
    assert same.same and bool(same) and same.distance < same.threshold
    assert not diff.same and diff.distance > diff.threshold
    assert same.model == DEFAULT_MODEL and same.threshold == pytest.approx(0.608)
    assert same.face1.vector.shape == (128,) and same.face2.box[2] > same.face2.box[0]
    # An explicit threshold decides.
    assert faceprint.verify(a1, b1, threshold=diff.distance + 0.01).same
    assert "distance=" in repr(same) and len(repr(same)) < 150


def test_every_input_type_gives_the_same_embedding(photos) -> None:
    path = photos["Arnold_Schwarzenegger"][0]
    data = path.read_bytes()
    rgb = faceprint.load_image(path)
    reference = faceprint.embed(path)[0].vector
    for source in (str(path), data, io.BytesIO(data), Image.open(path), rgb):
        got = faceprint.embed(source)
        assert len(got) == 1
        np.testing.assert_allclose(got[0].vector, reference, atol=1e-5)
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    np.testing.assert_allclose(faceprint.embed(bgr, bgr=True)[0].vector, reference, atol=1e-5)
    # Without the flag the channels are wrong and the vector differs: the flag matters.
    assert not np.allclose(faceprint.embed(bgr)[0].vector, reference, atol=1e-3)


def test_embed_and_detect_fields(photos) -> None:
    path = photos["Colin_Powell"][0]
    faces = faceprint.embed(path)
    f = faces[0]
    assert f.vector.dtype == np.float32 and f.vector.ndim == 1 and f.landmarks.shape == (5, 2)
    assert 0.0 <= f.score <= 1.0 and f.model == DEFAULT_MODEL
    assert repr(f).startswith("FaceEmbedding(box=") and len(repr(f)) < 120
    detected = faceprint.detect(path)
    assert [d.box for d in detected] == [e.box for e in faces]
    assert all(a.area >= b.area for a, b in zip(detected, detected[1:]))
    # A photo without a face: no faces, no error.
    blank = np.full((200, 200, 3), 128, np.uint8)
    assert faceprint.embed(blank) == [] and faceprint.detect(blank) == []


def test_embeddings_repr_is_short() -> None:
    e = faceprint.Embeddings(np.zeros((3, 128), np.float32), "dlib-resnet-v1")
    assert repr(e) == "Embeddings(n=3, dim=128, model='dlib-resnet-v1', metric='euclidean')"


def test_models_are_built_once_and_visible(photos) -> None:
    a1, a2 = photos["Ariel_Sharon"][:2]
    faceprint.verify(a1, a2)
    first = faceprint.analyzers.get()
    faceprint.verify(a1, a2)
    assert faceprint.analyzers.get() is first
    assert f"{DEFAULT_MODEL} + {DEFAULT_DETECTOR}" in repr(faceprint.analyzers)
    own = faceprint.FaceAnalyzer()
    assert own is not first and faceprint.verify(a1, a2, analyzer=own).same


def test_verify_refuses_bad_thresholds_and_faceless_images(photos) -> None:
    a1 = photos["Ariel_Sharon"][0]
    for bad in (-1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="threshold"):
            faceprint.verify(a1, a1, threshold=bad)
    with pytest.raises(faceprint.NoFaceFound):
        faceprint.verify(a1, np.full((120, 120, 3), 255, np.uint8))
    with pytest.raises(faceprint.ImageError, match="file not found"):
        faceprint.verify(a1, "/nonexistent/photo.jpg")


def test_gallery_enrol_identify_rename_remove(photos, gallery_target) -> None:
    """On both backends (a SQLite file, a PostgreSQL database): the same answers."""
    ariel, colin = photos["Ariel_Sharon"], photos["Colin_Powell"]
    arnold = [p for p in photos["Arnold_Schwarzenegger"] if len(faceprint.detect(p)) == 1]  # single-face photos
    assert len(arnold) >= 7
    folder = ariel[0].parent
    with faceprint.Gallery(gallery_target("g")) as g:
        report = g.enroll("Ariel", folder)  # a folder: every photo in it
        assert report.faces_enrolled >= 7 and all(p == "Ariel" for p, _ in report.added)
        # Arrays, bytes and PIL images enrol too; the same file twice is skipped with its reason.
        arn = g.enroll("Arnold", [faceprint.load_image(arnold[0]), arnold[1].read_bytes(), Image.open(arnold[2]), arnold[3], arnold[3]])
        assert arn.faces_enrolled == 4
        assert [p for p, _ in arn.skipped["already enrolled"]] == [str(arnold[3])]
        again = g.enroll("Someone", ariel[0])
        assert again.faces_enrolled == 0 and again.skipped["already enrolled"]
        assert {p.name for p in g.people()} >= {"Ariel", "Arnold"}

        named = g.identify(arnold[5])
        assert len(named) == 1 and named[0].person == "Arnold" and not named[0].unknown
        stranger = g.identify(colin[0])
        assert stranger[0].person is None and stranger[0].unknown and stranger[0].closest in ("Ariel", "Arnold")
        assert "unknown" in repr(stranger[0])

        many = g.identify_many([colin[0].parent])  # folders are expanded, not reported as unreadable
        assert len({r.image for r in many}) == len(colin) and all(r.error is None for r in many)

        g.rename("Arnold", "Arnie")
        assert g.identify(arnold[5])[0].person == "Arnie"  # the identifier follows the change
        with pytest.raises(InvalidName, match="visible"):
            g.rename("Arnie", "   ")
        with pytest.raises(InvalidName, match="visible"):
            g.enroll("", arnold[6])
        assert g.remove("Arnie") == 4
        assert g.identify(arnold[5])[0].person is None


def test_gallery_sees_another_connections_enrolment(photos, gallery_target) -> None:
    path = gallery_target("g")
    ariel = photos["Ariel_Sharon"]
    with faceprint.Gallery(path) as reader, faceprint.Gallery(path) as writer:
        writer.enroll("Ariel", ariel[:3])
        assert reader.identify(ariel[5])[0].person == "Ariel"
        writer.enroll("Colin", photos["Colin_Powell"][:3])
        assert reader.identify(photos["Colin_Powell"][5])[0].person == "Colin"


def test_identify_takes_the_share_of_strangers_named(photos, tmp_path: Path) -> None:
    """far= sets the threshold for the gallery's size: a looser share gives a looser threshold."""
    from faceprint.gallery import build_identifier

    with faceprint.Gallery(tmp_path / "g.sqlite") as g:
        g.enroll("Ariel", photos["Ariel_Sharon"][:3])
        strict = build_identifier(g.store, g.analyzer, far=0.001).threshold
        loose = build_identifier(g.store, g.analyzer, far=0.2).threshold
        assert strict < loose
        probe = photos["Colin_Powell"][0]
        d = g.identify(probe)[0].distance
        assert g.identify(probe, far=0.001)[0].distance == d  # the same distance, judged at another threshold
        with pytest.raises(ValueError, match="strictly between 0 and 1"):
            g.identify(probe, far=1.0)
