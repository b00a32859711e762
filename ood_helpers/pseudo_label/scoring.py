"""Scores and clustering numbers of notebook 09, on top of the lead's ``evaluate`` modules (faiss kNN,
Mahalanobis to centres, MSP, AUROC). Every score: larger = more anomalous; AUROC with the anomaly positive.

The paper's rule (spec A2.6): the cosine distance of a test image to its nearest normal training feature,
k = 1; for k > 1 the mean of the k distances (DN2 / MSCL) or the k-th alone (OpenOOD), named in every table.
"""

from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from ood_helpers.core.metrics.clustering import clustering_accuracy
from ood_helpers.core.metrics.feature_scores import (centre_distances, cluster_means, knn_score, knn_search, nearest_centre_score, shared_precision)
from ood_helpers.core.metrics.ood import msp_score, ood_metrics
from ood_helpers.core.metrics.feature_scores import l2_normalise


def knn_metrics(train, test, anomalies: dict, k: int = 1, reduce: str = "mean", metric: str = "cosine") -> dict:
    """{anomaly set: ood_metrics dict} of the kNN score (``train`` = the normal training features)."""
    s_in = knn_score(train, test, k=k, reduce=reduce, metric=metric)
    return {name: ood_metrics(s_in, knn_score(train, feats, k=k, reduce=reduce, metric=metric))
            for name, feats in anomalies.items()}


def mahalanobis_metrics(train, labels, test, anomalies: dict) -> dict:
    """Min over pseudo-label clusters of the Mahalanobis distance with one shared covariance (Lee et al. 2018,
    the Fort et al. recipe the paper argues against): fitted on the training features and their pseudo-labels."""
    ids, means = cluster_means(train, labels)
    prec = shared_precision(train, labels)
    score = lambda f: nearest_centre_score(centre_distances(f, means, "mahalanobis", prec))  # noqa: E731
    s_in = score(test)
    return {name: ood_metrics(s_in, score(f)) for name, f in anomalies.items()}


def msp_metrics(p_test, anomalies_p: dict) -> dict:
    """Eq. 1: -max softmax of the fine-tuned K-way head."""
    s_in = msp_score(p_test)
    return {name: ood_metrics(s_in, msp_score(p)) for name, p in anomalies_p.items()}


def kmeans_labels(features, clusters: int, seed: int) -> np.ndarray:
    """scikit-learn k-means (n_init 10) on L2-normalised features: the paper's K-means pseudo-label ablation."""
    return KMeans(n_clusters=int(clusters), n_init=10, random_state=int(seed)).fit_predict(l2_normalise(features))


def clustering_numbers(y_true, y_pred) -> dict:
    """Clustering accuracy (Hungarian, %), NMI and ARI (x100) of a pseudo-labelling against the hidden classes."""
    return {"acc": clustering_accuracy(y_true, y_pred), "nmi": 100 * normalized_mutual_info_score(y_true, y_pred),
            "ari": 100 * adjusted_rand_score(y_true, y_pred)}


def top_neighbours(train, queries, k: int = 5) -> np.ndarray:
    """[Q, k] indices of each query's k nearest training features (cosine), nearest first."""
    return knn_search(train, queries, int(k), "cosine")[1]


def neighbour_purity(neighbour_idx: np.ndarray, train_labels) -> float:
    """Mean over queries of the share of their neighbours in the neighbours' majority class (spec A7, Fig. 2)."""
    labels = np.asarray(train_labels)[neighbour_idx]
    return float(np.mean([np.bincount(row).max() / len(row) for row in labels]))
