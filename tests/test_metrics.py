import numpy as np
import pytest

from faceprint.evaluate import accuracy_at, best_threshold, evaluate_pairs, protocol_folds, read_pairs, roc_auc
from faceprint.errors import PairsFormatError


def test_best_threshold_hand_case() -> None:
    d = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    s = np.array([True, True, False, True, False, False])
    thr, acc = best_threshold(d, s)
    # cut after 0.2 -> 5/6 correct; after 0.4 -> 5/6; the first is returned, midway between 0.2 and 0.3
    assert acc == pytest.approx(5 / 6)
    assert thr == pytest.approx(0.25)
    assert accuracy_at(d, s, thr) == pytest.approx(5 / 6)


def test_best_threshold_perfect_and_ties() -> None:
    thr, acc = best_threshold(np.array([0.1, 0.1, 0.9, 0.9]), np.array([True, True, False, False]))
    assert acc == 1.0 and 0.1 < thr < 0.9
    # ties cannot be split: all four at one distance -> best is 50%
    thr, acc = best_threshold(np.full(4, 0.5), np.array([True, False, True, False]))
    assert acc == 0.5


def test_auc_hand_cases() -> None:
    assert roc_auc([0.1, 0.2, 0.8, 0.9], [True, True, False, False]) == 1.0
    assert roc_auc([0.8, 0.9, 0.1, 0.2], [True, True, False, False]) == 0.0
    # one same pair ties with one different pair -> counts half
    assert roc_auc([0.1, 0.5, 0.5, 0.9], [True, True, False, False]) == pytest.approx(0.875)
    assert np.isnan(roc_auc([0.1], [True]))


def test_ten_fold_uses_other_folds_threshold() -> None:
    rng = np.random.default_rng(1)
    same = np.tile(np.r_[np.ones(30, bool), np.zeros(30, bool)], 10)
    d = np.where(same, rng.normal(0.4, 0.1, same.size), rng.normal(0.8, 0.1, same.size))
    folds = np.repeat(np.arange(10), 60)
    r = evaluate_pairs(d, same, folds)
    assert len(r.fold_accuracies) == 10
    for k in range(10):
        thr, _ = best_threshold(d[folds != k], same[folds != k])
        assert r.fold_thresholds[k] == pytest.approx(thr)
        assert r.fold_accuracies[k] == pytest.approx(accuracy_at(d[folds == k], same[folds == k], thr))
    assert 0.9 < r.accuracy_mean <= 1.0 and r.auc > 0.95
    assert r.accuracy_sem == pytest.approx(r.accuracy_std / np.sqrt(10))


def test_read_pairs_ten_fold(tmp_path) -> None:
    lines = ["2 1", "A 1 2", "A 1 B 1", "C 1 3", "C 2 D 4"]
    p = tmp_path / "pairs.txt"
    p.write_text("\n".join(lines) + "\n")
    pf = read_pairs(p)
    assert pf.n_folds == 2 and len(pf.pairs) == 4
    assert pf.pairs[0].left == "A/A_0001.jpg" and pf.pairs[0].right == "A/A_0002.jpg" and pf.pairs[0].same
    assert pf.pairs[3].right == "D/D_0004.jpg" and not pf.pairs[3].same and pf.pairs[3].fold == 1
    assert list(protocol_folds(pf, n_folds=2)) == [0, 0, 1, 1]


def test_read_pairs_single_count_real_file(shared_dir) -> None:
    pf = read_pairs(shared_dir / "data/lfw-view1/pairsDevTest.txt")
    assert pf.n_folds == 1 and len(pf.pairs) == 1000
    folds = protocol_folds(pf)
    same = np.array([p.same for p in pf.pairs])
    for k in range(10):  # 50 matched and 50 mismatched in every fold
        assert (same[folds == k]).sum() == 50 and (~same[folds == k]).sum() == 50
    images = pf.images()
    assert len(images) == len(set(images))
    assert all((shared_dir / "data/lfw-view1/images" / im).is_file() for im in images)


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty"),
        ("ten\nA 1 2\n", "line 1"),
        ("1\nA 1 2\n", "promises 2"),
        ("1\nA 1 B 2\nA 1 2\n", "matched pair"),
        ("1\nA 1 2 3 4\nA 1 B 2\n", "expected 'name i j'"),
        ("1\nA x 2\nA 1 B 2\n", "expected 'name i j'"),
    ],
)
def test_read_pairs_errors(tmp_path, text, message) -> None:
    p = tmp_path / "bad.txt"
    p.write_text(text)
    with pytest.raises(PairsFormatError, match=message):
        read_pairs(p)
