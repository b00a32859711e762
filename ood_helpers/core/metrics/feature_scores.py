"""OOD scores over cached embeddings: distance to the nearest training points (kNN, with faiss) and
distance to cluster centres (euclidean, cosine, Mahalanobis with a shared or a per-cluster shrunk
covariance). Every score follows ``ood_metrics``: larger = more OOD.

Used by notebooks 08 (paper 001, distance to clusters) and 09 (paper 003, kNN on fine-tuned features).
What the libraries do not give is written here: faiss returns *squared* L2 distances (we take the root
so means over k are of distances) and inner products (we turn them into cosine distances);
scikit-learn's ``EmpiricalCovariance`` gives the shared precision; the per-cluster Ledoit-Wolf estimate is
scikit-learn's formula written out (``ledoit_wolf_covariances`` says why).
"""

from __future__ import annotations

import faiss
import numpy as np
from sklearn.covariance import EmpiricalCovariance
from sklearn.metrics.pairwise import euclidean_distances

METRICS = ("euclidean", "cosine")
REDUCTIONS = ("mean", "kth")


def _features(x, what: str) -> np.ndarray:
    arr = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{what} must be a non-empty [N, D] array of embeddings, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{what} holds non-finite values; embeddings must be finite")
    return arr


def l2_normalise(x) -> np.ndarray:
    """Rows scaled to unit length (an all-zero row stays zero)."""
    arr = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    return np.ascontiguousarray(arr / np.maximum(norms, 1e-12))


def knn_search(reference, queries, k: int, metric: str = "cosine") -> tuple[np.ndarray, np.ndarray]:
    """([Q, k] distances, [Q, k] indices into ``reference``) of each query's ``k`` nearest ``reference`` rows,
    nearest first (exact search, faiss ``IndexFlatL2`` / ``IndexFlatIP``). ``metric``: "euclidean" (L2 on the
    raw features) or "cosine" (1 - cosine similarity)."""
    ref, qry = _features(reference, "reference"), _features(queries, "queries")
    if ref.shape[1] != qry.shape[1]:
        raise ValueError(f"reference has {ref.shape[1]} features a row but queries {qry.shape[1]}; embed both the same way")
    if not isinstance(k, (int, np.integer)) or not 1 <= k <= ref.shape[0]:
        raise ValueError(f"k must be an int in 1..{ref.shape[0]} (the reference rows), got {k!r}")
    if metric == "euclidean":
        index = faiss.IndexFlatL2(ref.shape[1])
        index.add(ref)
        squared, idx = index.search(qry, int(k))
        return np.sqrt(np.maximum(squared, 0.0)).astype(np.float64), idx.astype(np.int64)
    if metric == "cosine":
        index = faiss.IndexFlatIP(ref.shape[1])
        index.add(l2_normalise(ref))
        similarity, idx = index.search(l2_normalise(qry), int(k))
        return (1.0 - similarity).astype(np.float64), idx.astype(np.int64)
    raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")


def knn_distances(reference, queries, k: int, metric: str = "cosine") -> np.ndarray:
    """[Q, k] distances from each query to its ``k`` nearest ``reference`` rows, ascending (``knn_search``)."""
    return knn_search(reference, queries, k, metric)[0]


def knn_score(reference, queries, k: int = 1, reduce: str = "mean", metric: str = "cosine") -> np.ndarray:
    """The kNN OOD score of each query: the mean of its ``k`` nearest distances (DN2 / MSCL,
    ``reduce="mean"``) or the ``k``-th distance alone (OpenOOD's KNN, ``reduce="kth"``)."""
    if reduce not in REDUCTIONS:
        raise ValueError(f"reduce must be one of {REDUCTIONS}, got {reduce!r}")
    dist = knn_distances(reference, queries, k, metric)
    return dist.mean(axis=1) if reduce == "mean" else dist[:, -1]


def cluster_means(features, labels) -> tuple[np.ndarray, np.ndarray]:
    """(the sorted cluster ids, [C, D] mean embedding of each) of labelled training embeddings."""
    feats = _features(features, "features").astype(np.float64)
    labels = np.asarray(labels)
    if labels.shape != (feats.shape[0],):
        raise ValueError(f"labels must hold one id per feature row ({feats.shape[0]}), got shape {labels.shape}")
    ids = np.unique(labels)
    return ids, np.stack([feats[labels == c].mean(axis=0) for c in ids])


