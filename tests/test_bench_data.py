"""The synthetic face-like galleries of bench/search.py (also bench/scale.py's): shape, determinism, the prefix
property of the chunked generator, and the distances that make them face-like."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "search.py"


@pytest.fixture(scope="module")
def search():
    spec = importlib.util.spec_from_file_location("bench_search", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_search", module)
    spec.loader.exec_module(sys.modules["bench_search"])
    return sys.modules["bench_search"]


@pytest.mark.parametrize("kind", ["clustered", "random"])
def test_shape_unit_norm_and_determinism(search, kind: str) -> None:
    n = 2 * search.CHUNK_IDENTITIES * search.FACES_PER_IDENTITY + 7  # three chunks, the last one partial
    x, q = search.make_data(kind, n, 50, 16, seed=3)
    assert x.shape == (n, 16) and q.shape == (50, 16) and x.dtype == q.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-5)
    x2, q2 = search.make_data(kind, n, 50, 16, seed=3)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(q, q2)
    x3, _ = search.make_data(kind, n, 50, 16, seed=4)
    assert not np.array_equal(x, x3)
    # Chunk c has its own seed: a gallery of whole chunks is a prefix of a larger one with the same seed.
    small, _ = search.make_data(kind, search.CHUNK_IDENTITIES * search.FACES_PER_IDENTITY, 5, 16, seed=3)
    np.testing.assert_array_equal(small, x[: len(small)])


def test_clustered_is_face_like(search) -> None:
    x, q = search.make_data("clustered", 20_000, 200, 128, seed=0)
    ids = x.reshape(-1, search.FACES_PER_IDENTITY, 128)  # rows 10i..10i+9 are identity i
    within = np.linalg.norm(ids[:, 0] - ids[:, 1], axis=1)
    across = np.linalg.norm(ids[:-1, 0] - ids[1:, 0], axis=1)
    assert 0.35 < within.mean() < 0.5 and 1.35 < across.mean() < 1.45
    # Every query is a fresh face of an enrolled identity: its nearest gallery face is at a within-identity distance.
    nearest = np.sqrt(np.maximum(2.0 - 2.0 * (q @ x.T).max(1), 0.0))  # unit vectors: |a-b|^2 = 2 - 2 a.b
    assert nearest.max() < 0.6


@pytest.mark.slow
def test_scale_bench_runs_every_method_on_a_small_gallery() -> None:
    """bench/scale.py end to end on 3,000 faces: every method builds, answers and prints its row (a method whose
    build branch went missing fails here, not in an hour-long 10M run)."""
    import subprocess

    script = BENCH.parent / "scale.py"
    methods = ["faiss-flat", "faiss-ivf", "faiss-ivfhnsw", "faiss-hnsw", "faiss-ivfpq", "milvus-ivf"]
    out = subprocess.run([sys.executable, str(script), "--n", "3000", "--queries", "20", "--tune-queries", "20",
                          "--latency-queries", "40", "--methods", *methods], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = {line.split("|")[1].strip(): line.split("|") for line in out.stdout.splitlines() if line.startswith("| ") and "method" not in line}
    assert sorted(rows) == sorted(methods)
    for method, cells in rows.items():
        recall1 = float(cells[5])
        assert 0.0 <= recall1 <= 1.0 and float(cells[7]) > 0.0, (method, cells)  # recall@1 and single p50 ms
    assert float(rows["faiss-flat"][5]) == 1.0  # exact is exact
