"""Eq. 5 of paper 000: BCE on the first k_n - 1 outputs, averaged per set, padding masked."""

from __future__ import annotations

import math

import pytest
import torch

from ood_helpers.homogeneity.loss import homogeneity_bce


def sig(z):
    return 1.0 / (1.0 + math.exp(-z))


def test_matches_hand_computed_bce_with_padding():
    logits = torch.tensor([[0.3, -1.2, 2.0, 5.0],  # k_n = 4: positions 0..2 count, 3 is the query
                           [-0.7, 9.0, 0.0, 0.0]])  # k_n = 2: position 0 counts, 1 is the query, 2-3 padding
    targets = torch.tensor([1.0, 0.0])
    lengths = torch.tensor([4, 2])
    first = (-math.log(sig(0.3)) - math.log(sig(-1.2)) - math.log(sig(2.0))) / 3
    second = -math.log(1 - sig(-0.7))
    expected = (first + second) / 2
    assert homogeneity_bce(logits, targets, lengths).item() == pytest.approx(expected, rel=1e-6)
    # same value from torch's BCE on the probabilities, per set then averaged
    probs = torch.sigmoid(logits)
    bce = torch.nn.functional.binary_cross_entropy
    by_torch = (bce(probs[0, :3], torch.ones(3)) + bce(probs[1, :1], torch.zeros(1))) / 2
    assert homogeneity_bce(logits, targets, lengths).item() == pytest.approx(by_torch.item(), rel=1e-5)


def test_padding_and_query_outputs_get_no_gradient():
    logits = torch.randn(2, 5, requires_grad=True)
    loss = homogeneity_bce(logits, torch.tensor([0.0, 1.0]), torch.tensor([5, 3]))
    loss.backward()
    grad = logits.grad
    assert torch.all(grad[0, :4] != 0) and grad[0, 4] == 0
    assert torch.all(grad[1, :2] != 0) and torch.all(grad[1, 2:] == 0)


def test_every_set_weighs_the_same():
    # a long set and a short one, both with the same per-output loss, give that loss exactly
    logits = torch.zeros(2, 25)
    loss = homogeneity_bce(logits, torch.tensor([1.0, 0.0]), torch.tensor([25, 2]))
    assert loss.item() == pytest.approx(math.log(2), rel=1e-6)


def test_bad_lengths():
    with pytest.raises(ValueError, match=r"k_n must lie in 2\.\.3, got \[1, 3\]"):
        homogeneity_bce(torch.zeros(2, 3), torch.zeros(2), torch.tensor([1, 3]))
    with pytest.raises(ValueError, match=r"k_n must lie in 2\.\.3"):
        homogeneity_bce(torch.zeros(2, 3), torch.zeros(2), torch.tensor([2, 4]))
    with pytest.raises(ValueError, match="expected 2 targets"):
        homogeneity_bce(torch.zeros(2, 3), torch.zeros(3), torch.tensor([2, 3]))
