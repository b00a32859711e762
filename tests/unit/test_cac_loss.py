"""CAC's distance layer, loss, score and anchor recomputation against hand computations (paper 004)."""

import math

import numpy as np
import pytest
import torch

from ood_helpers.cac.loss import anchor_term, anchors, cac_loss, distances, tuplet_term, tuplet_term_naive
from ood_helpers.cac.scoring import cac_scores, recompute_anchors, rejection_scores, softmin


def test_anchors_are_alpha_times_identity():
    a = anchors(3, 10)
    assert a.dtype == torch.float64 and torch.equal(a, torch.tensor([[10.0, 0, 0], [0, 10, 0], [0, 0, 10]], dtype=torch.float64))
    with pytest.raises(ValueError, match="at least 2"):
        anchors(1)


def test_distances_are_plain_euclidean_not_squared():
    z = torch.tensor([[3.0, 0.0, 4.0]])
    d = distances(z, anchors(3, 10))
    # ||(3,0,4) - (10,0,0)|| = sqrt(49 + 16), ||(3,-10,4)|| = sqrt(125), ||(3,0,-6)|| = sqrt(45)
    assert d.dtype == torch.float64
    assert d[0].tolist() == pytest.approx([math.sqrt(65), math.sqrt(125), math.sqrt(45)], abs=1e-12)


def test_loss_by_hand_on_three_classes():
    d = torch.tensor([[1.0, 4.0, 5.0], [1.0, 4.0, 5.0], [2.0, 0.5, 3.0]], dtype=torch.float64)
    y = torch.tensor([0, 1, 2])
    # the tuplet sum runs over the N - 1 = 2 classes j != y, never over y itself
    per_sample = [math.log(1 + math.exp(1 - 4) + math.exp(1 - 5)),
                  math.log(1 + math.exp(4 - 1) + math.exp(4 - 5)),
                  math.log(1 + math.exp(3 - 2) + math.exp(3 - 0.5))]
    anchor = (1 + 4 + 3) / 3
    assert float(tuplet_term(d, y)) == pytest.approx(np.mean(per_sample), abs=1e-12)
    assert float(tuplet_term_naive(d, y)) == pytest.approx(np.mean(per_sample), abs=1e-12)
    assert float(anchor_term(d, y)) == pytest.approx(anchor, abs=1e-12)
    assert float(cac_loss(d, y)) == pytest.approx(np.mean(per_sample) + 0.1 * anchor, abs=1e-12)
    assert float(cac_loss(d, y, lbda=0.5)) == pytest.approx(np.mean(per_sample) + 0.5 * anchor, abs=1e-12)
    assert float(cac_loss(d, y, terms="anchor")) == pytest.approx(anchor, abs=1e-12)  # weight 1 alone [A]
    assert float(cac_loss(d, y, terms="tuplet")) == pytest.approx(np.mean(per_sample), abs=1e-12)
    # had the true class entered the sum, each sample would carry an extra exp(0) = 1
    wrong = np.mean([math.log(math.exp(v) + 1) for v in per_sample])
    assert float(tuplet_term(d, y)) != pytest.approx(wrong, abs=1e-3)


def test_cross_entropy_identity_matches_the_literal_formula_and_is_stable():
    g = torch.Generator().manual_seed(0)
    d = torch.rand(64, 7, generator=g, dtype=torch.float64) * 30
    y = torch.randint(0, 7, (64,), generator=g)
    assert float(tuplet_term(d, y)) == pytest.approx(float(tuplet_term_naive(d, y)), rel=1e-12)
    far = torch.tensor([[900.0, 0.0, 1.0]], dtype=torch.float64)  # exp(899) overflows the literal form
    assert float(tuplet_term(far, torch.tensor([0]))) == pytest.approx(900 + math.log(1 + math.exp(-1)), rel=1e-12)


def test_loss_refuses_bad_targets():
    d = torch.ones(2, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="known-class ids"):
        cac_loss(d, torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="terms"):
        cac_loss(d, torch.tensor([0, 1]), terms="both")


