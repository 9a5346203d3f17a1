import os

import numpy as np

from faceprint.cache import EmbeddingCache, pipeline_key
from faceprint.types import Face


def test_cache_roundtrip_and_staleness(tmp_path) -> None:
    img = tmp_path / "a.jpg"
    img.write_bytes(b"x" * 10)
    face = Face((1.0, 2.0, 30.0, 40.0), 0.99, ((5, 6), (7, 8), (9, 10), (11, 12), (13, 14)))
    with EmbeddingCache(tmp_path / "c.sqlite") as cache:
        assert cache.get("m", img, detector="mtcnn") is None
        cache.put("m", img, np.arange(4, dtype=np.float32), face, 2, detector="mtcnn")
        hit = cache.get("m", img, detector="mtcnn")
        assert hit is not None and hit.n_faces == 2 and hit.face == face
        np.testing.assert_array_equal(hit.vector, np.arange(4))
        assert cache.get("other-model", img, detector="mtcnn") is None
        assert cache.get("m", img, detector="dlib-hog") is None  # another detector finds another box
        cache.put("m", tmp_path / "a.jpg", np.zeros(4), None, 0, detector="mtcnn")
        assert cache.get("m", img, detector="mtcnn").face is None
        # A changed file is a miss.
        st = img.stat()
        os.utime(img, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
        assert cache.get("m", img, detector="mtcnn") is None
    # Survives reopening.
    with EmbeddingCache(tmp_path / "c.sqlite") as cache:
        cache.put("m", img, np.ones(4), None, 0, detector="mtcnn")
    with EmbeddingCache(tmp_path / "c.sqlite") as cache:
        assert cache.get("m", img, detector="mtcnn").vector.sum() == 4


def test_pipeline_key_follows_the_pipeline_of_ensemble_members() -> None:
    import dataclasses

    from faceprint.models import get_model_spec
    from faceprint.models.ensemble import ensemble_spec
    from faceprint.models.identity import model_identity

    ens = "ensemble:dlib-resnet-v1+facenet-inception-resnet-v1"
    dlib, facenet = get_model_spec("dlib-resnet-v1"), get_model_spec("facenet-inception-resnet-v1")
    assert pipeline_key(ens) == model_identity(ensemble_spec([dlib, facenet])).key  # the name means these specs
    flipped = dataclasses.replace(facenet, flip_average=not facenet.flip_average)
    assert model_identity(flipped).key != pipeline_key("facenet-inception-resnet-v1")
    changed = model_identity(ensemble_spec([dlib, flipped])).key
    assert changed != pipeline_key(ens) and changed.startswith(ens + "#")
    assert pipeline_key("dlib-resnet-v1").startswith("dlib-resnet-v1#")
