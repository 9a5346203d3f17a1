"""faceprint.cluster on vectors: the methods, the cannot-link rule, the metrics against brute force, stored clusters."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import numpy as np
import pytest

from faceprint.cluster import METHODS, CollectedFace, SavedClusters, UnknownCluster, cluster_vectors, score_clustering
from faceprint.cluster.methods import knn
from faceprint.errors import FaceprintError
from faceprint.gallery.store import Gallery
from faceprint.types import Face


def blobs(people: int = 12, per: int = 6, dim: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Well separated identities: centres about 1.4 apart, faces about 0.2 from each other."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(people, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    y = np.repeat(np.arange(people), per)
    x = centres[y] + rng.normal(scale=0.2 / np.sqrt(2 * dim), size=(len(y), dim))
    return x.astype(np.float32), y


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    return all((a[i] == a[j]) == (b[i] == b[j]) for i, j in combinations(range(len(a)), 2))


@pytest.mark.parametrize("method", METHODS)
def test_each_method_finds_separated_people(method: str) -> None:
    x, y = blobs()
    labels = cluster_vectors(x, method=method, threshold=0.6)
    assert same_partition(labels, y)
    s = score_clustering(y, labels)
    assert (s.bcubed_f, s.pairwise_f, s.clusters) == (1.0, 1.0, 12)


def test_labels_are_largest_first_and_small_clusters_left_alone() -> None:
    x, y = blobs(people=3, per=4)
    keep = np.r_[0:4, 4:7, 8:10]  # sizes 4, 3, 2
    labels = cluster_vectors(x[keep], threshold=0.6, min_size=3)
    assert labels.tolist() == [0] * 4 + [1] * 3 + [-1] * 2
    assert cluster_vectors(x[keep], threshold=0.6, min_size=1).tolist() == [0] * 4 + [1] * 3 + [2] * 2


@pytest.mark.parametrize("method", ["agglomerative", "chinese-whispers"])
def test_cannot_link_keeps_faces_of_one_photo_apart(method: str) -> None:
    x, y = blobs(people=2, per=5)
    # Far too loose a threshold: without the rule everyone is one cluster.
    assert len(set(cluster_vectors(x, method=method, threshold=5.0).tolist())) == 1
    photos = [f"p{i}" for i in range(len(y))]
    photos[0] = photos[5] = "group.jpg"  # a face of each person in one photo
    labels = cluster_vectors(x, method=method, threshold=5.0, groups=photos)
    assert labels[0] != labels[5]


def test_cannot_link_pushes_out_the_farther_face() -> None:
    from faceprint.cluster.methods import cannot_link

    x = np.array([[0, 0], [0.1, 0], [0.05, 0.05], [0.3, 0]], np.float32)
    labels, pushed = cannot_link(np.zeros(4, np.int64), x, np.array([0, 1, 2, 1]))
    assert pushed == [3] and labels.tolist() == [0, 0, 0, -1]


def test_bad_options_are_refused() -> None:
    x, _ = blobs(people=2, per=2)
    with pytest.raises(FaceprintError, match="choose one of"):
        cluster_vectors(x, method="kmeans", threshold=0.5)
    with pytest.raises(FaceprintError, match="positive"):
        cluster_vectors(x, threshold=0.0)
    with pytest.raises(FaceprintError, match="min-size"):
        cluster_vectors(x, threshold=0.5, min_size=0)
    assert cluster_vectors(np.zeros((0, 4), np.float32), threshold=0.5).shape == (0,)
    from faceprint.cluster.run import resolve_threshold

    with pytest.raises(FaceprintError, match="no --threshold"):
        resolve_threshold("hdbscan", 0.5, "dlib-resnet-v1")
    assert resolve_threshold("agglomerative", None, "dlib-resnet-v1") == pytest.approx(0.84 * 0.608, abs=1e-4)


def test_knn_matches_brute_force() -> None:
    x, _ = blobs(people=5, per=7)
    d, i = knn(x, 4)
    full = np.linalg.norm(x[:, None] - x[None], axis=2)
    np.fill_diagonal(full, np.inf)
    np.testing.assert_allclose(d, np.sort(full, axis=1)[:, :4], atol=1e-4)
    assert not (i == np.arange(len(x))[:, None]).any()


def _brute(truth: list[str], labels: list[int]) -> dict[str, float]:
    n = len(truth)
    lab = list(labels)
    nxt = max(lab) + 1
    for k in range(n):  # alone -> a cluster of its own
        if lab[k] < 0:
            lab[k], nxt = nxt, nxt + 1
    pairs = list(combinations(range(n), 2))
    tp = sum(1 for i, j in pairs if truth[i] == truth[j] and lab[i] == lab[j])
    pp = tp / max(1, sum(1 for i, j in pairs if lab[i] == lab[j]))
    pr = tp / max(1, sum(1 for i, j in pairs if truth[i] == truth[j]))
    bp = sum(sum(1 for j in range(n) if lab[j] == lab[i] and truth[j] == truth[i]) / sum(1 for j in range(n) if lab[j] == lab[i]) for i in range(n)) / n
    br = sum(sum(1 for j in range(n) if lab[j] == lab[i] and truth[j] == truth[i]) / sum(1 for j in range(n) if truth[j] == truth[i]) for i in range(n)) / n
    return {"pp": pp, "pr": pr, "bp": bp, "br": br}


@pytest.mark.parametrize("seed", range(5))
def test_metrics_match_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    truth = [str(t) for t in rng.integers(0, 5, 30)]
    labels = rng.integers(-1, 6, 30)
    s = score_clustering(truth, labels)
    b = _brute(truth, labels.tolist())
    assert s.pairwise_precision == pytest.approx(b["pp"]) and s.pairwise_recall == pytest.approx(b["pr"])
    assert s.bcubed_precision == pytest.approx(b["bp"]) and s.bcubed_recall == pytest.approx(b["br"])
    assert s.bcubed_f == pytest.approx(2 * b["bp"] * b["br"] / (b["bp"] + b["br"]))


def test_metrics_of_known_mistakes() -> None:
    # One cluster merging two people (3 + 1 faces): BCubed precision (3 * 3/4 + 1/4) / 4 = 0.625, recall 1.
    s = score_clustering(["a", "a", "a", "b"], np.array([0, 0, 0, 0]))
    assert (s.bcubed_precision, s.bcubed_recall, s.pairwise_precision) == (0.625, 1.0, 0.5)
    # Everyone alone: precision 1, recall (1/2 * 2 + 1) / 3.
    s = score_clustering(["a", "a", "b"], np.array([-1, -1, -1]))
    assert s.bcubed_precision == 1.0 and s.bcubed_recall == pytest.approx(2 / 3) and s.pairwise_recall == 0.0


def _faces(x: np.ndarray, photos: list[str]) -> list[CollectedFace]:
    face = Face((10.0, 10.0, 110.0, 110.0), 0.99, ((40, 50), (80, 50), (60, 70), (45, 90), (75, 90)))
    return [CollectedFace(p, face, v, 100.0) for v, p in zip(x, photos)]


def _saved(x: np.ndarray, photos: list[str], method: str = "agglomerative") -> SavedClusters:
    labels = cluster_vectors(x, method=method, threshold=0.6, groups=photos)
    return SavedClusters.from_labels(_faces(x, photos), labels, model="dlib-resnet-v1", metric="euclidean",
                                     method=method, threshold=0.6, min_size=2)


def test_saved_clusters_merge_split_take_and_round_trip(tmp_path: Path) -> None:
    x, y = blobs(people=3, per=4)
    saved = _saved(x, [f"/photos/{i}.jpg" for i in range(len(y))])
    assert sorted(len(v) for v in saved.clusters().values()) == [4, 4, 4]
    a, b, c = list(saved.clusters())
    assert saved.merge([a, b]) == a and len(saved.cluster(a)) == 8
    moved = [f.id for f in saved.cluster(a)[:3]]
    new = saved.split(a, moved)
    assert [f.id for f in saved.cluster(new)] == moved
    with pytest.raises(UnknownCluster):
        saved.cluster(b)
    with pytest.raises(UnknownCluster):
        saved.split(c, moved)
    with Gallery(tmp_path / "g.sqlite") as g:
        saved.save(g)
        back = SavedClusters.load(g, "dlib-resnet-v1")
    assert back is not None and back.partition() == saved.partition()
    np.testing.assert_array_equal(back.vectors, saved.vectors)
    taken = back.take(c)
    assert len(taken) == 4 and c not in back.clusters() and len(back.vectors) == len(back.faces) == 8


@pytest.mark.parametrize("method", ["agglomerative", "chinese-whispers"])
def test_incremental_equals_batch(method: str) -> None:
    x, y = blobs(people=6, per=6, seed=3)
    photos = [f"/photos/{i}.jpg" for i in range(len(y))]
    first = np.flatnonzero(y < 4)[::2].tolist() + np.flatnonzero(y == 4)[:1].tolist()  # people 0-3 half, one face of 4
    rest = [i for i in range(len(y)) if i not in first]
    batch = _saved(x, photos, method)
    step = _saved(x[first], [photos[i] for i in first], method)
    report = step.add(_faces(x[rest], [photos[i] for i in rest]))
    assert step.partition() == batch.partition()
    assert report["joined"] == 12 and report["new_clusters"] == 2  # person 4 (with its old lone face) and person 5
    assert step.add(_faces(x[rest], [photos[i] for i in rest]))["known"] == len(rest)


def _identifier(x: np.ndarray, names: list[str]):  # type: ignore[no-untyped-def]
    from faceprint.gallery.store import GalleryEmbeddings
    from faceprint.recognize.identifier import Identifier

    people = sorted(set(names))
    pid = np.array([people.index(n) for n in names])
    g = GalleryEmbeddings("dlib-resnet-v1", x.astype(np.float32), np.arange(len(x)), pid, dict(enumerate(people)))
    return Identifier(g, "euclidean", 0.3, 10.0)


def _collection(x: np.ndarray, photos: list[str]):  # type: ignore[no-untyped-def]
    from faceprint.cluster import Collection

    return Collection("dlib-resnet-v1", "euclidean", _faces(x, photos), images=len(photos))


def _consistent(outcome) -> None:  # type: ignore[no-untyped-def]
    """No face both in a cluster (or alone) and named; the summary counts what the lists hold."""
    doc = outcome.to_dict()
    in_clusters = {(f["image"], tuple(f["box"])) for c in doc["clusters"] for f in c["faces"]}
    alone = {(f["image"], tuple(f["box"])) for f in doc["noise"]}
    named = {(f["image"], tuple(f["box"])) for f in doc["people"]}
    assert not in_clusters & named and not alone & named and not in_clusters & alone
    s = doc["summary"]
    assert s["in_clusters"] == sum(c["size"] for c in doc["clusters"]) == len(in_clusters)
    assert s["alone"] == len(doc["noise"]) and s["named"] == len(doc["people"]) == sum(s["named_people"].values())


def test_named_faces_leave_stored_clusters_and_named_clusters_stay_named() -> None:
    from faceprint.cluster import cluster_collection

    x, y = blobs(people=4, per=5, seed=5)
    photos = [f"/photos/{i}.jpg" for i in range(len(y))]
    first = cluster_collection(_collection(x, photos))
    assert len(first.clusters.clusters()) == 4
    saved = first.clusters
    # name person 0's cluster by hand; person 1 gets enrolled some other way (the gallery now names them)
    c0 = next(cid for cid, fs in saved.clusters().items() if fs[0].image in photos[:5])
    taken = saved.name(c0, "Ann")
    assert len(taken) == 5 and c0 not in saved.clusters()
    enrolled = np.r_[0:5, np.flatnonzero(y == 1)[:2]]  # name-cluster enrolled Ann's five
    ident = _identifier(x[enrolled], ["Ann"] * 5 + ["Bob"] * 2)
    # cluster again: the old photos, with new ones of person 0 and person 1
    rng = np.random.default_rng(9)
    extra = x[[0, 5]] + rng.normal(scale=0.005, size=(2, x.shape[1])).astype(np.float32)
    again = cluster_collection(_collection(np.concatenate([x, extra]), photos + ["/new/a.jpg", "/new/b.jpg"]),
                               identifier=ident, saved=saved)
    _consistent(again)
    counts = again.named_counts()
    assert counts["Ann"] == 6  # her five named by hand and her new photo
    assert {n.face.image for n in again.named if n.person == "Ann"} == set(photos[:5]) | {"/new/a.jpg"}
    assert counts["Bob"] >= 5  # person 1's stored faces left their cluster as the gallery names them
    assert all(f.image not in photos[5:10] for f in again.clusters.faces)
    assert "/new/b.jpg" in {n.face.image for n in again.named if n.person == "Bob"}
    # --fresh keeps what people decided (no gallery asked: Ann's five are named by hand)
    fresh = cluster_collection(_collection(x, photos), replacing=again.clusters)
    _consistent(fresh)
    assert fresh.named_counts() == {"Ann": 5}


def test_discarded_clusters_stay_out(tmp_path: Path) -> None:
    from faceprint.cluster import cluster_collection

    x, y = blobs(people=3, per=4, seed=6)
    photos = [f"/photos/{i}.jpg" for i in range(len(y))]
    saved = cluster_collection(_collection(x, photos)).clusters
    junk = next(iter(saved.clusters()))
    assert saved.discard(junk) == 4 and junk not in saved.clusters()
    with Gallery(tmp_path / "g.sqlite") as g:
        saved.save(g)
        back = SavedClusters.load(g, "dlib-resnet-v1")
    assert back is not None and back.discarded == saved.discarded and len(back.discarded) == 4
    again = cluster_collection(_collection(x, photos), saved=back)
    assert again.discarded == 4 and again.added is not None and again.added["known"] == 8
    assert sum(len(fs) for fs in again.clusters.clusters().values()) == 8
    fresh = cluster_collection(_collection(x, photos), replacing=back)
    assert fresh.discarded == 4 and len(fresh.clusters.clusters()) == 2 and fresh.clusters.discarded == back.discarded