def test_gradient_of_anchor_term_has_unit_norm():
    z = torch.tensor([[3.0, 0.0, 4.0]], requires_grad=True)
    anchor_term(distances(z, anchors(3, 10)), torch.tensor([2])).backward()
    assert float(z.grad.norm()) == pytest.approx(1.0, abs=1e-6)


def test_score_matches_the_papers_example():
    d = torch.tensor([[1.0, 4.0, 5.0], [101.0, 104.0, 105.0]], dtype=torch.float64)
    c = softmin(d)
    assert c[0].tolist() == pytest.approx([0.936, 0.047, 0.017], abs=5e-4)
    assert torch.allclose(c[0], c[1])
    s = rejection_scores(d)
    assert s[0].tolist() == pytest.approx([0.064, 3.81, 4.91], abs=5e-3)
    assert s[1].tolist() == pytest.approx([6.44, 99.2, 103.2], abs=5e-2)
    # s_min = d_min * (1 - c_max), by hand
    e = np.exp(-np.array([1.0, 4.0, 5.0]))
    assert float(s[0].min()) == pytest.approx(1.0 * (1 - e[0] / e.sum()), abs=1e-12)


def test_score_prediction_is_the_nearest_anchor_and_larger_means_farther():
    g = torch.Generator().manual_seed(1)
    centres = torch.randn(5, 5, generator=g, dtype=torch.float64) * 10
    z = torch.randn(2000, 5, generator=g, dtype=torch.float64) * 10
    s_min, pred = cac_scores(z, centres)
    assert np.array_equal(pred, distances(z, centres).argmin(1).numpy())
    s_near, _ = cac_scores(centres[:1] + 0.01, centres)
    s_far, _ = cac_scores(centres[:1] * 0 + 1000, centres)
    assert s_far[0] > s_near[0]


def test_anchor_recomputation_uses_only_correctly_classified_images():
    logits = torch.tensor([[5.0, 1.0], [3.0, 0.0], [4.0, 6.0],   # class 0: the third is misclassified
                           [0.0, 2.0], [1.0, 4.0], [7.0, 1.0]])  # class 1: the last is misclassified
    labels = torch.tensor([0, 0, 0, 1, 1, 1])
    c = recompute_anchors(logits, labels)
    assert c.tolist() == [[4.0, 0.5], [0.5, 3.0]]
    with pytest.raises(ValueError, match="class 1"):
        recompute_anchors(torch.tensor([[2.0, 1.0], [3.0, 0.0]]), torch.tensor([0, 1]))


def test_peer_loss_behaves_as_its_docstring_says():
    # pytorch-ood 0.4's CACLoss on the same distances: the true class enters its sum and class N-1 never does
    from ood_helpers.cac.peer import peer_loss

    crit = peer_loss(3, 10, 0.1)
    d = torch.tensor([[1.0, 4.0, 5.0]])
    assert float(crit(d, torch.tensor([0]))) == pytest.approx(0.1 * 1 + math.log(1 + 1 + math.exp(-3)), abs=1e-5)
    assert float(crit(d, torch.tensor([1]))) == pytest.approx(0.1 * 4 + math.log(1 + math.exp(3) + 1), abs=1e-4)
    z = torch.tensor([[3.0, 0.0, 4.0]])
    assert crit.distance(z)[0].tolist() == pytest.approx([65.0, 125.0, 45.0], abs=1e-3)  # squared
    s = rejection_scores(crit.distance(z).double())
    assert float(crit.score(crit.distance(z))[0]) == pytest.approx(-float(s.max()), rel=1e-5)  # -max, not min


def test_anchor_recomputation_fallback_keeps_the_original_anchor_with_a_warning():
    with pytest.warns(UserWarning, match="class 1 keeps its original anchor"):
        c = recompute_anchors(torch.tensor([[2.0, 1.0], [3.0, 0.0]]), torch.tensor([0, 1]), fallback=anchors(2, 10))
    assert c.tolist() == [[2.0, 1.0], [0.0, 10.0]]
