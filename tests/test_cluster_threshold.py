"""The clustering threshold that follows the collection (faceprint.cluster.threshold) and the photo libraries'
methods of bench/cluster_others.py, on vectors."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from faceprint.cluster import collection_threshold, score_clustering
from faceprint.cluster.run import resolve_threshold
from faceprint.cluster.threshold import (
    FAR_NEIGHBOUR,
    RULES,
    default_threshold,
    far_share,
)
from faceprint.types import pairwise_distances

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import cluster_others

DLIB = "dlib-resnet-v1"
DLIB_T = 0.608


def people(groups: int, per: int, once: int, dim: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """dlib-like vectors: `groups` people with `per` faces about 0.4 apart, `once` people with one face; people
    about 0.95 apart."""
    rng = np.random.default_rng(seed)
    n_people = groups + once
    y = np.concatenate([np.repeat(np.arange(groups), per), groups + np.arange(once)])
    s_face = 0.4 / np.sqrt(2 * dim)
    s_id = np.sqrt((0.95 / np.sqrt(2 * dim)) ** 2 - s_face**2)
    centres = rng.normal(scale=s_id, size=(n_people, dim))
    return (centres[y] + rng.normal(scale=s_face, size=(len(y), dim))).astype(np.float32), y


def test_far_share_against_brute_force() -> None:
    x, _ = people(20, 4, 60)
    d = pairwise_distances(x, x)
    np.fill_diagonal(d, np.inf)
    want = float((d.min(axis=1) > 0.45).mean())
    assert far_share(x, 0.45) == pytest.approx(want)
    # on a sample: close to the whole collection's share
    assert abs(far_share(x, 0.45, sample=100) - want) < 0.15
    assert far_share(x[:1], 0.45) == 1.0


def test_threshold_falls_as_people_seen_once_dominate() -> None:
    few, _ = people(40, 5, 0)
    many, _ = people(40, 5, 600)
    t_few = collection_threshold(few, "agglomerative", DLIB)
    t_many = collection_threshold(many, "agglomerative", DLIB)
    assert t_many < t_few
    lo, hi = RULES["agglomerative"].scale_range
    assert lo * DLIB_T - 1e-4 <= t_many < t_few <= hi * DLIB_T + 1e-4
    # the rule is what the module says it is
    p = far_share(many, FAR_NEIGHBOUR * DLIB_T)
    assert t_many == pytest.approx(RULES["agglomerative"].scale(len(many), p) * DLIB_T, abs=1e-4)


def test_methods_without_a_rule_keep_the_fixed_threshold() -> None:
    x, _ = people(10, 4, 20)
    assert collection_threshold(x, "chinese-whispers", DLIB) == default_threshold("chinese-whispers", DLIB)
    assert resolve_threshold("agglomerative", None, DLIB) == default_threshold("agglomerative", DLIB)
    assert resolve_threshold("agglomerative", None, DLIB, x) == collection_threshold(x, "agglomerative", DLIB)
    assert resolve_threshold("agglomerative", 0.4, DLIB, x) == 0.4


def test_immich_incremental_by_hand() -> None:
    # unit vectors at angles: a tight trio (a core), a pair near the trio, a face far from everyone
    ang = np.array([0.0, 0.05, 0.1, 0.35, 0.4, 2.0])
    x = np.stack([np.cos(ang), np.sin(ang)], 1)
    # cosine distance 1 - cos(angle): 0.1 rad -> 0.005, 0.35 rad -> 0.06
    labels = cluster_others.immich(x, max_distance=0.01, min_faces=3)
    assert labels[0] == labels[1] == labels[2] >= 0  # the trio founds a person
    assert labels[5] == -1  # alone: no core, nobody near
    assert labels[3] == labels[4] == -1  # a pair is no core and no person is within reach
    labels = cluster_others.immich(x, max_distance=0.07, min_faces=3)
    assert len(set(labels[:5].tolist())) == 1 and labels[5] == -1


def test_library_methods_find_separated_people() -> None:
    # unit-length centres about 1.4 apart, faces about 0.2 from each other (cosine distance about 0.02)
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(8, 32))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    y = np.repeat(np.arange(8), 6)
    x = centres[y] + rng.normal(scale=0.2 / 8, size=(len(y), 32))
    for labels in (cluster_others.immich(x, 0.1), cluster_others.photoprism_dbscan(x, 0.5, 4), cluster_others.nextcloud_hdbscan(x)[0]):
        assert score_clustering(y, labels).bcubed_f == 1.0


def test_the_default_models_have_their_own_rule() -> None:
    """The int8 models' rules were refitted on their own DevTrain vectors (MODEL_RULES); other models, and the
    fixed-scale methods, are unchanged."""
    from faceprint.cluster.threshold import MODEL_RULES, rule_for

    x, _ = people(40, 5, 300)
    p = far_share(x, FAR_NEIGHBOUR * DLIB_T)
    int8 = MODEL_RULES["dlib-resnet-v1-int8"]
    assert rule_for("agglomerative", "dlib-resnet-v1-int8") is int8 and rule_for("agglomerative", DLIB) is RULES["agglomerative"]
    assert rule_for("chinese-whispers", "dlib-resnet-v1-int8") is None
    assert collection_threshold(x, "agglomerative", "dlib-resnet-v1-int8") == pytest.approx(int8.scale(len(x), p) * DLIB_T, abs=1e-4)
    assert collection_threshold(x, "agglomerative", "dlib-resnet-v1-int8") != collection_threshold(x, "agglomerative", DLIB)
