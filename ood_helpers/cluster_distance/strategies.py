"""Clustering strategies S1-S4 over training embeddings and the distance-to-cluster OOD score (spec B5).

Larger score = more OOD: s(x) = min over clusters c of d(f(x), mu_c), or for S4 the distance to the k-th
nearest training embedding.

- S1 ``centroids``: one centre per class, the mean training embedding (uses labels).
- S2 ``subclusters-m``: k-means with m clusters inside each class (uses labels).
- S3 ``kmeans-K``: k-means over all training embeddings, K = factor x classes (label-free; SSD-style).
- S4 ``knn-k``: every training point is a cluster; the k-th nearest distance (OpenOOD's KNN reduction),
  with faiss through ``core.metrics.feature_scores.knn_score``.

Clusters are built once on the raw embeddings (scikit-learn ``KMeans``, fixed ``random_state``,
``n_init``) and every distance is measured to those centres. Distances: ``euclidean`` on raw features;
``cosine`` = 1 - cos(z, mu) with the centre normalised too (not Euclidean on normalised features: the mean
of unit vectors is not a unit vector); ``mahalanobis`` with one covariance shared by all clusters
(Lee et al. 2018: ``feature_scores.shared_precision``); ``mahalanobis-lw``: one Ledoit-Wolf shrunk
covariance per cluster (``feature_scores.ledoit_wolf_covariances``; clusters with fewer than 2 members
have no covariance and are left out of this metric). Mahalanobis is undefined for S4 (a point has no
covariance): those cells are NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ood_helpers.core.metrics.feature_scores import (centre_distances, covariance_whitening, knn_score, ledoit_wolf_covariances, mahalanobis_whitening, shared_precision)

DISTANCES = ("euclidean", "cosine", "mahalanobis", "mahalanobis-lw")


@dataclass
class Clustering:
    name: str  # e.g. "S2 sub-clusters m=3"
    kind: str  # centroids | subclusters | kmeans | knn
    uses_labels: bool
    centres: np.ndarray | None  # [K, D]; None for knn
    members: np.ndarray | None  # [N] cluster id of each training embedding; None for knn
    k: int = 0  # knn only

    @property
    def num_clusters(self) -> int:
        return 0 if self.centres is None else len(self.centres)


def _kmeans(x: np.ndarray, k: int, seed: int, n_init: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.cluster import KMeans

    k = int(min(k, len(x)))
    km = KMeans(n_clusters=k, n_init=n_init, random_state=int(seed)).fit(x)
    return km.cluster_centers_.astype(np.float64), km.labels_.astype(np.int64)


def build_clusterings(train, labels, *, sub_clusters=(3, 5), kmeans_factors=(1, 5), knn_ks=(1, 50), seed: int = 0,
                      n_init: int = 10) -> list[Clustering]:
    """S1, S2 (each m), S3 (each factor), S4 (each k) over training embeddings ``train`` [N, D] with class
    ``labels`` [N]."""
    x = np.asarray(train, dtype=np.float64)
    y = np.asarray(labels)
    if x.ndim != 2 or y.shape != (len(x),):
        raise ValueError(f"train must be [N, D] with one label a row; got {x.shape} and labels {y.shape}")
    classes = np.unique(y)
    out = [Clustering("S1 class centroids", "centroids", True,
                      np.stack([x[y == c].mean(0) for c in classes]), np.searchsorted(classes, y))]
    for m in sub_clusters:
        centres, members, offset = [], np.empty(len(x), dtype=np.int64), 0
        for c in classes:
            idx = np.flatnonzero(y == c)
            cc, mm = _kmeans(x[idx], m, seed, n_init)
            centres.append(cc)
            members[idx] = mm + offset
            offset += len(cc)
        out.append(Clustering(f"S2 sub-clusters m={m}", "subclusters", True, np.concatenate(centres), members))
    for f in kmeans_factors:
        cc, mm = _kmeans(x, f * len(classes), seed, n_init)
        out.append(Clustering(f"S3 k-means K={f}C", "kmeans", False, cc, mm))
    for k in knn_ks:
        if not 1 <= k <= len(x):
            raise ValueError(f"knn k={k} must be in 1..{len(x)} (the training embeddings)")
        out.append(Clustering(f"S4 kNN k={k}", "knn", False, None, None, int(k)))
    return out


@dataclass
class FittedScorer:
    """One (clustering, distance) pair fitted on training embeddings; ``score`` gives (score, nearest cluster)."""

    clustering: Clustering
    distance: str
    train: np.ndarray
    centres: np.ndarray | None = None
    whitening: np.ndarray | None = None  # Mahalanobis: feature_scores.mahalanobis_whitening of the precision(s)
    ids: np.ndarray | None = None  # cluster id of each row of ``centres``

    @property
    def defined(self) -> bool:
        return not (self.clustering.kind == "knn" and self.distance.startswith("mahalanobis"))

    def score(self, queries) -> tuple[np.ndarray, np.ndarray | None]:
        q = np.asarray(queries, dtype=np.float64)
        if not self.defined:
            return np.full(len(q), np.nan), None
        if self.clustering.kind == "knn":
            s = knn_score(self.train, q, k=self.clustering.k, reduce="kth", metric=self.distance)
            return s, None
        metric = "mahalanobis" if self.distance.startswith("mahalanobis") else self.distance
        d = centre_distances(q, self.centres, metric, whitening=self.whitening)
        nearest = d.argmin(1)
        return d[np.arange(len(q)), nearest], self.ids[nearest]


def fit_scorer(clustering: Clustering, distance: str, train) -> FittedScorer:
    """The scorer of ``distance`` to ``clustering``'s centres (precisions from the training embeddings)."""
    if distance not in DISTANCES:
        raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}")
    x = np.asarray(train, dtype=np.float64)
    scorer = FittedScorer(clustering, distance, x)
    if clustering.kind == "knn" or not scorer.defined:
        return scorer
    ids = np.arange(clustering.num_clusters)
    centres = clustering.centres
    # whitening once, for every query set
    if distance == "mahalanobis":
        scorer.whitening = mahalanobis_whitening(shared_precision(x, clustering.members))
    elif distance == "mahalanobis-lw":
        counts = np.bincount(clustering.members, minlength=clustering.num_clusters)
        ids = np.flatnonzero(counts >= 2)
        keep = np.isin(clustering.members, ids)
        scorer.whitening = covariance_whitening(ledoit_wolf_covariances(x[keep], clustering.members[keep]))
        centres = clustering.centres[ids]
    scorer.centres, scorer.ids = centres, ids
    return scorer
