"""The class-homogeneity set sampler (paper 000 section 3.3, appendix A.1)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from ood_helpers.homogeneity.sampling import HomogeneitySampler, check_set_size

LABELS = np.repeat(np.arange(10) * 3, 30)  # class ids 0, 3, ..., 27, 30 images each
np.random.default_rng(0).shuffle(LABELS)


@pytest.mark.parametrize("variant", [1, 2])
def test_target_is_one_exactly_when_all_labels_agree(variant):
    batch = HomogeneitySampler(LABELS, k=25, variant=variant).sample(1000, np.random.default_rng(1))
    labels, positions = batch.labels.numpy(), batch.positions.numpy()
    lengths, targets = batch.lengths.numpy(), batch.targets.numpy()
    for b in range(len(labels)):
        n = lengths[b]
        row = labels[b, :n]
        # labels come from the dataset, read back through the batch's own positions
        assert np.array_equal(row, LABELS[positions[b, :n]])
        assert targets[b] == float(len(np.unique(row)) == 1)
        assert np.all(row[:-1] == row[0])  # the k_n - 1 support images share a class
        assert len(np.unique(positions[b, :n])) == n  # no image twice in a set
    assert 0 < targets.mean() < 1


@pytest.mark.parametrize("variant", [1, 2])
def test_same_or_different_query_with_probability_one_half(variant):
    batch = HomogeneitySampler(LABELS, k=25, variant=variant).sample(4000, np.random.default_rng(2))
    same = int(batch.targets.sum())
    assert stats.binomtest(same, 4000, 0.5).pvalue > 1e-3


def test_variant_2_set_sizes_are_uniform_and_masks_match():
    batch = HomogeneitySampler(LABELS, k=25, variant=2).sample(4800, np.random.default_rng(3))
    lengths = batch.lengths.numpy()
    assert lengths.min() >= 2 and lengths.max() <= 25
    counts = np.bincount(lengths, minlength=26)[2:]
    assert stats.chisquare(counts).pvalue > 1e-3  # 24 equally likely sizes
    mask = batch.mask.numpy()
    assert np.array_equal(mask.sum(1), lengths)
    assert np.array_equal(mask, np.arange(25)[None, :] < lengths[:, None])
    assert np.all((batch.labels.numpy() == -1) == ~mask)
    assert np.all((batch.positions.numpy() == -1) == ~mask)
    assert np.all(batch.index.numpy()[~mask] == 0)


def test_variant_1_sets_all_have_k_images():
    batch = HomogeneitySampler(LABELS, k=25, variant=1).sample(50, np.random.default_rng(0))
    assert batch.lengths.tolist() == [25] * 50 and batch.mask.all()


def test_classes_are_uniform_and_other_class_query_is_uniform():
    batch = HomogeneitySampler(LABELS, k=5, variant=1).sample(6000, np.random.default_rng(4))
    support = batch.labels[:, 0].numpy()
    assert stats.chisquare(np.unique(support, return_counts=True)[1]).pvalue > 1e-3
    diff = ~batch.same_query.numpy()
    shift = (batch.labels[diff, -1].numpy() - support[diff]) % 30 // 3  # 1..9 steps to the other class
    assert shift.min() >= 1
    assert stats.chisquare(np.bincount(shift, minlength=10)[1:]).pvalue > 1e-3


def test_restricted_classes_and_determinism():
    sampler = HomogeneitySampler(LABELS, k=4, variant=2, classes=[3, 9, 27])
    a = sampler.sample(300, np.random.default_rng(5))
    b = sampler.sample(300, np.random.default_rng(5))
    assert set(a.labels[a.mask].tolist()) == {3, 9, 27}
    for name in ("unique", "index", "lengths", "targets", "labels"):
        assert torch.equal(getattr(a, name), getattr(b, name))


def test_gather_matches_a_loop():
    batch = HomogeneitySampler(LABELS, k=6, variant=2).sample(20, np.random.default_rng(6))
    table = torch.randn(len(LABELS), 3)
    sets = batch.gather(table)
    for b in range(20):
        for i in range(6):
            pos = int(batch.positions[b, i])
            expected = table[pos] if pos >= 0 else torch.zeros(3)
            assert torch.equal(sets[b, i], expected)
    # each distinct image appears once in ``unique``
    assert len(torch.unique(batch.unique)) == len(batch.unique)


@pytest.mark.parametrize("k", [1, 26, 2.5, True])
def test_k_outside_range_is_refused(k):
    with pytest.raises(ValueError, match=r"k \(images per set\) must be an int in 2\.\.25, got"):
        HomogeneitySampler(LABELS, k=k)


def test_profile_range_and_variant_checks():
    with pytest.raises(ValueError, match=r"must be an int in 2\.\.10, got 12"):
        HomogeneitySampler(LABELS, k=12, max_k=10)
    with pytest.raises(ValueError, match="variant must be 1"):
        HomogeneitySampler(LABELS, k=5, variant=3)
    assert check_set_size(25) == 25


def test_class_with_too_few_images_is_named():
    labels = np.concatenate([np.zeros(30), np.ones(30), np.full(7, 2)]).astype(int)
    with pytest.raises(ValueError, match=r"at least 25 images.*class 2: 7"):
        HomogeneitySampler(labels, k=25)
    with pytest.raises(ValueError, match="at least 2 classes"):
        HomogeneitySampler(np.zeros(30, dtype=int), k=5)
