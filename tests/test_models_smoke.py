"""Every name in `faceprint.list_models()` builds and embeds real faces: the model registry's smoke test.

Per model: build it with `create_embedder` (fetched weights linked read-only from the real cache), embed the largest
face of three real LFW photos (two of Tony Blair, one of George W Bush) through its own detector and alignment, and
check what every caller relies on: one float32 row of `embedding_dim` per face, finite and non-zero, named by the
model; and the scale its threshold assumes: the two photos of one person nearer than `spec.threshold`, the other
person farther. (Vectors are not unit length by contract: dlib's descriptors are not normalised, test-time mirroring
averages two vectors, the ensemble scales its members; so the threshold is what fixes their scale, and a model whose
normalisation or preprocessing went wrong lands on the wrong side of it.)

A model whose weights are absent is skipped with the reason. OpenFace's weights are never downloadable (the user
supplies them, so CI lacks them too): there the test checks that building fails with a WeightsError naming
$FACEPRINT_OPENFACE_WEIGHTS, as test_openface.py does, and then skips; test_openface.py embeds real faces with
supplied weights. Every other model's weights are fetched by `make weights`, so their absence skips through
`skip_missing` (a failure under FACEPRINT_REQUIRE_SHARED=1, as in CI).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import faceprint
from conftest import NO_WEIGHTS, skip_missing
from faceprint.errors import WeightsError
from faceprint.models import create_embedder, get_model_spec

SAME = ("Tony_Blair/Tony_Blair_0001.jpg", "Tony_Blair/Tony_Blair_0002.jpg")
OTHER = "George_W_Bush/George_W_Bush_0001.jpg"

pytestmark = pytest.mark.slow  # building FaceNet (and the ensemble holding it) reads a 90 MB Keras file


def _user_supplied(name: str) -> bool:
    """Whether the model's weights can only come from the user (no package ships them, no URL fetches them)."""
    w = get_model_spec(name).weights
    return w is not None and w.package is None and not w.url


@pytest.mark.parametrize("name", faceprint.list_models())
def test_model_builds_and_embeds_real_faces(name: str, lfw_subset: Path, _weights_home: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACEPRINT_HOME", str(_weights_home))  # weights `make weights` fetched; writes stay private
    spec = get_model_spec(name)
    try:
        embedder = create_embedder(name)
    except WeightsError as exc:
        if not _user_supplied(name):
            skip_missing(NO_WEIGHTS)  # one reason for every fetched weight file, as conftest.fetched_weights gives
        env = getattr(spec.weights, "env_var", None)
        assert env is None or env in str(exc), exc  # the error says where the weights go
        pytest.skip(f"{name}: its weights are supplied by the user and none are here ({exc})")
    assert embedder.name == name and embedder.spec.embedding_dim == spec.embedding_dim
    analyzer = faceprint.FaceAnalyzer(embedder)
    photos = [lfw_subset / p for p in (*SAME, OTHER)]
    selected = [analyzer.embed_one(p) for p in photos]
    assert all(s.face is not None and s.embedding.model == name for s in selected)
    v = np.concatenate([s.embedding.vectors for s in selected])
    assert v.shape == (3, spec.embedding_dim) and v.dtype == np.float32
    assert np.isfinite(v).all() and (np.linalg.norm(v, axis=1) > 0.1).all()
    same, other = np.linalg.norm(v[0] - v[1]), min(np.linalg.norm(v[0] - v[2]), np.linalg.norm(v[1] - v[2]))
    assert same < spec.threshold < other, (same, spec.threshold, other)
