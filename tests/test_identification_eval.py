"""Identification metrics: rank-k and open-set DIR on hand-computed cases, the seeded split, and `eval identify`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from faceprint.analyzer import FaceAnalyzer
from faceprint.cache import EmbeddingCache
from faceprint.cli.app import app
from faceprint.evaluate.identification import (
    IdentificationSplit,
    dir_at_far,
    evaluate_identification,
    rank_k_accuracy,
    split_identification,
    true_ranks,
)
from faceprint.evaluate.labelled import InsufficientData, LabelledEmbeddings, embed_identity_folders
from faceprint.viz.plots import CONFUSION_SIZE

runner = CliRunner()


def test_ranks_hand_case() -> None:
    d = np.array([[0.2, 0.5, 0.9], [0.3, 0.1, 0.4], [0.7, 0.6, 0.5]])
    ranks = true_ranks(d, np.array([0, 2, 0]))
    assert ranks.tolist() == [1, 3, 3]
    assert rank_k_accuracy(ranks, 1) == pytest.approx(1 / 3)
    assert rank_k_accuracy(ranks, 2) == pytest.approx(1 / 3)
    assert rank_k_accuracy(ranks, 3) == 1.0


def test_dir_at_far_hand_case() -> None:
    genuine_best = [0.1, 0.45, 0.1, 0.4]
    rank1 = [True, True, True, False]
    impostor_best = [0.3, 1.0, 0.5, 2.0]
    rate, thr, far = dir_at_far(genuine_best, rank1, impostor_best, 0.25)  # threshold just below 0.5
    assert rate == 0.75 and 0.45 < thr < 0.5 and far == 0.25
    rate, thr, far = dir_at_far(genuine_best, rank1, impostor_best, 0.0)  # just below 0.3
    assert rate == 0.5 and far == 0.0


def _line(points: dict[str, list[float]]) -> LabelledEmbeddings:
    """People as points on a line (2-d vectors with y = 0), so every distance is a difference of x."""
    labels = [p for p, xs in points.items() for _ in xs]
    xs = [x for v in points.values() for x in v]
    vectors = np.array([[x, 0.0] for x in xs], np.float32)
    return LabelledEmbeddings("toy", "euclidean", vectors, labels, [f"{i}.jpg" for i in range(len(xs))], [None] * len(xs))


def test_evaluate_identification_hand_case() -> None:
    # A enrolled at 0.0, B at 1.0; genuine queries A 0.1, 0.45 and B 0.9, 0.4 (the last is nearer A: a rank-1 error);
    # impostor X at 0.7, 2.0, -0.5, 3.0 -> best distances 0.3, 1.0, 0.5, 2.0
    data = _line({"A": [0.0, 0.1, 0.45], "B": [1.0, 0.9, 0.4], "X": [0.7, 2.0, -0.5, 3.0]})
    split = IdentificationSplit(np.array([0, 3]), np.array([1, 2, 4, 5]), np.array([6, 7, 8, 9]), ["X"], [])
    res = evaluate_identification(data, 1, threshold=0.42, fars=(0.25, 0.0), split=split)
    assert res.people == ["A", "B"]
    assert res.rank1 == 0.75 and res.rank5 == 1.0
    assert res.dir_at_far[0.25].dir == 0.75 and res.dir_at_far[0.25].far_measured == 0.25
    assert res.dir_at_far[0.0].dir == 0.5 and res.dir_at_far[0.0].far_measured == 0.0
    # at 0.42: genuine 0.1 (A), 0.1 (B) accepted and right, 0.4 accepted but wrong, 0.45 rejected; impostor 0.3 accepted
    assert res.dir_at_threshold == 0.5 and res.far_at_threshold == 0.25
    assert res.confusion.tolist() == [[2, 0], [1, 1]]
    js = res.to_dict()
    assert js["rank1"] == 0.75 and js["dir_at_far"] == {"0.25": 0.75, "0.0": 0.5}


def test_split_is_seeded_and_complete() -> None:
    labels = [p for p, n in [("a", 5), ("b", 4), ("c", 2), ("d", 6), ("e", 3)] for _ in range(n)]
    s1 = split_identification(labels, 3, impostor_share=0.2, seed=1)
    s2 = split_identification(labels, 3, impostor_share=0.2, seed=1)
    assert all(np.array_equal(getattr(s1, f), getattr(s2, f)) for f in ("enrol", "genuine", "impostor"))
    assert len(s1.impostor_people) == 1
    lab = np.array(labels)
    assert set(lab[s1.impostor]) == set(s1.impostor_people)
    enrolled = set(lab[s1.enrol])
    assert not enrolled & set(s1.impostor_people)
    for p in enrolled:
        assert (lab[s1.enrol] == p).sum() == 3
    # c has 2 photos < 3: left out unless drawn as the impostor
    assert s1.too_few == ([] if "c" in s1.impostor_people else ["c"])
    covered = np.concatenate([s1.enrol, s1.genuine, s1.impostor])
    assert len(covered) == len(set(covered.tolist()))
    with pytest.raises(InsufficientData, match="lower --enroll"):
        split_identification(labels, 6, impostor_share=0.0)


@pytest.fixture(scope="module")
def subset_embeddings(lfw_subset: Path) -> LabelledEmbeddings:
    with EmbeddingCache() as cache:  # the session's private cache: CLI runs below reuse these embeddings
        return embed_identity_folders(lfw_subset, FaceAnalyzer(), cache)


def test_eval_identify_cli_on_lfw_subset(lfw_subset: Path, subset_embeddings: LabelledEmbeddings, tmp_path: Path) -> None:
    conf = tmp_path / "confusion.png"
    r = runner.invoke(app, ["eval", "identify", str(lfw_subset), "--enroll", "3", "--json", "--confusion", str(conf)])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert set(out["dir_at_far"]) == {"0.1", "0.01"}
    assert out["people_enrolled"] == 8 and len(out["impostor_people"]) == 2  # 10 people, 20% impostors
    assert out["enrolled_faces"] == 24 and out["impostor_queries"] == 20
    assert 0.9 <= out["rank1"] <= out["rank5"] <= 1.0
    assert out["dir_below_resolution"] == {"0.1": False, "0.01": True}  # 20 impostor queries: resolution 1/20
    # the library on the same embeddings gives the same figures
    lib = evaluate_identification(subset_embeddings, 3, threshold=out["threshold"])
    assert lib.rank1 == out["rank1"] and lib.dir_at_far[0.1].dir == out["dir_at_far"]["0.1"]
    print(f"\nlfw-subset, K=3: rank-1 {out['rank1']:.3f}, rank-5 {out['rank5']:.3f}, DIR@FAR0.1 {out['dir_at_far']['0.1']:.3f}")
    with Image.open(conf) as im:
        assert im.format == "PNG" and im.size == CONFUSION_SIZE
    # the text table: one impostor is "1 person", not "1 people" (issue 29)
    r = runner.invoke(app, ["eval", "identify", str(lfw_subset), "--enroll", "3", "--impostors", "0.1", "--sizes", "all"])
    assert r.exit_code == 0, r.output
    assert "1 person, 10 queries" in r.stdout and "1 people" not in r.stdout, r.stdout


def test_eval_identify_needs_enough_photos(lfw_subset: Path, subset_embeddings: LabelledEmbeddings) -> None:
    r = runner.invoke(app, ["eval", "identify", str(lfw_subset), "--enroll", "10"])
    assert r.exit_code == 2 and "lower --enroll" in r.stderr
    r = runner.invoke(app, ["eval", "identify", str(lfw_subset / "Tony_Blair"), "--enroll", "2"])
    assert r.exit_code == 11  # no identity sub-folders
