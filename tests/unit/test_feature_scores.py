"""kNN and distance-to-cluster scores against brute-force NumPy loops and scikit-learn."""

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from ood_helpers.core.metrics import feature_scores as fs


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(60, 5)).astype(np.float32)
    qry = rng.normal(size=(7, 5)).astype(np.float32) * 2
    labels = np.repeat([0, 1, 2], 20)
    ref[labels == 1] += 3
    return ref, qry, labels


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_knn_distances_match_brute_force(data, metric):
    ref, qry, _ = data
    full = np.sort(cdist(qry.astype(np.float64), ref.astype(np.float64), metric=metric), axis=1)
    got = fs.knn_distances(ref, qry, 4, metric)
    assert np.allclose(got, full[:, :4], atol=1e-5)
    assert np.allclose(fs.knn_score(ref, qry, 4, "mean", metric), full[:, :4].mean(1), atol=1e-5)
    assert np.allclose(fs.knn_score(ref, qry, 4, "kth", metric), full[:, 3], atol=1e-5)


def test_centre_distances_by_hand(data):
    ref, qry, labels = data
    ids, means = fs.cluster_means(ref, labels)
    assert ids.tolist() == [0, 1, 2]
    assert np.allclose(means[1], ref[labels == 1].mean(0), atol=1e-6)
    assert np.allclose(fs.centre_distances(qry, means, "euclidean"), cdist(qry, means), atol=1e-5)
    assert np.allclose(fs.centre_distances(qry, means, "cosine"), cdist(qry, means, "cosine"), atol=1e-5)


def test_mahalanobis_shared_and_per_cluster(data):
    ref, qry, labels = data
    _, means = fs.cluster_means(ref, labels)
    centred = np.concatenate([ref[labels == c] - means[c] for c in range(3)]).astype(np.float64)
    cov = centred.T @ centred / len(centred)  # maximum-likelihood covariance, as EmpiricalCovariance
    shared = fs.shared_precision(ref, labels)
    assert np.allclose(shared, np.linalg.inv(cov), atol=1e-6)
    got = fs.centre_distances(qry, means, "mahalanobis", shared)
    brute = np.array([[(z - m) @ np.linalg.inv(cov) @ (z - m) for m in means] for z in qry.astype(np.float64)])
    assert np.allclose(got, brute, rtol=1e-6)
    per = fs.per_cluster_precisions(ref, labels)
    assert per.shape == (3, 5, 5)
    got = fs.centre_distances(qry, means, "mahalanobis", per)
    assert np.allclose(got[:, 2], [(z - means[2]) @ per[2] @ (z - means[2]) for z in qry.astype(np.float64)])


def test_scores_and_errors(data):
    ref, qry, labels = data
    d = np.array([[3.0, 1.0, 2.0], [0.5, 4.0, 1.0]])
    assert fs.nearest_centre_score(d).tolist() == [1.0, 0.5]
    assert np.allclose(fs.nearest_ratio_score(d), [1 / 2, 0.5 / 1.0])
    with pytest.raises(ValueError, match="k must be an int in 1..60"):
        fs.knn_distances(ref, qry, 61)
    with pytest.raises(ValueError, match="features a row"):
        fs.knn_distances(ref, qry[:, :3], 1)
    with pytest.raises(ValueError, match="needs precision"):
        fs.centre_distances(qry, ref[:3], "mahalanobis")
    with pytest.raises(ValueError, match="fewer than 2 members"):
        fs.per_cluster_precisions(ref[:41], labels[:41])


def test_precomputed_whitening_gives_the_same_distances(data):
    ref, qry, labels = data
    _, means = fs.cluster_means(ref, labels)
    for precision in (fs.shared_precision(ref, labels), fs.per_cluster_precisions(ref, labels)):
        w = fs.mahalanobis_whitening(precision)
        assert w.shape == precision.shape
        # W W^T recovers the precision, matrix by matrix
        assert np.allclose(w @ np.swapaxes(w, -1, -2), precision, atol=1e-8)
        assert np.allclose(fs.centre_distances(qry, means, "mahalanobis", whitening=w),
                           fs.centre_distances(qry, means, "mahalanobis", precision))


def test_knn_search_indices_match_brute_force():
    from ood_helpers.core.metrics.feature_scores import knn_search

    rng = np.random.default_rng(7)
    ref, qry = rng.normal(size=(40, 5)), rng.normal(size=(6, 5))
    for metric in ("euclidean", "cosine"):
        dist, idx = knn_search(ref, qry, 3, metric)
        if metric == "euclidean":
            full = np.linalg.norm(qry[:, None] - ref[None], axis=2)
        else:
            full = 1 - (qry / np.linalg.norm(qry, axis=1, keepdims=True)) @ (ref / np.linalg.norm(ref, axis=1, keepdims=True)).T
        np.testing.assert_array_equal(idx, np.argsort(full, axis=1)[:, :3])
        np.testing.assert_allclose(dist, np.sort(full, axis=1)[:, :3], atol=1e-5)


def test_ledoit_wolf_covariances_equal_scikit_learns_estimator():
    from sklearn.covariance import LedoitWolf

    rng = np.random.default_rng(3)
    # clusters of 2, 5 and 40 members in 8 dimensions (the first two singular without shrinkage), a constant
    # cluster (zero covariance) and labels out of order
    x = np.concatenate([rng.normal(size=(2, 8)), rng.normal(size=(5, 8)) * 3, rng.normal(size=(40, 8)) @ rng.normal(size=(8, 8)),
                        np.ones((3, 8))]).astype(np.float32)  # embeddings are float32 (fs._features)
    labels = np.repeat([7, 2, 5, 9], [2, 5, 40, 3])
    perm = rng.permutation(len(x))
    x, labels = x[perm], labels[perm]
    x64 = x.astype(np.float64)
    got = fs.ledoit_wolf_covariances(x, labels)
    for i, c in enumerate([2, 5, 7, 9]):
        ref = LedoitWolf().fit(x64[labels == c]).covariance_
        assert np.allclose(got[i], ref, rtol=1e-10, atol=1e-12), c
    precisions = fs.per_cluster_precisions(x, labels)
    for i, c in enumerate([2, 5, 7, 9]):
        assert np.allclose(precisions[i], LedoitWolf().fit(x64[labels == c]).precision_, rtol=1e-7, atol=1e-9), c
    one_d = fs.ledoit_wolf_covariances(x[:, :1], labels)
    assert np.allclose(one_d[1], LedoitWolf().fit(x64[labels == 5][:, :1]).covariance_)


def test_per_cluster_mahalanobis_over_many_centres_matches_a_loop():
    rng = np.random.default_rng(4)
    z, mu = rng.normal(size=(50, 6)).astype(np.float32), rng.normal(size=(300, 6)).astype(np.float32)  # 300: blocks
    w = rng.normal(size=(300, 6, 6))
    got = fs.centre_distances(z, mu, "mahalanobis", whitening=w)
    loop = np.array([[np.sum(((q - m) @ wc) ** 2) for m, wc in zip(mu.astype(float), w)] for q in z.astype(float)])
    assert np.allclose(got, loop, rtol=1e-10)
