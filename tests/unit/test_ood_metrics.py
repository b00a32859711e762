"""The project's OOD metrics against hand computations, brute-force counts and scikit-learn."""

import itertools

import numpy as np
import pytest
from sklearn.metrics import auc, precision_recall_curve

from ood_helpers.core.metrics import ood as om


def brute_auroc(s_in, s_out):
    pairs = [(1.0 if o > i else 0.5 if o == i else 0.0) for i, o in itertools.product(s_in, s_out)]
    return sum(pairs) / len(pairs)


def brute_average_precision(pos, neg):
    """Average precision by hand: the mean, over positives, of the precision at that positive's score
    (everything scoring >= it counts as flagged, ties together)."""
    scores = np.r_[pos, neg]
    return np.mean([np.sum(pos >= t) / np.sum(scores >= t) for t in pos])


def test_auroc_counts_pairs_with_ties_as_half():
    s_in, s_out = [0.1, 0.4, 0.4, 0.9], [0.4, 0.8, 1.0]
    # pairs (in, out): 0.1 < all three (3); 0.4 vs 0.4 ties (0.5 each, two ID) + 0.4 < 0.8, 1.0 (2 each); 0.9 < 1.0
    assert om.auroc(s_in, s_out) == pytest.approx((3 + 2 * (0.5 + 2) + 1) / 12)
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 5, 40).astype(float), rng.integers(2, 7, 30).astype(float)
    assert om.auroc(a, b) == pytest.approx(brute_auroc(a, b))


def test_aupr_positive_class_matters():
    s_in, s_out = np.array([0.0, 0.1, 0.2, 0.9]), np.array([0.3, 0.8])
    # AUPR-Out ranks score, OOD positive: OOD at ranks 2 (0.8 after 0.9: precision 1/2) and 3 (0.3: 2/3)
    assert om.aupr_out(s_in, s_out) == pytest.approx((1 / 2 + 2 / 3) / 2)
    # AUPR-In ranks -score, ID positive: ID 0.0, 0.1, 0.2 first (precision 1), 0.9 last (4/6)
    assert om.aupr_in(s_in, s_out) == pytest.approx((1 + 1 + 1 + 4 / 6) / 4)
    assert om.aupr_in(s_in, s_out) != pytest.approx(om.aupr_out(s_in, s_out))


def test_aupr_matches_hand_average_precision_with_ties():
    rng = np.random.default_rng(1)
    s_in, s_out = rng.integers(0, 6, 50).astype(float), rng.integers(3, 9, 20).astype(float)
    assert om.aupr_out(s_in, s_out) == pytest.approx(brute_average_precision(s_out, s_in))
    assert om.aupr_in(s_in, s_out) == pytest.approx(brute_average_precision(-s_in, -s_out))
    # step-wise average precision, not the trapezoidal area (they differ here)
    precision, recall, _ = precision_recall_curve(np.r_[np.zeros(50), np.ones(20)], np.r_[s_in, s_out])
    assert om.aupr_out(s_in, s_out) != pytest.approx(auc(recall, precision), abs=1e-4)


def test_fpr95_hand_example():
    s_out = np.arange(1, 21, dtype=float)  # 20 OOD scores 1..20: 95 % = 19 flagged -> threshold 2
    s_in = np.array([0.0, 1.5, 2.0, 2.5, 5.0])  # flagged at score >= 2: 2.0, 2.5, 5.0
    assert om.fpr_at_tpr(s_in, s_out) == pytest.approx(3 / 5)
    # ID positive: accept score <= t; 95 % of 5 ID -> all 5, t = 5.0; OOD accepted: 1..5 -> 5 of 20
    assert om.fpr_at_tpr(s_in, s_out, positive="id") == pytest.approx(5 / 20)


def test_fpr95_brute_force_over_thresholds():
    rng = np.random.default_rng(2)
    for _ in range(20):
        s_in, s_out = rng.integers(0, 8, 30).astype(float), rng.integers(3, 12, 25).astype(float)
        best = None
        for t in sorted(set(np.r_[s_in, s_out]), reverse=True):  # highest threshold first
            if np.mean(s_out >= t) >= 0.95:
                best = np.mean(s_in >= t)
                break
        assert om.fpr_at_tpr(s_in, s_out) == pytest.approx(best)


def test_perfect_and_reversed_detectors():
    good = om.ood_metrics([0, 1, 2], [5, 6])
    assert good == {"auroc": 1.0, "aupr_in": 1.0, "aupr_out": 1.0, "fpr95": 0.0}
    bad = om.ood_metrics([5, 6], [0, 1, 2])
    assert bad["auroc"] == 0.0 and bad["fpr95"] == 1.0


def test_threshold_and_msp():
    s = np.arange(100, dtype=float)
    t = om.accept_threshold(s, 0.95)
    assert np.mean(s <= t) >= 0.95 and np.mean(s <= t - 1) < 0.95
    p = np.array([[0.7, 0.2, 0.1], [0.34, 0.33, 0.33]])
    assert om.msp_score(p).tolist() == [-0.7, -0.34]


@pytest.mark.parametrize("bad", [[], [[1.0, 2.0]], [1.0, np.nan]])
def test_bad_scores_are_refused_by_name(bad):
    with pytest.raises(ValueError, match="scores_in"):
        om.auroc(bad, [1.0])


def test_ood_metrics_in_one_pass_equal_the_four_functions_with_ties():
    rng = np.random.default_rng(5)
    cases = [(rng.integers(0, 9, 40).astype(float), rng.integers(3, 12, 25).astype(float)) for _ in range(20)]
    cases += [(rng.normal(size=300), rng.normal(size=100) + 1), ([1.0, 1.0], [1.0]), ([0.0, 2.0], [1.0, 3.0, 3.0])]
    for s_in, s_out in cases:
        got = om.ood_metrics(s_in, s_out)
        assert got["auroc"] == pytest.approx(brute_auroc(s_in, s_out), abs=1e-12)
        assert got["aupr_in"] == pytest.approx(om.aupr_in(s_in, s_out), abs=1e-12)
        assert got["aupr_out"] == pytest.approx(om.aupr_out(s_in, s_out), abs=1e-12)
        assert got["fpr95"] == om.fpr_at_tpr(s_in, s_out)