def shared_precision(features, labels) -> np.ndarray:
    """[D, D] inverse of the covariance shared by all clusters (Lee et al. 2018): scikit-learn's
    ``EmpiricalCovariance`` of the features centred on their own cluster's mean."""
    feats = _features(features, "features").astype(np.float64)
    ids, means = cluster_means(feats, labels)
    centred = feats - means[np.searchsorted(ids, np.asarray(labels))]
    return EmpiricalCovariance(assume_centered=True).fit(centred).precision_


def ledoit_wolf_covariances(features, labels) -> np.ndarray:
    """[C, D, D] one Ledoit-Wolf shrunk covariance per cluster (sorted ids), for clusters with few members
    in many dimensions, whose empirical covariance is singular.

    The estimate is scikit-learn's ``LedoitWolf().fit(x).covariance_`` (its ``ledoit_wolf_shrinkage``
    formula, written out here; ``tests/unit/test_feature_scores.py`` checks it against scikit-learn): the
    estimator's input checks and pseudo-inverse cost 0.9 ms a cluster, and notebook 08's quick grid fits
    15,000 clusters (13 s); these few array operations a cluster cost a tenth of that."""
    feats = _features(features, "features").astype(np.float64)
    labels = np.asarray(labels)
    if labels.shape != (feats.shape[0],):
        raise ValueError(f"labels must hold one id per feature row ({feats.shape[0]}), got shape {labels.shape}")
    ids, counts = np.unique(labels, return_counts=True)
    if (counts < 2).any():
        raise ValueError(f"clusters {ids[counts < 2].tolist()} have fewer than 2 members; a covariance needs at least 2")
    order = np.argsort(labels, kind="stable")
    d = feats.shape[1]
    out = np.empty((len(ids), d, d))
    for c, x in enumerate(np.split(feats[order], np.cumsum(counts)[:-1])):
        n = len(x)
        x = x - x.mean(0)
        emp = x.T @ x / n
        mu = np.trace(emp) / d
        x2 = x ** 2
        beta = ((x2.T @ x2).sum() / n - (emp ** 2).sum()) / (d * n)
        delta = ((emp ** 2).sum() - 2 * mu * np.trace(emp) + d * mu ** 2) / d
        beta = min(beta, delta)
        shrinkage = 0.0 if beta == 0 else beta / delta
        out[c] = (1 - shrinkage) * emp
        out[c].flat[:: d + 1] += shrinkage * mu
    return out


def covariance_whitening(covariance) -> np.ndarray:
    """W with W W^T the pseudo-inverse of a [D, D] covariance (or one W a matrix of a [C, D, D] stack), from
    one batched eigendecomposition; eigenvalues below scikit-learn's ``pinvh`` cut-off count as zero."""
    values, vectors = _symmetric_eigh(covariance, "covariance")
    cutoff = np.abs(values).max(axis=-1, keepdims=True) * values.shape[-1] * np.finfo(np.float64).eps
    inv_sqrt = np.where(values > cutoff, 1.0 / np.sqrt(np.where(values > cutoff, values, 1.0)), 0.0)
    return vectors * inv_sqrt[..., None, :]


def per_cluster_precisions(features, labels) -> np.ndarray:
    """[C, D, D] one Ledoit-Wolf shrunk precision matrix per cluster (sorted ids): the pseudo-inverses of
    ``ledoit_wolf_covariances``."""
    w = covariance_whitening(ledoit_wolf_covariances(features, labels))
    return w @ np.swapaxes(w, -1, -2)


