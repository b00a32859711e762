"""Mining the nearest neighbours SCAN's clustering step pairs every image with (faiss, exact search)."""

from __future__ import annotations

import numpy as np

from ood_helpers.core.metrics.feature_scores import knn_search


def mine_neighbours(features, k: int) -> np.ndarray:
    """[N, k] indices of each row's ``k`` nearest other rows by cosine similarity (inner product of the
    L2-normalised features, faiss ``IndexFlatIP``), most similar first.

    SCAN's code keeps the image itself among its k+1 candidates; we search k+1 and drop the image itself, so
    every anchor is paired with a different image (a documented deviation; duplicates of an image still count).
    """
    x = np.asarray(features, dtype=np.float32)
    n = x.shape[0]
    if x.ndim != 2 or not 1 <= k < n:
        raise ValueError(f"k must be in 1..{n - 1} for {n} images (features [N, D]), got k={k}, shape {x.shape}")
    _, idx = knn_search(x, x, k + 1, "cosine")
    out = np.empty((n, k), dtype=np.int64)
    for i in range(n):  # drop the query itself wherever the search put it (ties can move it off column 0)
        row = idx[i][idx[i] != i]
        out[i] = row[:k]
    return out


def neighbour_purity(neighbours: np.ndarray, labels) -> float:
    """Share of mined neighbours with the anchor's ground-truth class (reported, never used for training)."""
    labels = np.asarray(labels)
    return float((labels[neighbours] == labels[:, None]).mean())
