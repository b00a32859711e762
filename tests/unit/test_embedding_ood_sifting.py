"""Algorithm 1's sifting: exactly round(eps * n) highest-error points leave, eps = 0 keeps all, a dropped
point comes back when its error drops (sifting is redone from the whole set)."""

import numpy as np
import pytest

from ood_helpers.embedding_ood.sifting import sift


def test_drops_exactly_the_worst_share():
    rng = np.random.default_rng(0)
    errors = rng.random(200)
    kept, dropped = sift(errors, 0.05)
    assert len(dropped) == 10 and len(kept) == 190
    assert set(dropped) == set(np.argsort(errors)[-10:])
    assert errors[dropped].min() > errors[kept].max()
    assert sorted(np.r_[kept, dropped].tolist()) == list(range(200))


def test_zero_keeps_everything_and_bad_fraction_refused():
    kept, dropped = sift([3.0, 1.0, 2.0], 0.0)
    assert kept.tolist() == [0, 1, 2] and dropped.size == 0
    with pytest.raises(ValueError, match="sift_fraction"):
        sift([1.0, 2.0], 1.0)
    with pytest.raises(ValueError, match="finite"):
        sift([1.0, np.nan], 0.1)


def test_a_dropped_point_returns_when_its_error_drops():
    errors = np.array([1.0, 9.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 0.5])
    assert sift(errors, 0.1)[1].tolist() == [1]
    errors[1] = 0.1
    kept, dropped = sift(errors, 0.1)
    assert 1 in kept and dropped.tolist() == [8]


def test_rounding_of_the_count():
    assert len(sift(np.arange(30.0), 0.05)[1]) == round(0.05 * 30)  # 1.5 -> 2 (Python rounds half to even)
    assert len(sift(np.arange(10.0), 0.24)[1]) == 2
