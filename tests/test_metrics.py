import numpy as np
import pytest

from faceprint.errors import PairsFormatError
from faceprint.evaluate import accuracy_at, best_threshold, evaluate_pairs, protocol_folds, read_pairs, roc_auc
from faceprint.evaluate.lfw import tar_at_far_folds, verification_metrics
from faceprint.evaluate.metrics import accuracy_f1_curve, eer, f1_at, far_tar_at, roc_curve, tar_at_far, threshold_at_far


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


# --- ROC, EER, TAR at FAR (hand-computed cases) ------------------------------------------------------------------

def test_roc_curve_known_points() -> None:
    far, tar, thr = roc_curve([0.1, 0.2, 0.3, 0.4], [True, False, True, False])
    assert far.tolist() == [0.0, 0.0, 0.5, 0.5, 1.0]
    assert tar.tolist() == [0.0, 0.5, 0.5, 1.0, 1.0]
    assert thr[0] == -np.inf and thr[1:].tolist() == [0.1, 0.2, 0.3, 0.4]
    # a tie between a same and a different pair is one ROC point: the curve moves diagonally
    far, tar, _ = roc_curve([0.1, 0.2, 0.2, 0.3], [True, True, False, False])
    assert far.tolist() == [0.0, 0.0, 0.5, 1.0] and tar.tolist() == [0.0, 0.5, 1.0, 1.0]
    with pytest.raises(ValueError):
        roc_curve([0.1, 0.2], [True, True])


def test_roc_area_matches_auc() -> None:
    rng = np.random.default_rng(3)
    same = rng.random(300) < 0.5
    d = np.round(np.where(same, rng.normal(0.5, 0.15, 300), rng.normal(0.8, 0.15, 300)), 2)  # rounding makes ties
    far, tar, _ = roc_curve(d, same)
    assert np.trapezoid(tar, far) == pytest.approx(roc_auc(d, same), abs=1e-12)


def test_eer_exact_crossing() -> None:
    # same 0.1 0.2 0.3 0.4, different 0.35 0.5 0.6 0.7: at 0.35 one of four different pairs is accepted (FAR 1/4)
    # and one of four same pairs (0.4) is rejected (FRR 1/4)
    d = [0.1, 0.2, 0.3, 0.4, 0.35, 0.5, 0.6, 0.7]
    s = [True] * 4 + [False] * 4
    rate, thr = eer(d, s)
    assert rate == pytest.approx(0.25) and thr == pytest.approx(0.35)


def test_eer_interpolated() -> None:
    # ROC points (0,0) (0,.5) (1,.5) (1,1): FRR - FAR goes .5 -> -.5 between thresholds 0.1 and 0.2
    rate, thr = eer([0.1, 0.2, 0.3], [True, False, True])
    assert rate == pytest.approx(0.5) and thr == pytest.approx(0.15)
    assert eer([0.1, 0.2, 0.8, 0.9], [True, True, False, False])[0] == 0.0


def test_threshold_at_far_hand_cases() -> None:
    neg = [0.5, 0.6, 0.7, 0.8]
    t = threshold_at_far(neg, 0.25)
    assert 0.5 <= t < 0.6 and far_tar_at(neg, [False] * 4, t)[0] == 0.25
    assert threshold_at_far(neg, 0.2) < 0.5  # 0.2 * 4 < 1: no false accept allowed
    assert 0.6 <= threshold_at_far(neg, 0.5) < 0.7
    assert threshold_at_far(neg, 1.0) == np.inf
    # ties: two negatives at 0.5, a FAR of 1/4 cannot accept just one of them
    assert threshold_at_far([0.5, 0.5, 0.7, 0.8], 0.25) < 0.5
    with pytest.raises(ValueError):
        threshold_at_far(neg, 1.5)


