"""Clustering accuracy (paper 000 eq. 2) against brute force over every permutation."""

from itertools import permutations

import numpy as np
import pytest

from ood_helpers.core.metrics.clustering import clustering_accuracy, matched_clusters


def brute_force_accuracy(y_true, y_pred) -> float:
    """Eq. 2 literally: try every relabelling of the clusters, keep the best hit count."""
    classes = sorted(set(y_true))
    clusters = sorted(set(y_pred))
    size = max(len(classes), len(clusters))  # pad so every injective cluster -> class map is a permutation
    t = np.array([classes.index(v) for v in y_true])
    p = np.array([clusters.index(v) for v in y_pred])
    best = 0
    for perm in permutations(range(size)):
        best = max(best, int(np.sum(np.asarray(perm)[p] == t)))
    return 100.0 * best / len(y_true)


@pytest.mark.parametrize(
    "n_classes, n_clusters, n",
    [(3, 3, 30), (3, 5, 25), (5, 2, 25), (4, 6, 40), (6, 3, 18), (1, 4, 12), (4, 1, 12)],
)
def test_matches_brute_force(n_classes, n_clusters, n):
    rng = np.random.default_rng(n_classes * 10 + n_clusters)
    for _ in range(5):
        y_true = rng.integers(0, n_classes, size=n) * 7 + 3  # arbitrary label values
        y_pred = rng.integers(0, n_clusters, size=n) - 1  # includes a -1 cluster
        assert clustering_accuracy(y_true, y_pred) == pytest.approx(brute_force_accuracy(y_true, y_pred))


def test_hand_computed_cases():
    # perfect up to renaming
    assert clustering_accuracy([0, 0, 1, 1, 2], [5, 5, 9, 9, 1]) == 100.0
    # everything in one cluster: only the largest class is matched
    assert clustering_accuracy([0, 0, 0, 1, 1], [4, 4, 4, 4, 4]) == pytest.approx(60.0)
    # all singletons: one sample per class is matched
    assert clustering_accuracy([0, 0, 0, 1, 1], [0, 1, 2, 3, 4]) == pytest.approx(40.0)
    # one class split in two clusters: only one half counts
    assert clustering_accuracy([0, 0, 0, 0, 1, 1], [0, 0, 1, 1, 2, 2]) == pytest.approx(100 * 4 / 6)


def test_matching_is_one_to_one():
    mapping = matched_clusters([0, 0, 1, 1, 1, 2], [7, 7, 8, 8, 9, 9])
    assert mapping[7] == 0 and mapping[8] == 1
    assert len(set(mapping.values())) == len(mapping)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="same length"):
        clustering_accuracy([0, 1, 2], [0, 1])
    with pytest.raises(ValueError, match="at least one sample"):
        clustering_accuracy([], [])
    with pytest.raises(ValueError, match="1-D"):
        clustering_accuracy(np.zeros((2, 2)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="integer labels"):
        clustering_accuracy([0.5, 1.0], [0, 1])
