"""Class-range and open-set splits: disjoint, complete, the paper's shuffle rule, reproducible."""

import numpy as np
import pytest

from ood_helpers.core.data import ClassSplit, class_split, open_set_splits, paper_class_order, test_ranges
from ood_helpers.core.profile import get_profile


def test_paper_order_matches_numpy_global_rule_for_imagenet():
    state = np.random.get_state()
    try:
        np.random.seed(0)
        expected = np.random.rand(1000).argsort()
    finally:
        np.random.set_state(state)
    before = np.random.get_state()[1].copy()
    order = paper_class_order(1000)
    np.testing.assert_array_equal(order, expected)
    # the helper must not disturb NumPy's global generator
    np.testing.assert_array_equal(np.random.get_state()[1], before)


def test_imagenet_split_is_paper_ranges_disjoint_and_complete():
    split = class_split(1000, (800, 100, 100))
    np.random.seed(0)
    order = np.random.rand(1000).argsort()
    np.testing.assert_array_equal(split.seen, order[:800])
    np.testing.assert_array_equal(split.val, order[800:900])
    np.testing.assert_array_equal(split.test, order[900:])
    assert set(split.seen).isdisjoint(split.val) and set(split.val).isdisjoint(split.test)
    assert set(split.seen).isdisjoint(split.test)
    assert sorted(split.range("all").tolist()) == list(range(1000))
    np.testing.assert_array_equal(split.range("seen+val"), order[:900])


@pytest.mark.parametrize("name", ["smoke", "quick"])
def test_profile_split_counts(name):
    p = get_profile(name)
    split = class_split(p)
    assert (len(split.seen), len(split.val), len(split.test)) == p.class_split
    assert sorted(split.range("all").tolist()) == list(range(p.num_classes))
    groups = split.group_of()
    assert all(groups[int(c)] == "test" for c in split.test)


def test_test_ranges_are_prefixes_of_test_classes():
    split = class_split(get_profile("quick"))
    ranges = test_ranges(split, (2, 4, 10))
    assert [len(r) for r in ranges] == [2, 4, 10]
    for r in ranges:
        np.testing.assert_array_equal(r, split.test[: len(r)])
    with pytest.raises(ValueError, match=r"\[1, 10\]"):
        test_ranges(split, (11,))
    with pytest.raises(ValueError, match=r"\[1, 10\]"):
        test_ranges(split, (0,))


def test_overlapping_or_empty_splits_are_refused():
    with pytest.raises(ValueError, match="overlap.*\\[3\\]"):
        ClassSplit(np.array([0, 1, 3]), np.array([3]), np.array([4]), 5)
    with pytest.raises(ValueError, match="'val' is empty"):
        ClassSplit(np.array([0, 1]), np.array([], dtype=int), np.array([4]), 5)
    with pytest.raises(ValueError, match="positive"):
        class_split(10, (8, 0, 2))
    with pytest.raises(ValueError, match="only 10 exist"):
        class_split(10, (8, 2, 2))
    with pytest.raises(ValueError, match="unknown class range"):
        class_split(10, (8, 1, 1)).range("unseen")


def test_open_set_splits_reproducible_and_seed_dependent():
    a = open_set_splits(10, 6, trials=5, seed=3)
    b = open_set_splits(10, 6, trials=5, seed=3)
    c = open_set_splits(10, 6, trials=5, seed=4)
    assert len(a) == 5
    for (ka, ua), (kb, ub) in zip(a, b):
        np.testing.assert_array_equal(ka, kb)
        np.testing.assert_array_equal(ua, ub)
        assert len(ka) == 6 and len(ua) == 4
        assert sorted(np.concatenate([ka, ua]).tolist()) == list(range(10))
    assert any(not np.array_equal(ka, kc) for (ka, _), (kc, _) in zip(a, c))
    # trials differ from each other too
    assert len({tuple(k) for k, _ in a}) > 1
    with pytest.raises(ValueError, match="num_known"):
        open_set_splits(10, 10, trials=1)
    with pytest.raises(ValueError, match="trials"):
        open_set_splits(10, 3, trials=0)


def test_first_per_class_matches_a_loop():
    from ood_helpers.core.data.image_folder import first_per_class

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 7, size=200)
    for n in (0, 1, 3, 50):
        expected = np.zeros(200, dtype=bool)
        seen = {}
        for i, c in enumerate(labels):  # brute force: walk in order, count per class
            seen[c] = seen.get(c, 0) + 1
            expected[i] = seen[c] <= n
        np.testing.assert_array_equal(first_per_class(labels, n), expected)


def test_novel_digit_order_keeps_the_digit_out_of_the_seen_classes():
    from ood_helpers.core.data import novel_digit_order
    from ood_helpers.core.profile import get_profile

    order = novel_digit_order(100)
    assert sorted(order.tolist()) == list(range(100))
    split = class_split(get_profile("quick", class_order="novel-digit"))
    nine = {c for c in range(100) if 9 in (c // 10, c % 10)}  # 09, 19, ..., 89, 90..99: 19 numbers
    assert len(nine) == 19
    assert not nine & set(split.seen.tolist())
    assert set(split.test.tolist()) <= nine and len(nine & set(split.val.tolist())) == 9
    # within each part the paper's shuffle is kept
    paper = paper_class_order(100).tolist()
    assert split.seen.tolist() == [c for c in paper if c not in nine][:80]
    assert class_split(get_profile("quick")).seen.tolist() == paper[:80]


def test_novel_digit_order_is_refused_where_it_is_not_defined():
    import pytest

    from ood_helpers.core.profile import get_profile

    with pytest.raises(ValueError, match="novel-digit' needs many_class 'mnist-pairs'"):
        get_profile("cifar", class_order="novel-digit")
    with pytest.raises(ValueError, match="class_order must be one of"):
        get_profile("quick", class_order="digits")
