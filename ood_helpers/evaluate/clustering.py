"""OOD clustering (paper 000 section 5.3, Table 4): the greedy class-homogeneity clustering
(eq. 3-4), an average-linkage variant on the same pair probabilities, and the baselines
(k-means; PCA + t-SNE + DBSCAN).

Every clusterer returns one integer label per sample; samples left unclustered (greedy
leftovers, DBSCAN noise) get a label of their own, so they count as singleton clusters
in the clustering accuracy (``cluster_metrics.clustering_accuracy``).

The homogeneity model enters only through ``score_sets(emb [B, K, D], lengths [B]) ->
probs [B, K]`` (``HomogeneityModel.score_embeddings``): the set of the first
``lengths[b]`` rows of ``emb[b]`` is scored, the last valid row is the query, and the set's
homogeneity probability is the output at position 0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.cluster import DBSCAN, AgglomerativeClustering, KMeans
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

ScoreSets = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

THRESHOLD = 0.5  # eq. 3-4: a set is homogeneous when M(S) > 0.5
# OpenMP and BLAS threads spin while waiting for a core: on a busy 2-core machine t-SNE ran
# 30x slower with 2 threads than with 1 (65 s vs 2.6 s for 200 points) and PCA's SVD took 1 s
# instead of milliseconds, so PCA, t-SNE and k-means run on one thread (threadpoolctl); a few
# thousand points stay within seconds that way.
SKLEARN_THREADS = 1
# The same holds for torch's intra-op threads on the small sets scored here: the greedy
# clustering of 200 samples took 34.5 s with 2 threads and 1.0 s with 1 on that machine.
TORCH_CPU_THREADS = 1

# Paper 000, Table 4 (ImageNet test classes 901-910, -920, -940, -980, -1000), mean and std
# over five trials. Columns map by position onto a profile's ``eval_ranges``.
PAPER_TABLE4_RANGES = ("901-910", "901-920", "901-940", "901-980", "901-1000")
PAPER_TABLE4: dict[str, list[tuple[float, float]]] = {
    "K-means (embeddings trained on all classes)": [
        (89.04, 3.36), (84.19, 2.50), (81.35, 2.10), (75.59, 1.59), (75.32, 1.12)],
    "PCA + t-SNE + DBSCAN (embeddings trained on all classes)": [
        (48.24, 2.80), (32.74, 1.31), (22.04, 0.75), (16.20, 0.63), (14.12, 0.35)],
    "PCA + t-SNE + DBSCAN (images)": [
        (16.48, 0.80), (9.65, 1.14), (7.53, 0.26), (5.33, 0.36), (4.22, 0.21)],
    "PCA + t-SNE + DBSCAN (pretrained embeddings)": [
        (47.98, 2.95), (29.22, 3.83), (20.05, 1.34), (14.79, 0.27), (13.05, 0.31)],
    "PCA + t-SNE + DBSCAN (fine-tuned embeddings)": [
        (53.40, 4.84), (33.47, 2.17), (21.93, 1.32), (15.25, 0.49), (13.48, 0.49)],
    "Class Homogeneity (greedy, eq. 3-4)": [
        (57.12, 1.99), (41.64, 4.59), (34.42, 2.99), (1.00, 0.00), (5.59, 9.18)],
}
AGGLOMERATIVE_ROW = "Class Homogeneity + average linkage (ours)"


# ===== pair probabilities (eq. 3) =====


def _as_embeddings(emb) -> torch.Tensor:
    emb = torch.as_tensor(emb)
    if emb.ndim != 2 or emb.shape[0] == 0:
        raise ValueError(f"embeddings must be a non-empty [N, D] array, got shape {tuple(emb.shape)}")
    if not torch.is_floating_point(emb):
        emb = emb.float()
    return emb


@contextmanager
def _cpu_threads(device: torch.device) -> Iterator[None]:
    """Runs the block with ``TORCH_CPU_THREADS`` torch threads when scoring on the CPU."""
    if device.type != "cpu":
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(TORCH_CPU_THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _score(score_sets: ScoreSets, sets: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        probs = score_sets(sets, lengths)
    if probs.shape[:1] != sets.shape[:1] or probs.ndim != 2:
        raise ValueError(
            f"score_sets must return probs [B, K] for B={sets.shape[0]} sets, got shape {tuple(probs.shape)}"
        )
    return probs[:, 0].detach().float().cpu()


def pairwise_homogeneity(emb, score_sets: ScoreSets, *, chunk_size: int = 8192, progress: bool = False) -> np.ndarray:
    """[N, N] float array: entry (i, j) = M({x_i, x_j}) with x_j as the query; the diagonal is NaN.

    Every ordered pair is one 2-set; the pairs are scored in batches of ``chunk_size`` sets
    so memory stays bounded (N^2 sets at once would not fit for the paper's 5,000 samples).
    """
    emb = _as_embeddings(emb)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    n = emb.shape[0]
    out = np.full((n, n), np.nan, dtype=np.float32)
    rows_per_chunk = max(1, chunk_size // n)
    cols = torch.arange(n, device=emb.device)
    with _cpu_threads(emb.device):
        for s in tqdm(range(0, n, rows_per_chunk), desc="pair probabilities", disable=not progress, leave=False):
            rows = torch.arange(s, min(n, s + rows_per_chunk), device=emb.device)
            i = rows.repeat_interleave(n)
            j = cols.repeat(len(rows))
            sets = torch.stack([emb[i], emb[j]], dim=1)  # [rows * n, 2, D], query x_j last
            lengths = torch.full((len(i),), 2, dtype=torch.long, device=emb.device)
            out[s : s + len(rows)] = _score(score_sets, sets, lengths).view(len(rows), n).numpy()
    np.fill_diagonal(out, np.nan)
    return out


# ===== the paper's greedy clustering (eq. 3-4) =====


def greedy_homogeneity_clustering(
    emb,
    score_sets: ScoreSets,
    *,
    set_size: int,
    rng: np.random.Generator,
    pair_probs: np.ndarray | None = None,
    threshold: float = THRESHOLD,
    chunk_size: int = 8192,
    progress: bool = False,
    info: dict | None = None,
) -> np.ndarray:
    """Cluster labels [N] (int64, 0..C-1) from the paper's bottom-up algorithm.

    Eq. 3 seeds a cluster with the unlabelled pair of highest probability above
    ``threshold``; eq. 4 grows it, one sample per step, with the unlabelled sample of
    highest probability of joining it, while above ``threshold``. A cluster holding more
    than ``set_size - 1`` samples is compared through ``set_size - 1`` members drawn
    uniformly without replacement by ``rng`` at every growth step. Samples never clustered
    become singletons. ``pair_probs`` (from ``pairwise_homogeneity``) can be passed to
    reuse the pair scores across runs. A dict passed as ``info`` receives the counts
    ``growth_steps`` (batched forwards of eq. 4) and ``subsampled_steps`` (steps that drew
    k - 1 members; when 0, ``rng`` was never used and the result does not depend on it).
    """
    emb = _as_embeddings(emb)
    n = emb.shape[0]
    if not isinstance(set_size, (int, np.integer)) or set_size < 2:
        raise ValueError(f"set_size (k) must be an integer >= 2, got {set_size!r}")
    if not 0.0 <= threshold < 1.0:
        raise ValueError(f"threshold must be in [0, 1), got {threshold}")
    if pair_probs is None:
        pair_probs = pairwise_homogeneity(emb, score_sets, chunk_size=chunk_size, progress=progress)
    pair_probs = np.asarray(pair_probs, dtype=np.float64)
    if pair_probs.shape != (n, n):
        raise ValueError(f"pair_probs must be [N, N] = [{n}, {n}], got shape {pair_probs.shape}")
    # The pair matrix is computed once: a pair's score depends only on its two samples,
    # never on the clusters built so far, so masking labelled samples keeps it exact.
    pairs = pair_probs.copy()
    np.fill_diagonal(pairs, -np.inf)
    pairs[np.isnan(pairs)] = -np.inf

    labels = np.full(n, -1, dtype=np.int64)
    free = np.ones(n, dtype=bool)
    cluster = 0
    steps = {"growth_steps": 0, "subsampled_steps": 0}
    bar = tqdm(total=n, desc="greedy clustering", disable=not progress, leave=False)
    while free.sum() >= 2:
        flat = int(np.argmax(pairs))
        i, j = divmod(flat, n)
        if not pairs[i, j] > threshold:
            break
        members = [i, j]
        _take(free, pairs, [i, j])
        while free.any():
            candidates = np.flatnonzero(free)
            steps["growth_steps"] += 1
            steps["subsampled_steps"] += len(members) > set_size - 1
            with _cpu_threads(emb.device):
                probs = _join_probs(emb, score_sets, members, candidates, set_size, rng, chunk_size)
            best = int(np.argmax(probs))
            if not probs[best] > threshold:
                break
            members.append(int(candidates[best]))
            _take(free, pairs, [int(candidates[best])])
        labels[members] = cluster
        cluster += 1
        bar.update(len(members))
    bar.close()
    leftovers = np.flatnonzero(labels < 0)
    labels[leftovers] = cluster + np.arange(len(leftovers))
    if info is not None:
        info.update(steps)
    return labels


def _take(free: np.ndarray, pairs: np.ndarray, idx: list[int]) -> None:
    free[idx] = False
    pairs[idx, :] = -np.inf
    pairs[:, idx] = -np.inf


def _join_probs(emb, score_sets, members, candidates, set_size, rng, chunk_size) -> np.ndarray:
    """M(Q ∪ {x}) for every candidate x, as one batched forward (chunked by set count)."""
    if len(members) > set_size - 1:
        members = rng.choice(np.asarray(members), size=set_size - 1, replace=False)
    support = emb[torch.as_tensor(np.asarray(members), device=emb.device)]  # [m, D]
    m = support.shape[0]
    per_chunk = max(1, chunk_size // (m + 1))
    out = []
    for s in range(0, len(candidates), per_chunk):
        cand = torch.as_tensor(candidates[s : s + per_chunk], device=emb.device)
        b = len(cand)
        sets = torch.cat([support.unsqueeze(0).expand(b, m, -1), emb[cand].unsqueeze(1)], dim=1)
        lengths = torch.full((b,), m + 1, dtype=torch.long, device=emb.device)
        out.append(_score(score_sets, sets, lengths))
    return torch.cat(out).numpy()


# ===== beyond the paper: average linkage on the same pair probabilities =====


def agglomerative_homogeneity_clustering(pair_probs: np.ndarray, *, threshold: float = THRESHOLD) -> np.ndarray:
    """Cluster labels [N] from average-linkage clustering of the distance 1 - P, cut at 1 - ``threshold``.

    P is the pair-probability matrix symmetrised as (P + P^T) / 2. Two clusters merge while
    the mean pair probability between them exceeds ``threshold``: the same evidence as the
    greedy algorithm, but a merge needs the whole cluster's support, not one seed pair.
    """
    p = np.asarray(pair_probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != p.shape[1] or p.shape[0] == 0:
        raise ValueError(f"pair_probs must be a square [N, N] matrix, got shape {p.shape}")
    n = p.shape[0]
    if n == 1:
        return np.zeros(1, dtype=np.int64)
    p = (p + p.T) / 2
    dist = 1.0 - p
    np.fill_diagonal(dist, 0.0)
    if np.isnan(dist).any():
        raise ValueError("pair_probs holds NaN off the diagonal; compute it with pairwise_homogeneity")
    model = AgglomerativeClustering(
        n_clusters=None, metric="precomputed", linkage="average", distance_threshold=1.0 - threshold
    )
    return model.fit_predict(dist).astype(np.int64)


# ===== baselines =====


def kmeans_clustering(x, n_clusters: int, *, seed: int) -> np.ndarray:
    """Cluster labels [N] from k-means with k = ``n_clusters`` (the true class count) on rows of ``x``."""
    x = _flat(x)
    if not 1 <= n_clusters <= len(x):
        raise ValueError(f"n_clusters must be between 1 and the {len(x)} samples, got {n_clusters}")
    with threadpool_limits(SKLEARN_THREADS):
        return KMeans(n_clusters=n_clusters, n_init=10, random_state=seed).fit_predict(x).astype(np.int64)


def tsne_perplexity(n_samples: int) -> float:
    """t-SNE perplexity used here: sklearn's default 30, lowered to n - 1 for tiny sample counts."""
    if n_samples < 2:
        raise ValueError(f"t-SNE needs at least 2 samples, got {n_samples}")
    return float(min(30, n_samples - 1))


def pca_tsne(x, *, seed: int, pca_dim: int = 2) -> np.ndarray:
    """[N, 2] t-SNE coordinates of ``x`` after PCA to ``pca_dim`` dimensions (the paper's 2)."""
    x = _flat(x)
    if len(x) < 2:
        raise ValueError(f"PCA + t-SNE needs at least 2 samples, got {len(x)}")
    dim = min(pca_dim, x.shape[1], len(x))
    with threadpool_limits(SKLEARN_THREADS):
        reduced = PCA(n_components=dim, random_state=seed).fit_transform(x)
    # init="random" was scikit-learn's default when the paper was written (a PCA start, today's
    # default, makes the map nearly independent of the seed, so trials would not differ)
    tsne = TSNE(n_components=2, perplexity=tsne_perplexity(len(x)), init="random", random_state=seed)
    with threadpool_limits(SKLEARN_THREADS):
        return tsne.fit_transform(reduced)


def tsne_dbscan_clustering(x, *, eps: float, min_samples: int, seed: int, pca_dim: int = 2) -> np.ndarray:
    """Cluster labels [N] from PCA -> t-SNE (2-D) -> DBSCAN(eps, min_samples); noise points become singletons."""
    if eps <= 0 or min_samples < 1:
        raise ValueError(f"DBSCAN needs eps > 0 and min_samples >= 1, got eps={eps}, min_samples={min_samples}")
    coords = pca_tsne(x, seed=seed, pca_dim=pca_dim)
    labels = DBSCAN(eps=eps, min_samples=min_samples).fit_predict(coords).astype(np.int64)
    noise = np.flatnonzero(labels < 0)
    labels[noise] = labels.max(initial=-1) + 1 + np.arange(len(noise))
    return labels


def _flat(x) -> np.ndarray:
    """Rows of ``x`` as float64 vectors (images [N, C, H, W] are flattened)."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().float().numpy()
    x = np.asarray(x, dtype=np.float64)
    if x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(f"expected a non-empty [N, D] or [N, C, H, W] array, got shape {x.shape}")
    return x.reshape(len(x), -1)


# ===== Table 4: every method over growing ranges of test classes and trials =====

DBSCAN_EMBEDDINGS = {"eps": 1.75, "min_samples": 5}  # paper 000 section 5.3
DBSCAN_IMAGES = {"eps": 2.3, "min_samples": 1}
FEATURE_ROWS = {  # feature name -> Table 4 row of PCA + t-SNE + DBSCAN on it
    "all": "PCA + t-SNE + DBSCAN (embeddings trained on all classes)",
    "images": "PCA + t-SNE + DBSCAN (images)",
    "pretrained": "PCA + t-SNE + DBSCAN (pretrained embeddings)",
    "fine-tuned": "PCA + t-SNE + DBSCAN (fine-tuned embeddings)",
}
KMEANS_ROW = "K-means (embeddings trained on all classes)"
GREEDY_ROW = "Class Homogeneity (greedy, eq. 3-4)"


def range_label(n_classes: int) -> str:
    """Column label of a class range in our tables."""
    return f"{n_classes} class" if n_classes == 1 else f"{n_classes} classes"


def paper_table4(sizes) -> dict[str, dict[str, str]]:
    """{row: {range_label(n): "mean ± std"}}: the paper's ranges mapped by position onto ``sizes``."""
    return {
        row: {range_label(n): f"{m:.2f} ± {s:.2f}" for n, (m, s) in zip(sizes, values)}
        for row, values in PAPER_TABLE4.items()
    }


@dataclass
class ClusteringInputs:
    """What Table 4 clusters: the test samples of the profile's test classes and their features."""

    labels: np.ndarray  # [N] original class ids of the test samples
    class_names: list  # class id -> name of the many-class dataset
    ranges: list  # class ids of each growing range (profile.eval_ranges)
    features: dict  # "all" | "pretrained" | "fine-tuned" | "images" -> [N, ...] tensor
    emb: torch.Tensor  # [N, D] homogeneity-model embeddings (= features["fine-tuned"]) on the model's device
    score_sets: ScoreSets  # the variant-2 homogeneity model's set scorer
    history: dict  # training history of the homogeneity model (best step, validation accuracy)


def pair_summary(pair_probs: np.ndarray, labels) -> "pd.DataFrame":
    """Table of the eq. 3 pair test: for same-class and different-class pairs, their count,
    mean probability and the percentage judged homogeneous (probability > 0.5)."""
    import pandas as pd

    labels = np.asarray(labels)
    p = np.asarray(pair_probs, dtype=float)
    if p.shape != (len(labels), len(labels)):
        raise ValueError(f"pair_probs must be [N, N] for the {len(labels)} labels, got shape {p.shape}")
    off = ~np.eye(len(labels), dtype=bool)
    same = (labels[:, None] == labels[None, :]) & off
    rows = []
    for name, mask in (("same class", same), ("different class", off & ~same)):
        vals = p[mask]
        rows.append({"pairs": name, "count": int(mask.sum()),
                     "mean probability": float(vals.mean()) if vals.size else float("nan"),
                     "% above 0.5": 100.0 * float((vals > THRESHOLD).mean()) if vals.size else float("nan")})
    return pd.DataFrame(rows).set_index("pairs")


def cluster_size_table(records) -> "pd.DataFrame":
    """Predicted clusters (mean ± std over trials) per method and range, under a "true classes" row,
    and the share of samples in the largest cluster (percent): how a collapse shows."""
    import pandas as pd

    from ..tables import trials_table

    df = pd.DataFrame(list(records))
    truth = df.drop_duplicates(["classes", "trial"]).assign(method="true classes", n_clusters=df["n_classes"])
    both = pd.concat([truth, df], ignore_index=True)
    counts = trials_table(both, "method", "classes", "n_clusters", digits=1)
    largest = trials_table(df, "method", "classes", "largest_cluster", digits=1, scale=100)
    largest.columns = [f"{c}: largest %" for c in largest.columns]
    counts.columns = [f"{c}: clusters" for c in counts.columns]
    counts.attrs, largest.attrs = {}, {}  # pandas compares attrs on join; DataFrame summaries there raise
    return counts.join(largest).fillna("–")


def model_scorer(model: torch.nn.Module) -> ScoreSets:
    """``score_sets`` for a trained ``HomogeneityModel``: eval mode (no dropout), inputs moved to its device."""
    model.eval()
    device = next(model.parameters()).device

    def score(emb: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return model.score_embeddings(emb.to(device), lengths.to(device))

    return score


def clustering_trials(
    labels,
    features: dict,
    emb,
    score_sets: ScoreSets,
    ranges,
    *,
    set_size: int,
    seeds,
    pair_probs: np.ndarray | None = None,
    progress: bool = True,
) -> tuple[list[dict], dict]:
    """Runs every Table 4 method on each class range for each seed.

    ``labels`` [N] are the true classes of the test samples; ``features`` maps "all",
    "pretrained", "fine-tuned" and "images" to [N, ...] arrays; ``emb`` [N, D] are the
    homogeneity model's embeddings scored by ``score_sets``; ``ranges`` holds the class ids
    of each range. Returns (records, predictions): one record per (method, range, trial)
    with ``accuracy`` (eq. 2, percent), ``n_clusters`` and ``largest_cluster`` (fraction of
    samples in the biggest cluster); predictions[(row, n_classes, trial)] = labels.
    """
    from .cluster_metrics import clustering_accuracy

    labels = np.asarray(labels)
    emb = _as_embeddings(emb)
    if len(labels) != len(emb):
        raise ValueError(f"labels ({len(labels)}) and embeddings ({len(emb)}) must describe the same samples")
    missing = sorted(set(FEATURE_ROWS) - set(features))
    if missing:
        raise ValueError(f"features lack {missing}; expected keys {sorted(FEATURE_ROWS)}")
    if pair_probs is None:
        # one pair matrix over every sample serves every range: a pair's score ignores the others
        pair_probs = pairwise_homogeneity(emb, score_sets, progress=progress)
    records, predictions = [], {}
    deterministic: dict[tuple, np.ndarray] = {}  # greedy runs that never subsampled, by range
    jobs = [(r, trial, int(s)) for r in ranges for trial, s in enumerate(seeds)]
    for classes, trial, seed in tqdm(jobs, desc="Table 4", disable=not progress):
        idx = np.flatnonzero(np.isin(labels, classes))
        if len(idx) < 2:
            raise ValueError(f"class range {list(classes)} holds {len(idx)} test samples; need at least 2")
        y = labels[idx]
        n_classes = len(classes)
        sub_pairs = pair_probs[np.ix_(idx, idx)]
        preds = {
            KMEANS_ROW: kmeans_clustering(features["all"][idx], n_classes, seed=seed),
            **{
                row: tsne_dbscan_clustering(
                    features[name][idx], seed=seed, **(DBSCAN_IMAGES if name == "images" else DBSCAN_EMBEDDINGS)
                )
                for name, row in FEATURE_ROWS.items()
            },
            GREEDY_ROW: _greedy_once(emb[torch.as_tensor(idx)], score_sets, set_size, seed, sub_pairs,
                                     deterministic, tuple(int(c) for c in classes)),
            AGGLOMERATIVE_ROW: agglomerative_homogeneity_clustering(sub_pairs),
        }
        for row, pred in preds.items():
            counts = np.bincount(np.unique(pred, return_inverse=True)[1])
            records.append({
                "method": row, "classes": range_label(n_classes), "n_classes": n_classes, "trial": trial,
                "seed": int(seed), "accuracy": clustering_accuracy(y, pred), "n_clusters": int(len(counts)),
                "largest_cluster": float(counts.max() / len(pred)),
            })
            predictions[(row, n_classes, trial)] = pred
    return records, predictions


def _greedy_once(emb, score_sets, set_size, seed, pair_probs, cache, key) -> np.ndarray:
    """Greedy labels for one trial; a run that never subsampled is reused by later trials,
    since without a draw the algorithm is deterministic and every seed gives the same labels."""
    if key in cache:
        return cache[key]
    info: dict = {}
    labels = greedy_homogeneity_clustering(
        emb, score_sets, set_size=set_size, rng=np.random.default_rng(seed), pair_probs=pair_probs, info=info
    )
    if info["subsampled_steps"] == 0:
        cache[key] = labels
    return labels
