"""Distances are exact to about 1e-6 against a float64 reference on every CPU, and a face against itself is 0.

The float32 expansion ||a||^2 + ||b||^2 - 2 a.b loses the small distances to rounding (0.00049 for a face against
itself on AVX-512 BLAS kernels); every search path re-measures what it returns from the differences."""

from __future__ import annotations

import numpy as np
import pytest

from faceprint.gallery.index import ExactIndex
from faceprint.types import pairwise_distances, squared_distances_to

# float32 storage of a distance near 1 is exact to 6e-8; the expansion keeps large distances within about 1e-6.
ATOL = 2e-6


def _faces(n: int, dim: int, seed: int) -> np.ndarray:
    """Unit vectors in clusters (people) with near-duplicates (the same photo enrolled twice, a video frame)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n // 5, dim))
    x = np.repeat(centres, 5, axis=0) + 0.15 * rng.standard_normal((n // 5 * 5, dim))
    x[1::5] = x[0::5] + 1e-4 * rng.standard_normal((n // 5, dim))  # near-duplicates
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32)


def _reference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    return np.sqrt(((a64[:, None, :] - b64[None, :, :]) ** 2).sum(-1))


@pytest.mark.parametrize("dim", [128, 512])
def test_pairwise_distances_match_float64_and_self_is_zero(dim: int) -> None:
    x = _faces(400, dim, seed=dim)
    d = pairwise_distances(x, x)
    ref = _reference(x, x)
    assert np.abs(d - ref).max() <= ATOL
    assert (np.diag(d) == 0).all()
    # larger norms (unnormalised vectors) are held to the same relative error
    d3 = pairwise_distances(3 * x[:50], 3 * x)
    assert np.abs(d3 - 3 * ref[:50]).max() <= 3 * ATOL


def test_exact_index_returns_zero_for_a_face_against_itself() -> None:
    x = _faces(1000, 128, seed=1)
    d, i = ExactIndex(x, chunk=300).search(x[:100], 3)
    assert (i[:, 0] == np.arange(100)).all() and (d[:, 0] == 0).all()
    np.testing.assert_allclose(d, np.take_along_axis(_reference(x[:100], x), i, 1), rtol=0, atol=ATOL)


def test_squared_distances_to_candidates() -> None:
    x = _faces(200, 64, seed=2)
    rows = np.array([[0, 1, 2], [5, 5, 199]])
    sq = squared_distances_to(x[[0, 5]], x, rows)
    ref = _reference(x[[0, 5]], x) ** 2
    np.testing.assert_allclose(sq, np.take_along_axis(ref, rows, 1), rtol=0, atol=ATOL)
    assert sq[0, 0] == 0 and sq[1, 0] == 0


@pytest.mark.parametrize("kind", ["flat", "ivf"])
def test_faiss_distances_are_exact(kind: str) -> None:
    pytest.importorskip("faiss")
    from faceprint.gallery.faiss_index import FaissIndex

    x = _faces(3000, 128, seed=3)
    index = FaissIndex.build(x, kind=kind, nlist=16, nprobe=16 if kind == "ivf" else None, refine=64)
    d, i = index.search(x[:200], 5)
    assert (d[:, 0] == 0).all() and (i[:, 0] == np.arange(200)).all()
    np.testing.assert_allclose(d, np.take_along_axis(_reference(x[:200], x), i, 1), rtol=0, atol=ATOL)