def test_tar_at_far_hand_case() -> None:
    d = [0.3, 0.55, 0.65, 0.5, 0.6, 0.7, 0.8]
    s = [True, True, True, False, False, False, False]
    tar, thr = tar_at_far(d, s, 0.25)  # threshold just below 0.6: accepts 0.3 and 0.55 of the same pairs
    assert tar == pytest.approx(2 / 3) and 0.5 <= thr < 0.6


def test_accuracy_f1_curve_matches_pointwise() -> None:
    rng = np.random.default_rng(5)
    same = rng.random(200) < 0.4
    d = np.where(same, rng.normal(0.5, 0.1, 200), rng.normal(0.8, 0.1, 200))
    t = np.linspace(0.2, 1.1, 37)
    acc, f1 = accuracy_f1_curve(d, same, t)
    assert acc == pytest.approx([accuracy_at(d, same, x) for x in t])
    assert f1 == pytest.approx([f1_at(d, same, x) for x in t])
    # by hand: at 0.25 one same pair accepted of two, nothing else: TP 1, FP 0, FN 1 -> F1 2/3, accuracy 3/4
    acc, f1 = accuracy_f1_curve([0.2, 0.3, 0.4, 0.5], [True, True, False, False], [0.25])
    assert acc[0] == 0.75 and f1[0] == pytest.approx(2 / 3)


def test_tar_at_far_folds_hand_case() -> None:
    # fold 0: same 0.2 0.4, different 0.5 0.9; fold 1: same 0.3 0.6, different 0.45 0.8
    d = np.array([0.2, 0.4, 0.5, 0.9, 0.3, 0.6, 0.45, 0.8])
    s = np.array([True, True, False, False, True, True, False, False])
    f = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    half = tar_at_far_folds(d, s, f, 0.5)
    # fold 0 is judged just below 0.8 (fold 1's second negative): TAR 1, FAR 1/2; fold 1 just below 0.9: TAR 1, FAR 1
    assert half.fold_tars == [1.0, 1.0] and half.fold_fars == [0.5, 1.0]
    assert half.tar_mean == 1.0 and half.far_mean == 0.75 and not half.below_resolution
    zero = tar_at_far_folds(d, s, f, 0.1)  # 0.1 * 2 training negatives < 1: no false accept on the training folds
    assert zero.below_resolution and zero.train_negatives == 2
    # fold 0 just below 0.45: TAR 1, FAR 0; fold 1 just below 0.5: TAR 1/2 (0.6 rejected), FAR 1/2 (0.45 accepted)
    assert zero.fold_tars == [1.0, 0.5] and zero.fold_fars == [0.0, 0.5] and zero.tar_mean == 0.75


def test_verification_metrics_cross_validated() -> None:
    rng = np.random.default_rng(7)
    same = np.tile(np.r_[np.ones(50, bool), np.zeros(50, bool)], 10)
    d = np.where(same, rng.normal(0.45, 0.1, same.size), rng.normal(0.8, 0.1, same.size))
    folds = np.repeat(np.arange(10), 100)
    m = verification_metrics(d, same, folds)
    assert set(m.tar_at_far) == {0.1, 0.01, 0.001}
    for far, t in m.tar_at_far.items():
        for k in range(10):  # brute force: each fold's threshold from the other nine folds' negatives only
            thr = threshold_at_far(d[(folds != k) & ~same], far)
            assert t.fold_thresholds[k] == thr
            assert t.fold_tars[k] == pytest.approx(np.mean(d[(folds == k) & same] <= thr))
    assert m.tar_at_far[0.001].below_resolution and not m.tar_at_far[0.01].below_resolution  # 450 training negatives
    assert m.tar_at_far[0.1].tar_mean >= m.tar_at_far[0.01].tar_mean >= m.tar_at_far[0.001].tar_mean
    assert m.auc == roc_auc(d, same) and 0 < m.eer < 0.2 and len(m.fold_eers) == 10
    js = m.to_dict()
    assert set(js["tar_at_far"]) == {"0.1", "0.01", "0.001"}
