"""Cluster-separation diagnostics (claim C1) and rank stability (claim C2), with scikit-learn and scipy.

- ``separation``: silhouette score (cosine, true labels, a seeded subsample), the ratio of the mean
  distance of a point to its class centroid over the mean distance between class centroids (euclidean;
  lower = tighter, better-separated classes; invariant to a global scale of the embedding),
  the Davies-Bouldin index (lower = better) and kNN label purity (share of each point's k nearest
  other points, by cosine, that share its label).
- ``rank_stability``: Kendall tau (``scipy.stats.kendalltau``, tau-b) between the AUROC rankings of the
  same configurations under two conditions (two OOD sets, two architectures); tau near 1 = the same
  order, near 0 = unrelated orders; undefined (NaN, with a note) when every configuration ties on one side.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd


def separation(features, labels, *, k: int = 10, max_points: int = 5000, seed: int = 0) -> dict:
    """{"silhouette", "intra_inter", "davies_bouldin", "knn_purity"} of embeddings [N, D] under ``labels``."""
    from sklearn.metrics import davies_bouldin_score, silhouette_score
    from sklearn.neighbors import NearestNeighbors

    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels)
    if x.ndim != 2 or y.shape != (len(x),) or len(np.unique(y)) < 2:
        raise ValueError(f"separation needs [N, D] features and N labels of at least 2 classes; got {x.shape}, {y.shape}")
    if len(x) > max_points:
        keep = np.sort(np.random.default_rng(seed).choice(len(x), max_points, replace=False))
        x, y = x[keep], y[keep]
    classes = np.unique(y)
    centroids = np.stack([x[y == c].mean(0) for c in classes])
    intra = np.linalg.norm(x - centroids[np.searchsorted(classes, y)], axis=1).mean()
    pair = [np.linalg.norm(a - b) for a, b in itertools.combinations(centroids, 2)]
    k = int(min(k, len(x) - 1))
    nn = NearestNeighbors(n_neighbors=k + 1, metric="cosine").fit(x)
    _, idx = nn.kneighbors(x)
    purity = float(np.mean(y[idx[:, 1:]] == y[:, None]))  # column 0 is the point itself
    return {"silhouette": float(silhouette_score(x, y, metric="cosine")),
            "intra_inter": float(intra / max(np.mean(pair), 1e-12)),
            "davies_bouldin": float(davies_bouldin_score(x, y)),
            "knn_purity": purity}


def rank_stability(table: pd.DataFrame, *, config_cols, condition_col: str, value: str = "auroc",
                   group_cols=()) -> pd.DataFrame:
    """Kendall tau between every two values of ``condition_col`` (within each ``group_cols`` group) over
    the configurations ``config_cols`` present under both (NaN values dropped)."""
    from scipy.stats import kendalltau

    rows = []
    groups = table.groupby(list(group_cols)) if group_cols else [((), table)]
    for key, part in groups:
        key = key if isinstance(key, tuple) else (key,)
        wide = part.pivot_table(index=list(config_cols), columns=condition_col, values=value, aggfunc="mean")
        for a, b in itertools.combinations(wide.columns, 2):
            both = wide[[a, b]].dropna()
            if len(both) < 3:
                continue
            constant = both[a].nunique() == 1 or both[b].nunique() == 1
            tau, p = (np.nan, np.nan) if constant else kendalltau(both[a], both[b])
            rows.append({**dict(zip(group_cols, key)), "compared": condition_col, "a": a, "b": b,
                         "configs": len(both), "kendall_tau": float(tau), "p_value": float(p),
                         "same_winner": bool(both[a].idxmax() == both[b].idxmax()),
                         "note": "every configuration ties under one side: no ranking" if constant else ""})
    return pd.DataFrame(rows)
