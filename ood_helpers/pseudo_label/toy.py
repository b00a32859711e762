"""The 2-D experiment behind paper 003's Fig. 1 (a schematic in the paper, a measured toy here): two normal
clusters, pseudo-labels with a share of them wrong, an anomaly cluster between the normal ones. Mahalanobis
distance to the pseudo-label clusters (shared covariance) against 1-NN distance to the training points.
With wrong labels the fitted means move towards each other and the shared covariance stretches along the
line between them, so the ellipses swallow the anomalies; 1-NN ignores the labels (the paper's argument).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ood_helpers.core.metrics.feature_scores import (centre_distances, cluster_means, knn_score, nearest_centre_score, shared_precision)
from ood_helpers.core.metrics.ood import auroc


@dataclass
class Toy:
    train: np.ndarray
    true_labels: np.ndarray
    noisy_labels: np.ndarray
    test: np.ndarray
    anomalies: np.ndarray


def toy_data(seed: int, n: int = 200, noise: float = 0.25, anomalies: int = 40) -> Toy:
    """``n`` normal training points a cluster at (-3, 0) and (3, 0) (std 0.7), a ``noise`` share of their
    labels flipped; ``n // 2`` normal test points a cluster; ``anomalies`` points around (0, 0) (std 0.4)."""
    if not 0 <= noise < 0.5:
        raise ValueError(f"noise must be in [0, 0.5), a share of flipped labels, got {noise}")
    rng = np.random.default_rng(seed)
    centres = np.array([[-3.0, 0.0], [3.0, 0.0]])

    def blob(m):
        return np.concatenate([rng.normal(c, 0.7, size=(m, 2)) for c in centres])

    train, test = blob(n), blob(n // 2)
    true = np.repeat([0, 1], n)
    flip = rng.random(2 * n) < noise
    return Toy(train, true, np.where(flip, 1 - true, true), test, rng.normal(0.0, 0.4, size=(anomalies, 2)))


def mahalanobis_fit(x: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cluster means, shared precision) of labelled points (the lead's ``feature_scores``)."""
    return cluster_means(x, labels)[1], shared_precision(x, labels)


def toy_aurocs(t: Toy) -> dict[str, float]:
    """AUROC (%) of 1-NN (euclidean) and of Mahalanobis to the clusters of the noisy and the true labels."""
    out = {"1-NN distance (labels unused)": auroc(knn_score(t.train, t.test, 1, metric="euclidean"),
                                                 knn_score(t.train, t.anomalies, 1, metric="euclidean"))}
    for name, labels in (("Mahalanobis, noisy pseudo-labels", t.noisy_labels),
                         ("Mahalanobis, true labels", t.true_labels)):
        means, prec = mahalanobis_fit(t.train, labels)
        score = lambda x: nearest_centre_score(centre_distances(x, means, "mahalanobis", prec))  # noqa: E731
        out[name] = auroc(score(t.test), score(t.anomalies))
    return {k: 100.0 * v for k, v in out.items()}


def toy_records(seeds) -> list[dict]:
    """:func:`toy_aurocs` of the toy drawn with each of ``seeds`` (trial = its position), one record per score."""
    rows = []
    for t, seed in enumerate(seeds):
        rows += [{"trial": t, "score": k, "metric": "AUROC (%)", "auroc": v} for k, v in toy_aurocs(toy_data(seed)).items()]
    return rows
