"""Nearest-neighbour baselines against a brute-force numpy computation."""

import numpy as np
import pytest
import torch

from ood_helpers.homogeneity.episodes import Episodes
from ood_helpers.homogeneity.neighbors import NearestNeighbourScorer, mean_support_scores


def _brute_force(emb, queries, supports, metric):
    out = np.zeros(supports.shape[:2])
    for i, q in enumerate(queries):
        for j in range(supports.shape[1]):
            vals = []
            for s in supports[i, j]:
                a, b = emb[q], emb[s]
                if metric == "euclidean":
                    vals.append(-np.sqrt(((a - b) ** 2).sum()))
                else:
                    vals.append((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))
            out[i, j] = np.mean(vals)
    return out


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("chunk", [2, 512])
def test_mean_support_scores_match_brute_force(metric, chunk):
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(30, 7))
    queries = rng.choice(30, size=5, replace=False)
    supports = rng.integers(0, 30, size=(5, 4, 3))
    got = mean_support_scores(torch.tensor(emb, dtype=torch.float32), queries, supports, metric=metric, chunk=chunk)
    np.testing.assert_allclose(got.numpy(), _brute_force(emb, queries, supports, metric), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_repeated_queries_in_a_chunk_match_brute_force(metric):
    # Queries repeat (more queries a class than images): each repeat has its own supports.
    rng = np.random.default_rng(1)
    emb = rng.normal(size=(12, 5))
    queries = np.array([3, 3, 7, 3, 7, 0, 0, 11])
    supports = rng.integers(0, 12, size=(8, 3, 4))
    scorer = NearestNeighbourScorer(torch.tensor(emb, dtype=torch.float32), metric, chunk=3)
    got = scorer(Episodes(queries, np.zeros(8, dtype=int), np.arange(3), supports))
    np.testing.assert_allclose(got.numpy(), _brute_force(emb, queries, supports, metric), rtol=1e-5, atol=1e-5)
    assert not torch.equal(got[0], got[1])  # same query, other supports, other scores


def test_nearest_class_is_predicted():
    # Two tight clusters far apart: a query of cluster 1 must score class 1 highest.
    emb = torch.tensor([[0.0, 0.0], [0.1, 0.0], [0.0, 0.1], [10.0, 10.0], [10.1, 10.0], [10.0, 10.1]])
    supports = np.array([[[1, 2], [4, 5]]])
    for metric in ("euclidean", "cosine"):
        scores = mean_support_scores(emb + 1.0, np.array([3]), supports, metric=metric)
        assert scores.argmax(dim=1).item() == 1


def test_bad_input_is_refused():
    emb = torch.zeros(4, 2)
    with pytest.raises(ValueError, match="unknown metric 'manhattan'"):
        mean_support_scores(emb, np.array([0]), np.zeros((1, 1, 1), dtype=int), metric="manhattan")
    with pytest.raises(ValueError, match=r"supports must be \[Q, C, k-1\]"):
        mean_support_scores(emb, np.array([0, 1]), np.zeros((1, 1, 1), dtype=int), metric="cosine")
    with pytest.raises(ValueError, match=r"emb must be \[N, D\]"):
        NearestNeighbourScorer(torch.zeros(4), "cosine")
    with pytest.raises(ValueError, match="chunk .* must be a positive int"):
        NearestNeighbourScorer(emb, "cosine", chunk=0)