def centre_distances(queries, centres, metric: str = "euclidean", precision=None, whitening=None) -> np.ndarray:
    """[Q, C] distance of each query to each centre. "euclidean": ||z - mu||; "cosine": 1 - cos(z, mu)
    (the centre normalised too); "mahalanobis": (z - mu)^T P (z - mu) with ``precision`` P either one
    [D, D] matrix shared by all centres or [C, D, D], one a centre; or give ``whitening`` (that of
    :func:`mahalanobis_whitening`, computed once when the same centres score many query sets) instead."""
    z = _features(queries, "queries").astype(np.float64)
    mu = _features(centres, "centres").astype(np.float64)
    if z.shape[1] != mu.shape[1]:
        raise ValueError(f"queries have {z.shape[1]} features but centres {mu.shape[1]}")
    if metric == "euclidean":  # scikit-learn's BLAS form: a broadcast [Q, C, D] is slow for many centres
        return euclidean_distances(z, mu)
    if metric == "cosine":
        return 1.0 - l2_normalise(z).astype(np.float64) @ l2_normalise(mu).astype(np.float64).T
    if metric == "mahalanobis":
        if precision is None and whitening is None:
            raise ValueError("metric 'mahalanobis' needs precision: shared_precision(...) or per_cluster_precisions(...)")
        w = np.asarray(whitening if whitening is not None else mahalanobis_whitening(precision), dtype=np.float64)
        d = z.shape[1]
        if w.shape not in ((d, d), (mu.shape[0], d, d)):
            raise ValueError(f"precision must be [{d}, {d}] or [{mu.shape[0]}, {d}, {d}], got {w.shape}")
        if w.ndim == 2:  # one shared matrix
            zw, mw = z @ w, mu @ w
            return np.maximum((zw ** 2).sum(1)[:, None] - 2 * zw @ mw.T + (mw ** 2).sum(1)[None], 0.0)
        # ||z W_c - mu_c W_c||^2 for every centre c: one matrix product for a block of centres at a time
        # (a [Q, block, D] array stays small), instead of a Python loop over centres
        out = np.empty((len(z), len(mu)))
        block = max(1, 2 ** 22 // max(1, len(z) * d))
        for s in range(0, len(mu), block):
            wc = w[s:s + block]
            zw = (z @ wc.transpose(1, 0, 2).reshape(d, -1)).reshape(len(z), len(wc), d)
            zw -= np.einsum("cd,cde->ce", mu[s:s + block], wc)[None]
            out[:, s:s + block] = np.einsum("qcd,qcd->qc", zw, zw)
        return out
    raise ValueError(f"metric must be 'euclidean', 'cosine' or 'mahalanobis', got {metric!r}")


def mahalanobis_whitening(precision) -> np.ndarray:
    """W with W W^T = P for a [D, D] precision P (or one W a matrix of a [C, D, D] stack), from the
    eigendecomposition, rounding-error negative eigenvalues set to 0; then (z - mu)^T P (z - mu) =
    ||(z - mu) W||^2 and BLAS does the work: for 3,000 queries x 80 centres x 64 dimensions an einsum
    over [Q, C, D] took 1.9 s on one core, this 0.01 s."""
    values, vectors = _symmetric_eigh(precision, "precision")
    return vectors * np.sqrt(np.maximum(values, 0.0))[..., None, :]


def _symmetric_eigh(matrix, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues and eigenvectors of a [D, D] or [C, D, D] matrix made exactly symmetric first."""
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim not in (2, 3) or m.shape[-1] != m.shape[-2]:
        raise ValueError(f"{what} must be [D, D] or [C, D, D], got shape {m.shape}")
    return np.linalg.eigh((m + np.swapaxes(m, -1, -2)) / 2)


def nearest_centre_score(distances) -> np.ndarray:
    """min over centres of a [Q, C] distance matrix: the distance-to-clusters OOD score."""
    d = np.asarray(distances, dtype=np.float64)
    if d.ndim != 2 or d.shape[1] == 0:
        raise ValueError(f"distances must be a [Q, C] array with C >= 1, got shape {d.shape}")
    return d.min(axis=1)


def nearest_ratio_score(distances) -> np.ndarray:
    """d1 / d2, the nearest over the second-nearest centre distance (the "distance relationship" variant)."""
    d = np.sort(np.asarray(distances, dtype=np.float64), axis=1)
    if d.ndim != 2 or d.shape[1] < 2:
        raise ValueError(f"the ratio score needs at least 2 centres, got distances of shape {d.shape}")
    return d[:, 0] / np.maximum(d[:, 1], 1e-12)
