"""The FAISS index: exact nearest neighbours for >= 99% of queries on 200k random unit vectors, the ExactIndex
contract, files rebuilt when the gallery changes, and `identify --index faiss` against exact search."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import faiss
import numpy as np
import pytest
from typer.testing import CliRunner

from faceprint.models import DEFAULT_MODEL
from faceprint.cli.app import app
from faceprint.gallery import ExactIndex, Gallery
from faceprint.gallery.faiss_index import FaissIndex, index_path, load_or_build_index
from fixtures_embeddings import copy_gallery

runner = CliRunner()


@pytest.fixture(autouse=True)
def _one_faiss_thread() -> Iterator[None]:
    """One OpenMP thread: on a busy machine, spinning OpenMP threads make FAISS training many times slower."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(before)


def unit_vectors(n: int, dim: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_exact_nearest_neighbour_for_99_percent_of_200k_random_vectors() -> None:
    gallery = unit_vectors(200_000, 128, seed=0)
    queries = unit_vectors(500, 128, seed=1)
    index = FaissIndex.build(gallery)  # the default: auto, an IVF-PQ index this large, nprobe tuned
    assert index.kind == "ivf" and index.tuned_recall is not None and index.tuned_recall >= 0.99
    d, i = index.search(queries, 1)
    true_d, true_i = ExactIndex(gallery).search(queries, 1)
    recall = np.mean(i[:, 0] == true_i[:, 0])
    print(f"\n{index}: recall@1 {recall:.3f} on 500 fresh random queries")
    assert recall >= 0.99
    hit = i[:, 0] == true_i[:, 0]
    np.testing.assert_allclose(d[hit, 0], true_d[hit, 0], atol=2e-6)  # re-ranked from the differences: exact distances


@pytest.mark.parametrize("kind", ["flat", "ivf"])
@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_same_contract_as_exact_search(kind, metric) -> None:
    gallery = unit_vectors(3000, 16, seed=2) * 2.0  # not unit length: cosine must normalise
    queries = unit_vectors(50, 16, seed=3)
    index = FaissIndex.build(gallery, metric=metric, kind=kind, nlist=16, nprobe=16 if kind == "ivf" else None,
                             refine=512)
    d, i = index.search(queries, 5)
    true_d, true_i = ExactIndex(gallery, metric=metric).search(queries, 5)
    assert d.shape == i.shape == (50, 5) and i.dtype == np.int64
    assert (np.diff(d, axis=1) >= 0).all()
    np.testing.assert_allclose(d, true_d, atol=2e-6)
    assert (i == true_i).mean() > 0.99  # ties aside
    d_all, _ = index.search(queries[:2], 10_000)  # k larger than the gallery is capped
    assert d_all.shape == (2, 3000)
    assert index.search(queries[:0], 3)[0].shape == (0, 3)


def test_bad_arguments() -> None:
    x = unit_vectors(10, 8, seed=4)
    with pytest.raises(ValueError, match="metric"):
        FaissIndex.build(x, metric="manhattan")
    with pytest.raises(ValueError, match="kind"):
        FaissIndex.build(x, kind="hnsw")
    with pytest.raises(ValueError, match="empty"):
        FaissIndex.build(x[:0])


def test_index_file_is_rebuilt_when_the_gallery_changes(tmp_path, caplog) -> None:
    model = "synthetic-net"
    vectors = unit_vectors(2000, 32, seed=5)
    with Gallery(tmp_path / "g.sqlite") as g:
        with g.transaction():
            for j, v in enumerate(vectors):
                g.add_face(f"p{j % 200}", f"{j}.jpg", f"sha{j}", None, v, model)
        path = index_path(g, model)
        meta_path = path.with_name(path.name + ".json")

        first = load_or_build_index(g, model, kind="ivf")
        meta = json.loads(meta_path.read_text())
        assert path.exists() and meta["state"] == g.state(model) and meta["n"] == 2000 and meta["kind"] == "ivf"

        # Unchanged gallery: loaded from the file, same answers.
        again = load_or_build_index(g, model, kind="ivf")
        assert json.loads(meta_path.read_text())["created"] == meta["created"]
        q = unit_vectors(20, 32, seed=6)
        np.testing.assert_array_equal(again.search(q, 3)[1], first.search(q, 3)[1])

        # A new face: stale, rebuilt, and the new face is found.
        g.add_face("newcomer", "new.jpg", "sha-new", None, q[0], model)
        grown = load_or_build_index(g, model, kind="ivf")
        meta2 = json.loads(meta_path.read_text())
        assert meta2["state"] == g.state(model) != meta["state"] and meta2["n"] == len(grown) == 2001
        d, i = grown.search(q[:1], 1)
        assert d[0, 0] < 1e-3 and g.embeddings(model).labels()[i[0, 0]] == "newcomer"

        # Removing a person also rebuilds; a damaged file is rebuilt with a warning, not fatal.
        g.remove_person("newcomer")
        assert len(load_or_build_index(g, model, kind="ivf")) == 2000
        path.write_bytes(b"garbage")
        with caplog.at_level(logging.WARNING):
            assert len(load_or_build_index(g, model, kind="ivf")) == 2000
        assert "cannot load" in caplog.text

        # Small galleries get an exact flat index by default.
        assert load_or_build_index(g, model).kind == "flat"


def test_identify_index_faiss_matches_exact(avengers_split, tmp_path) -> None:
    split = avengers_split
    gallery = copy_gallery(split["gallery"], tmp_path / "g.sqlite")
    photos = [str(p) for p in split["paths"][::4]]  # every 4th held-out photo: all five people
    results = {}
    for index in ("exact", "faiss"):
        r = runner.invoke(app, ["identify", *photos, "--gallery", str(gallery), "--index", index, "--json"])
        assert r.exit_code == 0, r.output
        results[index] = json.loads(r.stdout)
    exact, approx = results["exact"], results["faiss"]
    assert [o["person"] for o in approx] == [o["person"] for o in exact]
    assert [o["closest"] for o in approx] == [o["closest"] for o in exact]
    np.testing.assert_allclose([o["distance"] for o in approx], [o["distance"] for o in exact], atol=1e-3)
    assert sum(o["person"] is not None for o in exact) >= 0.9 * len(photos)
    with Gallery(gallery) as g:
        assert index_path(g, DEFAULT_MODEL).exists() and index_path(g, DEFAULT_MODEL).name.startswith(f"g.sqlite.index_{DEFAULT_MODEL}_")
    r = runner.invoke(app, ["identify", photos[0], "--gallery", str(gallery), "--index", "annoy"])
    assert r.exit_code == 3 and "exact, faiss" in r.stderr
