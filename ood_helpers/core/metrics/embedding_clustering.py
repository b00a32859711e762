"""Table 4's baselines (paper 000 section 5.3): k-means and PCA + t-SNE + DBSCAN, with the one
t-SNE setting of the project (``tsne_2020``), which Fig. 3 draws with too.

Every clusterer returns one integer label per sample; DBSCAN's noise points get a label of
their own, so they count as singleton clusters in the clustering accuracy.
"""

from __future__ import annotations

import inspect

import numpy as np
import torch
from sklearn.cluster import DBSCAN, KMeans
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from threadpoolctl import threadpool_limits

# PCA, t-SNE and k-means run on the process's torch thread count (the profile's ``threads``, which
# ``overrides.notebook_profile`` sets), so one count governs a notebook and a rerun with it repeats the run.
# Alone on 2 cores, t-SNE of 1,000 points takes 1.6 s on 2 threads against 2.5 s on 1 (the same coordinates);
# beside another busy process OpenMP threads spin while waiting for a core (t-SNE ran 30x slower on 2 threads
# than on 1 there): run one notebook at a time, or set ``threads=1``.


def sklearn_threads() -> int:
    """Threads scikit-learn's OpenMP / BLAS loops get here: torch's count for this process."""
    return max(1, torch.get_num_threads())


# scikit-learn's t-SNE defaults of 2020 (versions 0.22-0.23), when the paper was written.
# DBSCAN's eps is a distance in t-SNE's output, whose scale the learning rate sets, so the
# paper's eps only means what it meant with these settings (today's defaults: 'auto', 'pca').
TSNE_2020 = {"learning_rate": 200.0, "init": "random", "early_exaggeration": 12.0, "iterations": 1000}
# the iteration count is `max_iter` since scikit-learn 1.5 and was `n_iter` before
_ITER_PARAM = "max_iter" if "max_iter" in inspect.signature(TSNE).parameters else "n_iter"

DBSCAN_EMBEDDINGS = {"eps": 1.75, "min_samples": 5}  # paper 000 section 5.3
DBSCAN_IMAGES = {"eps": 2.3, "min_samples": 1}


def _flat(x) -> np.ndarray:
    """Rows of ``x`` as float64 vectors (images [N, C, H, W] are flattened)."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().float().numpy()
    x = np.asarray(x, dtype=np.float64)
    if x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(f"expected a non-empty [N, D] or [N, C, H, W] array, got shape {x.shape}")
    return x.reshape(len(x), -1)


def kmeans_clustering(x, n_clusters: int, *, seed: int) -> np.ndarray:
    """Cluster labels [N] from k-means with k = ``n_clusters`` (the true class count) on rows of ``x``."""
    x = _flat(x)
    if not 1 <= n_clusters <= len(x):
        raise ValueError(f"n_clusters must be between 1 and the {len(x)} samples, got {n_clusters}")
    with threadpool_limits(sklearn_threads()):
        return KMeans(n_clusters=n_clusters, n_init=10, random_state=seed).fit_predict(x).astype(np.int64)


def tsne_perplexity(n_samples: int) -> float:
    """t-SNE perplexity used here: the default 30, lowered to n - 1 for tiny sample counts
    (t-SNE needs it below the sample count)."""
    if n_samples < 2:
        raise ValueError(f"t-SNE needs at least 2 samples, got {n_samples}")
    return float(min(30, n_samples - 1))


def tsne_2020(x, *, seed: int, perplexity: float | None = None, learning_rate: float | str | None = None) -> np.ndarray:
    """[N, 2] t-SNE coordinates of the rows of ``x`` with scikit-learn's 2020 defaults:
    learning_rate=200, init="random", early_exaggeration=12, 1000 iterations,
    Barnes-Hut (angle 0.5) on squared Euclidean distances; ``random_state=seed``.

    ``perplexity`` defaults to ``tsne_perplexity(N)`` (30, or N - 1 below 31 samples) and must
    be below N. ``learning_rate`` overrides 200 (e.g. "auto", today's default) for comparisons.
    """
    x = _flat(x)
    n = len(x)
    perplexity = tsne_perplexity(n) if perplexity is None else float(perplexity)
    if not 0 < perplexity < n:
        raise ValueError(f"t-SNE perplexity must be in (0, {n}) for {n} samples, got {perplexity}")
    tsne = TSNE(
        n_components=2, perplexity=perplexity, early_exaggeration=TSNE_2020["early_exaggeration"],
        learning_rate=TSNE_2020["learning_rate"] if learning_rate is None else learning_rate,
        init=TSNE_2020["init"], random_state=seed, **{_ITER_PARAM: TSNE_2020["iterations"]},
    )
    with threadpool_limits(sklearn_threads()):
        return tsne.fit_transform(x)


def pca_tsne(x, *, seed: int, pca_dim: int = 2, learning_rate: float | str | None = None) -> np.ndarray:
    """[N, 2] ``tsne_2020`` coordinates of ``x`` after PCA to ``pca_dim`` dimensions (the paper's 2)."""
    x = _flat(x)
    if len(x) < 2:
        raise ValueError(f"PCA + t-SNE needs at least 2 samples, got {len(x)}")
    dim = min(pca_dim, x.shape[1], len(x))
    with threadpool_limits(sklearn_threads()):
        reduced = PCA(n_components=dim, random_state=seed).fit_transform(x)
    return tsne_2020(reduced, seed=seed, learning_rate=learning_rate)


def dbscan_labels(coords, *, eps: float, min_samples: int) -> np.ndarray:
    """Cluster labels [N] of DBSCAN(eps, min_samples) on ``coords``; each noise point becomes a singleton."""
    if eps <= 0 or min_samples < 1:
        raise ValueError(f"DBSCAN needs eps > 0 and min_samples >= 1, got eps={eps}, min_samples={min_samples}")
    labels = DBSCAN(eps=eps, min_samples=min_samples).fit_predict(np.asarray(coords)).astype(np.int64)
    noise = np.flatnonzero(labels < 0)
    labels[noise] = labels.max(initial=-1) + 1 + np.arange(len(noise))
    return labels


def tsne_dbscan_clustering(x, *, eps: float, min_samples: int, seed: int, pca_dim: int = 2,
                           learning_rate: float | str | None = None) -> np.ndarray:
    """Cluster labels [N] from PCA -> t-SNE (2-D, ``tsne_2020``) -> DBSCAN(eps, min_samples);
    noise points become singletons."""
    if eps <= 0 or min_samples < 1:  # checked before the t-SNE run, not after it
        raise ValueError(f"DBSCAN needs eps > 0 and min_samples >= 1, got eps={eps}, min_samples={min_samples}")
    coords = pca_tsne(x, seed=seed, pca_dim=pca_dim, learning_rate=learning_rate)
    return dbscan_labels(coords, eps=eps, min_samples=min_samples)
