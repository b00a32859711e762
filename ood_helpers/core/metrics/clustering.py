"""Clustering accuracy (paper 000 eq. 2): the best one-to-one matching of clusters to classes."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics.cluster import contingency_matrix


def _as_labels(values, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of integer labels, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.equal(np.mod(arr, 1), 0)):
            raise ValueError(f"{name} must hold integer labels, got dtype {arr.dtype} with non-integer values")
        arr = arr.astype(np.int64)
    return arr


def matched_clusters(y_true, y_pred) -> dict[int, int]:
    """The optimal one-to-one map {predicted cluster -> true class} used by eq. 2 (Hungarian matching)."""
    y_true = _as_labels(y_true, "y_true")
    y_pred = _as_labels(y_pred, "y_pred")
    _check_pair(y_true, y_pred)
    classes, true_idx = np.unique(y_true, return_inverse=True)
    clusters, pred_idx = np.unique(y_pred, return_inverse=True)
    counts = contingency_matrix(true_idx, pred_idx)  # [classes, clusters]
    rows, cols = linear_sum_assignment(counts, maximize=True)
    return {int(clusters[c]): int(classes[r]) for r, c in zip(rows, cols)}


def clustering_accuracy(y_true, y_pred) -> float:
    """Eq. 2 as a percentage in [0, 100]: samples whose cluster is matched to their class, over all samples.

    Each predicted cluster is matched to at most one class and each class to at most one
    cluster (rectangular Hungarian matching), so with more clusters than classes the extra
    clusters count as wrong, and with fewer clusters the unmatched classes do. Label values
    are arbitrary integers (a noise label such as -1 is just one more cluster).
    """
    y_true = _as_labels(y_true, "y_true")
    y_pred = _as_labels(y_pred, "y_pred")
    _check_pair(y_true, y_pred)
    _, true_idx = np.unique(y_true, return_inverse=True)
    _, pred_idx = np.unique(y_pred, return_inverse=True)
    counts = contingency_matrix(true_idx, pred_idx)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    return 100.0 * counts[rows, cols].sum() / y_true.size


def _check_pair(y_true: np.ndarray, y_pred: np.ndarray) -> None:
    if y_true.size == 0:
        raise ValueError("clustering accuracy needs at least one sample, got empty label arrays")
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"y_true and y_pred must have the same length, got {y_true.size} targets and {y_pred.size} predictions"
        )
