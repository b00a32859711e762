"""SCAN loss and self-labelling (paper 003 / SCAN) against hand computations, including the entropy sign."""

import math

import pytest
import torch
import torch.nn.functional as F

from ood_helpers.pseudo_label.losses import balance_weights, entropy, scan_loss, selflabel_loss


def _softmax(row):
    e = [math.exp(v) for v in row]
    return [v / sum(e) for v in e]


def test_scan_loss_matches_hand_computation():
    a = [[2.0, 0.0, -1.0], [0.5, 0.5, 1.0]]
    b = [[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]]
    pa, pb = [_softmax(r) for r in a], [_softmax(r) for r in b]
    consistency = -sum(math.log(sum(x * y for x, y in zip(ra, rb))) for ra, rb in zip(pa, pb)) / 2
    mean = [(pa[0][c] + pa[1][c]) / 2 for c in range(3)]
    h = -sum(m * math.log(m) for m in mean)
    total, cons, ent = scan_loss(torch.tensor(a), torch.tensor(b), entropy_weight=5.0)
    assert cons.item() == pytest.approx(consistency, rel=1e-6)
    assert ent.item() == pytest.approx(h, rel=1e-6)
    # the entropy of the mean assignment is SUBTRACTED (the paper's printed formula has the sign slip)
    assert total.item() == pytest.approx(consistency - 5.0 * h, rel=1e-6)


def test_scan_loss_prefers_balanced_confident_agreement():
    # balanced, confident and agreeing pairs must score lower than all images collapsed into one cluster
    balanced = torch.tensor([[10.0, -10.0], [-10.0, 10.0]])
    collapsed = torch.tensor([[10.0, -10.0], [10.0, -10.0]])
    assert scan_loss(balanced, balanced)[0] < scan_loss(collapsed, collapsed)[0]
    # gradient descent on the total raises the entropy of the mean prediction
    logits = torch.tensor([[3.0, 0.0], [2.0, 0.0], [2.5, 0.1]], requires_grad=True)
    h0 = entropy(F.softmax(logits, 1).mean(0)).item()
    opt = torch.optim.SGD([logits], lr=0.5)
    for _ in range(20):
        opt.zero_grad()
        scan_loss(logits, logits.detach() * 0, entropy_weight=5.0)[0].backward()
        opt.step()
    assert entropy(F.softmax(logits, 1).mean(0)).item() > h0


def test_scan_loss_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match=r"\[B, K\]"):
        scan_loss(torch.zeros(2, 3), torch.zeros(2, 4))


def test_selflabel_mask_and_class_balancing_by_hand():
    weak = torch.tensor([[9.0, 0.0, 0.0], [8.0, 0.0, 0.0], [0.0, 9.0, 0.0], [1.0, 1.0, 1.0]])
    strong = torch.tensor([[1.0, 2.0, 0.0], [0.0, 0.0, 1.0], [0.5, 0.0, 0.0], [3.0, 0.0, 0.0]])
    conf = F.softmax(weak, 1).max(1).values
    assert conf[:3].min() > 0.99 and conf[3] < 0.99  # rows 0-2 confident, row 3 masked out
    loss, n = selflabel_loss(weak, strong, threshold=0.99, balance=True)
    assert n == 3
    # targets 0, 0, 1 among 3 confident: weights n / count = 1.5 for class 0, 3 for class 1
    ce = [-math.log(_softmax(strong[i].tolist())[t]) for i, t in ((0, 0), (1, 0), (2, 1))]
    w = [1.5, 1.5, 3.0]
    assert loss.item() == pytest.approx(sum(wi * c for wi, c in zip(w, ce)) / sum(w), rel=1e-6)
    unbalanced, _ = selflabel_loss(weak, strong, threshold=0.99, balance=False)
    assert unbalanced.item() == pytest.approx(sum(ce) / 3, rel=1e-6)


def test_selflabel_without_confident_sample_is_zero_and_keeps_graph():
    strong = torch.randn(4, 3, requires_grad=True)
    loss, n = selflabel_loss(torch.zeros(4, 3), strong, threshold=0.99)
    assert n == 0 and loss.item() == 0.0
    loss.backward()  # a zero loss that still reaches the parameters: fit can step on it
    assert torch.equal(strong.grad, torch.zeros(4, 3))


def test_balance_weights():
    w = balance_weights(torch.tensor([2, 2, 2, 0]), 4)
    assert w.tolist() == pytest.approx([4.0, 1.0, 4 / 3, 1.0])
