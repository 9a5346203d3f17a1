"""Open-set thresholds for the gallery's size: the impostor distribution, the exact stranger rate, the shipped
DevTrain data, the gallery's own calibration and the `identify --far` / `eval identify` sweep that use them."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from faceprint.models import DEFAULT_MODEL
from faceprint.cli.app import app
from faceprint.evaluate.identification import split_identification
from faceprint.evaluate.impostors import StrangerTable, fit_size_exponents, impostor_distribution
from faceprint.evaluate.labelled import LabelledEmbeddings
from faceprint.evaluate.open_set import det_curve, parse_sizes, reliability, sweep_gallery_sizes
from faceprint.gallery import Gallery
from faceprint.recognize.images import gallery_threshold
from faceprint.recognize.open_set import (
    ImpostorDistribution,
    fit_impostor_distribution,
    gallery_impostors,
    model_impostors,
    open_set_threshold,
    store_gallery_impostors,
    threshold_setting,
)
from faceprint.viz.det import DET_SIZE, RELIABILITY_SIZE

runner = CliRunner()


def _clusters(people: int, per_person: int, dim: int = 8, spread: float = 0.35, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(people, dim))
    x = np.repeat(centres, per_person, axis=0) + spread * rng.normal(size=(people * per_person, dim))
    return x.astype(np.float32), [f"p{i:03d}" for i in range(people) for _ in range(per_person)]


def test_stranger_table_matches_brute_force_over_every_gallery() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(9, 3))
    labels = [0, 0, 1, 1, 2, 3, 3, 4, 5]
    d = np.linalg.norm(x[:, None] - x[None], axis=2)
    table = StrangerTable(d, labels)
    for thr, n in [(1.0, 2), (1.5, 3), (0.7, 1), (2.0, 5)]:
        per_query = []
        for q in range(9):
            others = [j for j in range(9) if labels[j] != labels[q]]
            per_query.append(np.mean([min(d[q, j] for j in g) <= thr for g in itertools.combinations(others, n)]))
        assert table.stranger_rate(thr, n) == pytest.approx(np.mean(per_query), abs=1e-12)
    assert table.max_gallery == 7  # a photo of a two-photo person has 7 other-person photos
    with pytest.raises(ValueError, match="galleries of 1 to 7"):
        table.stranger_rate(1.0, 8)
    assert len(table.different_person_distances()) == 36 - 3  # 9 photos, 3 same-person pairs


def test_distribution_table_tail_and_inverse() -> None:
    rng = np.random.default_rng(0)
    neg = rng.uniform(0.0, 1.0, 200_000) ** 0.5  # F(d) = d^2 on [0, 1]: a power law, so the tail fit is exact
    dist = fit_impostor_distribution(neg, "toy", "test")
    assert dist.tail_b == pytest.approx(2.0, rel=0.1)
    for rate, tol in ((0.3, 0.01), (1e-2, 0.03), (1e-4, 0.15)):  # 20 pairs below the last: sampling noise
        assert dist.threshold_at_rate(rate) == pytest.approx(rate**0.5, rel=tol)
        assert dist.comparison_rate(dist.threshold_at_rate(rate)) == pytest.approx(rate, rel=1e-6)
    deep = dist.threshold_at_rate(1e-8)  # beyond the 200,000 pairs: from the tail
    assert deep < dist.distance[0] and deep == pytest.approx(1e-4, rel=0.5)
    # no exponent table: independent comparisons
    assert dist.stranger_rate(dist.threshold_for(0.01, 50), 50) == pytest.approx(0.01, rel=1e-6)
    assert dist.comparison_rate(dist.threshold_for(0.01, 50)) == pytest.approx(1 - 0.99 ** (1 / 50), rel=1e-6)
    thresholds = [dist.threshold_for(0.01, n) for n in (1, 10, 100, 1000, 100_000)]
    assert all(a > b for a, b in zip(thresholds, thresholds[1:]))  # more faces: a stricter threshold
    back = ImpostorDistribution.from_dict(json.loads(json.dumps(dist.to_dict())))
    assert back.threshold_for(0.01, 300) == pytest.approx(dist.threshold_for(0.01, 300), rel=1e-4)
    with pytest.raises(ValueError, match="strictly between"):
        dist.threshold_for(0.0, 10)


def test_size_exponents_reproduce_the_exact_stranger_rates() -> None:
    x, labels = _clusters(60, 3)
    dist, table = impostor_distribution(x, labels, "euclidean", "toy", "clusters")
    assert dist.exponent.shape == (6, 4)  # sizes 3, 10, 30, 100 fit in 177 other-person photos; 300 and up do not
    assert np.all((dist.exponent > 0) & (dist.exponent <= 1.0))
    for far in (0.01, 0.1):
        for n in (10, 100):
            exact = table.threshold_for(far, n)
            assert dist.threshold_for(far, n) == pytest.approx(exact, rel=0.02)
            assert dist.stranger_rate(exact, n) == pytest.approx(far, rel=0.1)
    again = fit_size_exponents(dist, table, fars=(0.01,), sizes=(10,))
    assert again.exponent.shape == (1, 1)


def test_shipped_devtrain_distributions() -> None:
    dist = model_impostors("dlib-resnet-v1")
    assert dist is not None and dist.model == "dlib-resnet-v1" and "DevTrain" in dist.source
    assert dist.n_pairs > 5_000_000  # every different-person pair of the DevTrain photos
    # the per-comparison 1e-3 distance is the model's old open-set threshold (0.526), measured the same way
    assert dist.threshold_at_rate(1e-3) == pytest.approx(0.526, abs=0.002)
    t10, t5000 = dist.threshold_for(0.01, 10), dist.threshold_for(0.01, 5000)
    assert 0.3 < t5000 < t10 < 0.6
    assert model_impostors("no-such-model") is None


def test_open_set_threshold_choices() -> None:
    from dataclasses import replace

    shipped = model_impostors("dlib-resnet-v1")
    assert shipped is not None and shipped.score_law is not None
    law = shipped.score_law
    scored = open_set_threshold([1] * 100, 0.01, shipped)  # the shipped law: the score of score_law
    assert scored.score_lambda == law.weight(100) > 0 and scored.threshold == pytest.approx(law.threshold_for(0.01, 100))
    assert scored.stranger_rate == pytest.approx(0.01, rel=1e-6) and scored.comparison_rate is None
    assert "second person" in scored.describe() and scored.to_dict()["threshold_applies_to"] == scored.score_name()
    assert open_set_threshold([1] * 5, 0.01, shipped).score_lambda == 0.0  # small galleries: the distance wins on DevTrain
    # four people with 30 photos each: few competitors decide on the distance, at the size strangers meet (4 x 30 ** g)
    avengers = open_set_threshold([30] * 4, 0.01, shipped)
    assert avengers.score_lambda == 0.0 and avengers.people == 4 and avengers.effective_faces > 30
    assert avengers.threshold == pytest.approx(law.threshold_for(0.01, 4, avengers.effective_faces))
    assert avengers.threshold < open_set_threshold([1] * 4, 0.01, shipped).threshold
    dist = replace(shipped, score_law=None)  # the nearest-face law, as a gallery's own calibration has it
    point = open_set_threshold([1] * 100, 0.01, dist)
    assert point.stranger_rate == pytest.approx(0.01, rel=1e-3) and point.far == 0.01 and point.n_faces == 100
    # the same 100 faces as 20 people with 5 photos each: fewer chances for a stranger, a looser threshold
    five = open_set_threshold([5] * 20, 0.01, dist)
    assert five.n_faces == 100 and five.effective_faces == pytest.approx(20 * 5**dist.photo_exponent)
    assert 20 < five.effective_faces < 100 and five.threshold > point.threshold
    assert 0.5 < dist.photo_exponent < 0.9  # measured on DevTrain people with 2 and 4 photos
    fixed = open_set_threshold([1] * 100, 0.01, dist, fixed=0.6)
    assert fixed.threshold == 0.6 and fixed.source == "--threshold" and fixed.stranger_rate > 0.1
    assert open_set_threshold([1] * 100, fixed=0.6).stranger_rate is None
    fallback = open_set_threshold([1] * 100, 0.01, None, fallback=0.55)
    assert fallback.threshold == 0.55 and fallback.stranger_rate is None and "unknown" in fallback.describe()
    with pytest.raises(ValueError):
        open_set_threshold([1] * 100, 0.01, None)


def test_gallery_keeps_its_own_distribution(tmp_path: Path) -> None:
    x, labels = _clusters(40, 3)
    own, _ = impostor_distribution(x, labels, "euclidean", "dlib-resnet-v1", "my people")
    with Gallery(tmp_path / "g.sqlite") as g:
        shipped = gallery_threshold(g, "dlib-resnet-v1", [2] * 100, 0.01)
        assert "DevTrain" in shipped.source
        g.set_setting(threshold_setting(g, "dlib-resnet-v1"), "0.5")  # an older calibration: one fixed threshold
        older = gallery_threshold(g, "dlib-resnet-v1", [2] * 100, 0.01)
        assert older.threshold == 0.5 and older.source == "calibrated threshold" and older.stranger_rate is not None
        assert gallery_impostors(g, "dlib-resnet-v1") is None
        store_gallery_impostors(g, own)
        mine = gallery_threshold(g, "dlib-resnet-v1", [2] * 100, 0.01)
        assert mine.source == "my people" and mine.threshold == pytest.approx(own.threshold_for(0.01, own.gallery_size([2] * 100)), rel=1e-4)  # stored rounded
        assert gallery_threshold(g, "dlib-resnet-v1", [2] * 100, 0.01, threshold=0.3).threshold == 0.3
        assert gallery_impostors(g, "dlib-resnet-v1").to_dict() == own.to_dict()


def test_det_curve_and_sizes() -> None:
    fpir, fnir = det_curve(np.array([0.1, 0.3, 0.5]), np.array([True, False, True]), np.array([0.2, 0.4]))
    assert fpir.tolist() == [0.0, 0.0, 0.5, 0.5, 1.0, 1.0]
    assert fnir.tolist() == pytest.approx([1.0, 2 / 3, 2 / 3, 2 / 3, 2 / 3, 1 / 3])
    conf, share, count, ece = reliability(np.array([0.05, 0.15, 0.95, 0.95, 0.55]), np.array([0, 0, 1, 0, 1]), bins=2)
    assert count.tolist() == [2, 3] and share.tolist() == pytest.approx([0.0, 2 / 3])
    assert ece == pytest.approx((2 * 0.1 + 3 * abs(np.mean([0.95, 0.95, 0.55]) - 2 / 3)) / 5)
    assert parse_sizes("10, 100,all") == (10, 100, None)
    with pytest.raises(ValueError, match="at least 2"):
        parse_sizes("1")


def test_sweep_measures_what_the_threshold_promises() -> None:
    x, labels = _clusters(400, 3, seed=2)
    data = LabelledEmbeddings("toy", "euclidean", x, labels, [""] * len(labels), [None] * len(labels))
    split = split_identification(labels, 1, 0.5, seed=0)
    # the distribution of these people's strangers, measured on the held-out half (no enrolled photo in it)
    held = np.isin(np.arange(len(labels)), split.impostor)
    dist, _ = impostor_distribution(x[held], [lab for lab, h in zip(labels, held) if h], "euclidean", "toy", "strangers")
    sweep = sweep_gallery_sizes(data, split, dist, 0.1, (10, 100, None), slope=10.0)
    assert [p.people for p in sweep] == [10, 100, 200]
    for p in sweep:
        assert p.expected_stranger_rate == pytest.approx(0.1, rel=1e-3)
        assert 0.05 <= p.measured_stranger_rate <= 0.2, p
        assert 0.0 <= p.fnir_at_fpir[0.01] <= 1.0 and len(p.det[0]) == len(p.det[1]) > 2
        assert 0.0 <= p.confidence_ece <= 1.0 and p.reliability[2].sum() == pytest.approx(p.draws)  # half and half per draw
    assert sweep[0].threshold > sweep[1].threshold > sweep[2].threshold
    # a model without a distribution: one fixed threshold, its stranger rate measured but not expected
    fixed = sweep_gallery_sizes(data, split, None, None, (10, None), fixed_threshold=sweep[2].threshold)
    assert [p.threshold for p in fixed] == pytest.approx([sweep[2].threshold] * 2) and all(p.expected_stranger_rate is None for p in fixed)
    assert fixed[0].measured_stranger_rate < fixed[1].measured_stranger_rate  # the fixed threshold names more as it grows
    with pytest.raises(ValueError, match="fixed threshold"):
        sweep_gallery_sizes(data, split, None, 0.01)


@pytest.mark.slow
def test_eval_identify_sweep_and_report(lfw_subset: Path, tmp_path: Path) -> None:
    r = runner.invoke(app, ["eval", "identify", str(lfw_subset), "--enroll", "3", "--sizes", "3,all", "--json", "--report", str(tmp_path / "rep")])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert [s["people"] for s in out["gallery_sizes"]] == [3, 8]
    dist = model_impostors(DEFAULT_MODEL)  # the model eval identify uses by default
    assert out["threshold"] == pytest.approx(open_set_threshold([3] * 8, 0.01, dist).threshold)  # 8 people x 3 photos
    assert out["threshold_applies_to"] == "distance"  # 8 x 3 photos count as about 17 people: the distance's size on DevTrain
    assert out["expected_stranger_rate"] == pytest.approx(0.01, rel=1e-3)
    for s in out["gallery_sizes"]:
        assert set(s["fnir_at_fpir"]) == {"0.003", "0.01", "0.1"} and 0.0 <= s["measured_stranger_rate"] <= 1.0
    with Image.open(tmp_path / "rep" / "det.png") as im:
        assert im.size == DET_SIZE
    with Image.open(tmp_path / "rep" / "reliability.png") as im:
        assert im.size == RELIABILITY_SIZE
    assert "FNIR @ FPIR 1%" in (tmp_path / "rep" / "report.md").read_text()
    r = runner.invoke(app, ["eval", "identify", str(lfw_subset), "--enroll", "3", "--sizes", "ten"])
    assert r.exit_code == 3 and "--sizes" in r.output  # usage: exit 3


@pytest.mark.slow
def test_identify_far_moves_the_threshold_with_the_gallery(lfw_subset: Path, tmp_path: Path) -> None:
    from faceprint.analyzer import FaceAnalyzer
    from faceprint.gallery import enroll, identity_folders

    items = identity_folders(lfw_subset)
    path = tmp_path / "g.sqlite"
    query = str(items[-1][1])  # the last person's last photo, never enrolled below
    dist = model_impostors(DEFAULT_MODEL)  # the model identify uses by default
    points = []
    for people, per_person in ((2, 1), (6, 2)):
        chosen = sorted({p for p, _ in items})[:people]
        with Gallery(path) as g:
            enroll(g, FaceAnalyzer(), [it for it in items if it[0] in chosen and it[1].stem.endswith(tuple(f"_000{i}" for i in range(1, per_person + 1)))])
        r = runner.invoke(app, ["identify", query, "--gallery", str(path), "--json"])
        assert r.exit_code == 0, r.output
        row = json.loads(r.stdout)[0]
        points.append(row["threshold"])
        assert row["expected_stranger_rate"] == pytest.approx(0.01, rel=1e-3)
    # 6 people with 2 photos each (the first 2 people hold 2 photos now too): size 6 * 2 ** g, not 2 faces
    assert points[0] == pytest.approx(open_set_threshold([1, 1], 0.01, dist).threshold, rel=1e-6)
    assert points[1] == pytest.approx(open_set_threshold([2] * 6, 0.01, dist).threshold, rel=1e-6)
    assert points[1] < points[0]
    r = runner.invoke(app, ["identify", query, "--gallery", str(path), "--far", "0.2", "--threshold", "0.5", "--json"])
    row = json.loads(r.stdout)[0]
    assert row["threshold"] == 0.5 and row["expected_stranger_rate"] == pytest.approx(dist.stranger_rate(0.5, dist.gallery_size([2] * 6)))
    r = runner.invoke(app, ["identify", query, "--gallery", str(path)])
    assert r.exit_code == 0 and "expected stranger rate 1%" in r.stdout and "12 enrolled faces" in r.stdout
    r = runner.invoke(app, ["identify", query, "--gallery", str(path), "--far", "1"])
    assert r.exit_code == 3 and "--far" in r.output  # usage: exit 3


def _law_and_split(people: int = 500, per_person: int = 3, seed: int = 3):
    """A score law measured on one half of synthetic people, and an identification split of the other half."""
    from faceprint.evaluate.impostors import measure_score_law

    x, labels = _clusters(people, per_person, seed=seed)
    half = len(labels) // 2
    d = np.linalg.norm(x[:half, None] - x[None, :half], axis=2)
    found = measure_score_law(d, labels[:half], tail_b=8.0, source="toy", sizes=(2, 10, 30, 100))
    return found, x[half:], labels[half:]


def test_score_law_tables_inverse_and_extrapolation() -> None:
    from faceprint.recognize.score_law import ScoreLaw, open_set_scores

    found, _, _ = _law_and_split()
    law = found.law
    assert found.sizes == [2, 10, 30, 100, 200] and found.law.log_threshold.shape == (5, 6, 5)
    assert all(s > 0 and g > 0 for s, g in found.queries)
    for people in (2, 10, 50, 200, 5000):
        t1, t10 = law.threshold_for(0.01, people), law.threshold_for(0.1, people)
        assert t1 < t10 and law.stranger_rate(t1, people) == pytest.approx(0.01, rel=1e-6)
        p = law.confidence(np.array([t1 / 2, t1, t10 * 2]), people)
        assert 0.0 < p[2] < p[1] < p[0] < 1.0  # a lower score is more likely the nearest person
    # beyond the largest measured size: the measured trend of the large sizes, never loosening
    lam = law.weight(200)
    assert law.weight(20000) == lam
    li = law.weight_index(200)
    big = law.log10_n >= np.log10(300) - 1e-9
    big = big if big.sum() >= 2 else np.arange(len(big)) >= len(big) - 2
    f1 = int(np.argmin(np.abs(law.log10_far + 2.0)))
    slope = min(np.polyfit(law.log10_n[big], law.log_threshold[li, f1, big], 1)[0], 0.0)
    assert law.threshold_for(0.01, 20000) == pytest.approx(law.threshold_for(0.01, 200) * np.exp(2 * slope), rel=1e-9)
    assert law.threshold_for(0.01, 20000) <= law.threshold_for(0.01, 200)
    # rates outside the table (0.1% to 30%) continue its line instead of stopping at its ends
    t4, t3 = law.threshold_for(1e-4, 50), law.threshold_for(1e-3, 50)
    assert t4 < t3 and law.stranger_rate(t4, 50) == pytest.approx(1e-4, rel=1e-6)
    assert law.threshold_for(0.5, 50) > law.threshold_for(0.3, 50)
    again = ScoreLaw.from_dict(json.loads(json.dumps(law.to_dict())))
    assert again.threshold_for(0.01, 77) == pytest.approx(law.threshold_for(0.01, 77), rel=1e-5)
    # scores: the nearest person's is d1 / d2 ** lam, everyone else's is theirs over d1 ** lam
    s = open_set_scores(np.array([[0.5, 0.4, 1.0], [0.3, 0.9, 0.6]]), 0.5)
    assert s[0].tolist() == pytest.approx([0.5 / 0.4**0.5, 0.4 / 0.5**0.5, 1.0 / 0.4**0.5])
    assert s[1].min() == s[1, 0] == pytest.approx(0.3 / 0.6**0.5)
    assert open_set_scores(np.array([[0.7]]), 1.0).tolist() == [[0.7]]  # one person: the distance
    # an approximate search that found one person only: the second is taken as near as the first, never as infinitely far
    assert open_set_scores(np.array([[0.4, np.inf, np.inf]]), 0.75)[0, 0] == pytest.approx(0.4 / 0.4**0.75)
    assert open_set_scores(np.array([[np.inf, np.inf]]), 0.75).tolist() == [[np.inf, np.inf]]  # nobody found: no name
    assert open_set_scores(np.array([[0.0, 0.0, 0.9]]), 1.0)[0, 0] == 1.0  # one photo under two names: not distinctive


def test_score_law_holds_on_people_it_never_saw() -> None:
    found, x, labels = _law_and_split()
    dist = fit_impostor_distribution(np.linspace(0.2, 3.0, 1000), "toy", "toy")
    from dataclasses import replace

    dist = replace(dist, score_law=found.law)
    data = LabelledEmbeddings("toy", "euclidean", x, labels, [""] * len(labels), [None] * len(labels))
    split = split_identification(labels, 1, 0.3, seed=0)
    sweep = sweep_gallery_sizes(data, split, dist, 0.1, (10, 50, None), slope=10.0)
    for p in sweep:
        assert p.expected_stranger_rate == pytest.approx(0.1, rel=1e-3)
        assert 0.05 <= p.measured_stranger_rate <= 0.2, p  # the rate asked for, on other people
        assert 0.0 <= p.confidence_ece <= 0.15, p
    point = open_set_threshold([1] * 50, 0.1, dist)
    assert point.score_law is found.law and point.score_lambda == found.law.weight(50)
    assert open_set_threshold([4], 0.1, dist).score_lambda == 0.0  # one person: no second to divide by
    assert open_set_threshold([1] * 50, 0.1, dist, fixed=0.5).score_lambda == 0.0  # a given threshold is a distance


def test_identifier_decides_on_the_score() -> None:
    from faceprint.gallery.store import GalleryEmbeddings
    from faceprint.recognize.identifier import Identifier
    from faceprint.recognize.open_set import OpenSetThreshold
    from faceprint.types import Embeddings

    # two enrolled people; the query is 0.3 from A and 0.4 from B: close to both, so the ratio 0.75 is not distinctive
    g = GalleryEmbeddings("toy", np.array([[0.0, 0.0], [0.7, 0.0]], np.float32), np.array([1, 2]), np.array([1, 2]), {1: "A", 2: "B"})
    q = Embeddings(np.array([[0.3, 0.0], [-0.1, 0.0]], np.float32), "toy")
    ratio = OpenSetThreshold(0.6, "test", 2, 2.0, score_lambda=1.0)
    m = Identifier(g, "euclidean", 0.6, 10.0, operating_point=ratio).identify(q)
    assert m[0].person is None and m[0].closest == "A" and m[0].score == pytest.approx(0.75)
    assert m[1].person == "A" and m[1].score == pytest.approx(0.1 / 0.8)  # 0.1 from A, 0.8 from B
    plain = Identifier(g, "euclidean", 0.6, 10.0).identify(q)  # on the distance: both within 0.6 of A
    assert [x.person for x in plain] == ["A", "A"] and plain[0].score is None


def test_indexed_search_finds_the_second_person() -> None:
    """A person with more photos than the index's first 100 candidates must not hide the second person's distance."""
    from faceprint.gallery.index import ExactIndex
    from faceprint.gallery.store import GalleryEmbeddings
    from faceprint.recognize.identifier import Identifier
    from faceprint.recognize.open_set import OpenSetThreshold
    from faceprint.types import Embeddings

    rng = np.random.default_rng(0)
    many = 0.05 * rng.normal(size=(150, 2)).astype(np.float32)  # person A: 150 photos around the origin
    vecs = np.vstack([many, [[1.0, 0.0]]]).astype(np.float32)  # person B: one photo at (1, 0)
    people = np.array([1] * 150 + [2])
    g = GalleryEmbeddings("toy", vecs, np.arange(151), people, {1: "A", 2: "B"})
    q = Embeddings(np.array([[0.3, 0.0]], np.float32), "toy")
    point = OpenSetThreshold(0.5, "test", 151, 151.0, score_lambda=0.75)
    exact = Identifier(g, "euclidean", 0.5, 10.0, operating_point=point).identify(q)[0]
    indexed = Identifier(g, "euclidean", 0.5, 10.0, index=ExactIndex(vecs), operating_point=point).identify(q)[0]
    assert indexed.score == pytest.approx(exact.score, rel=1e-5) and indexed.person == exact.person == "A"
    assert [c.person for c in indexed.candidates] == ["A", "B"]
