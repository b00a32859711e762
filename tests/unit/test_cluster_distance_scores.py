"""cluster_distance.strategies: clusterings S1-S4 and the distance-to-cluster scores against hand
computations (scipy's Mahalanobis, cosine to a normalised centroid, brute-force kNN)."""

import numpy as np
import pytest
from scipy.spatial.distance import mahalanobis as scipy_mahalanobis

from ood_helpers.cluster_distance.strategies import build_clusterings, fit_scorer


def blobs(seed=0, n=40, d=5, classes=3):
    rng = np.random.default_rng(seed)
    means = rng.normal(scale=4, size=(classes, d))
    y = np.repeat(np.arange(classes), n)
    x = means[y] + rng.normal(size=(len(y), d)) * rng.uniform(0.5, 2, size=d)
    return x, y


def test_clusterings_cover_s1_to_s4():
    x, y = blobs()
    cls = build_clusterings(x, y, sub_clusters=(2, 3), kmeans_factors=(1, 2), knn_ks=(1, 5), seed=0, n_init=3)
    assert [c.name for c in cls] == ["S1 class centroids", "S2 sub-clusters m=2", "S2 sub-clusters m=3",
                                     "S3 k-means K=1C", "S3 k-means K=2C", "S4 kNN k=1", "S4 kNN k=5"]
    np.testing.assert_allclose(cls[0].centres, [x[y == c].mean(0) for c in range(3)])
    assert cls[1].num_clusters == 6 and cls[2].num_clusters == 9 and cls[4].num_clusters == 6
    # sub-clusters never mix classes
    for c in range(3):
        assert len(set(cls[2].members[y == c]) & set(cls[2].members[y != c])) == 0
    assert [c.uses_labels for c in cls] == [True, True, True, False, False, False, False]


def test_shared_mahalanobis_matches_scipy():
    x, y = blobs(1)
    s1 = build_clusterings(x, y, sub_clusters=(), kmeans_factors=(), knn_ks=())[0]
    scorer = fit_scorer(s1, "mahalanobis", x)
    q = np.random.default_rng(2).normal(scale=3, size=(7, 5))
    score, nearest = scorer.score(q)
    # hand: covariance of class-centred features (maximum likelihood, as EmpiricalCovariance), inverted
    centred = x - s1.centres[y]
    vi = np.linalg.inv(centred.T @ centred / len(x))
    hand = np.array([[scipy_mahalanobis(z, mu, vi) ** 2 for mu in s1.centres] for z in q])
    np.testing.assert_allclose(score, hand.min(1), rtol=1e-4)
    np.testing.assert_array_equal(nearest, hand.argmin(1))


def test_per_cluster_shrunk_mahalanobis_matches_scipy():
    from sklearn.covariance import LedoitWolf

    x, y = blobs(3)
    s1 = build_clusterings(x, y, sub_clusters=(), kmeans_factors=(), knn_ks=())[0]
    scorer = fit_scorer(s1, "mahalanobis-lw", x)
    q = np.random.default_rng(4).normal(scale=3, size=(6, 5))
    precisions = [LedoitWolf().fit(x[y == c]).precision_ for c in range(3)]
    hand = np.array([[scipy_mahalanobis(z, s1.centres[c], precisions[c]) ** 2 for c in range(3)] for z in q])
    np.testing.assert_allclose(scorer.score(q)[0], hand.min(1), rtol=1e-4)


def test_cosine_is_to_the_normalised_centroid():
    x, y = blobs(5)
    s1 = build_clusterings(x, y, sub_clusters=(), kmeans_factors=(), knn_ks=())[0]
    q = np.random.default_rng(6).normal(size=(5, 5))
    score, _ = fit_scorer(s1, "cosine", x).score(q)
    mu = s1.centres / np.linalg.norm(s1.centres, axis=1, keepdims=True)
    zn = q / np.linalg.norm(q, axis=1, keepdims=True)
    np.testing.assert_allclose(score, (1 - zn @ mu.T).min(1), rtol=1e-6)
    # and not the euclidean distance between normalised vectors of a non-normalised mean
    eu, _ = fit_scorer(s1, "euclidean", x).score(q)
    np.testing.assert_allclose(eu, np.linalg.norm(q[:, None] - s1.centres[None], axis=2).min(1), rtol=1e-6)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_knn_scores_match_brute_force(metric):
    x, y = blobs(7)
    q = np.random.default_rng(8).normal(scale=3, size=(9, 5))
    for cl in build_clusterings(x, y, sub_clusters=(), kmeans_factors=(), knn_ks=(1, 5))[1:]:
        score, groups = fit_scorer(cl, metric, x).score(q)
        if metric == "euclidean":
            d = np.linalg.norm(q[:, None] - x[None], axis=2)
        else:
            d = 1 - (q / np.linalg.norm(q, axis=1, keepdims=True)) @ (x / np.linalg.norm(x, axis=1, keepdims=True)).T
        np.testing.assert_allclose(score, np.sort(d, axis=1)[:, cl.k - 1], rtol=1e-4, atol=1e-5)
        assert groups is None
        assert not fit_scorer(cl, "mahalanobis", x).defined


def test_bad_input_is_refused():
    x, y = blobs()
    with pytest.raises(ValueError, match="one label a row"):
        build_clusterings(x, y[:-1])
    with pytest.raises(ValueError, match="knn k"):
        build_clusterings(x, y, sub_clusters=(), kmeans_factors=(), knn_ks=(10_000,))
    with pytest.raises(ValueError, match="distance must be"):
        fit_scorer(build_clusterings(x, y, sub_clusters=(), kmeans_factors=(), knn_ks=())[0], "manhattan", x)
