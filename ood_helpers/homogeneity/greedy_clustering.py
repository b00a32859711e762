"""Clustering with the class-homogeneity model (paper 000 section 5.3): the paper's greedy
bottom-up algorithm (eq. 3-4) and, beyond the paper, average linkage on the same pair scores.

Both return one integer label per sample; samples the greedy algorithm never clusters get a
label of their own, so they count as singleton clusters in the clustering accuracy.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.special import expit
from sklearn.cluster import AgglomerativeClustering
from tqdm.auto import tqdm

from ood_helpers.homogeneity.pair_matrix import (THRESHOLD, ScoreSets, as_embeddings, cpu_threads, pair_probabilities, pairwise_homogeneity, score_logits)


def greedy_homogeneity_clustering(
    emb,
    score_sets: ScoreSets,
    *,
    set_size: int,
    rng: np.random.Generator,
    pair_logits: np.ndarray | None = None,
    threshold: float = THRESHOLD,
    batch_sets: int = 4096,
    progress: bool = False,
    info: dict | None = None,
) -> np.ndarray:
    """Cluster labels [N] (int64, 0..C-1) from the paper's bottom-up algorithm.

    Eq. 3 seeds a cluster with the unlabelled pair of highest score whose probability
    (sigmoid of the logit) exceeds ``threshold``; eq. 4 grows it, one sample per step, with
    the unlabelled sample of highest score of joining it, while its probability exceeds
    ``threshold``. A cluster holding more than ``set_size - 1`` samples is compared through
    ``set_size - 1`` members drawn uniformly without replacement by ``rng`` at every growth
    step. Samples never clustered become singletons. ``pair_logits`` (from
    ``pairwise_homogeneity``) can be passed to reuse the pair scores across runs. ``emb`` is
    scored on the device it lies on, ``batch_sets`` sets per forward pass.
    A dict passed as ``info`` receives the counts ``growth_steps`` (batched forwards of eq. 4)
    and ``subsampled_steps`` (steps that drew k - 1 members; when 0, ``rng`` was never used
    and the result does not depend on it).
    """
    emb = as_embeddings(emb)
    n = emb.shape[0]
    if not isinstance(set_size, (int, np.integer)) or set_size < 2:
        raise ValueError(f"set_size (k) must be an integer >= 2, got {set_size!r}")
    if not 0.0 <= threshold < 1.0:
        raise ValueError(f"threshold must be a probability in [0, 1), got {threshold}")
    if pair_logits is None:
        pair_logits = pairwise_homogeneity(emb, score_sets, batch_sets=batch_sets, progress=progress)
    pairs = np.array(pair_logits, dtype=np.float64)
    if pairs.shape != (n, n):
        raise ValueError(f"pair_logits must be [N, N] = [{n}, {n}], got shape {pairs.shape}")
    # The pair matrix is computed once: a pair's score depends only on its two samples,
    # never on the clusters built so far, so masking labelled samples keeps it exact.
    np.fill_diagonal(pairs, -np.inf)
    pairs[np.isnan(pairs)] = -np.inf

    labels = np.full(n, -1, dtype=np.int64)
    free = np.ones(n, dtype=bool)
    cluster = 0
    steps = {"growth_steps": 0, "subsampled_steps": 0}
    bar = tqdm(total=n, desc="greedy clustering", disable=not progress, leave=False)
    while free.sum() >= 2:
        i, j = divmod(int(np.argmax(pairs)), n)
        if not expit(pairs[i, j]) > threshold:
            break
        members = [i, j]
        _take(free, pairs, [i, j])
        while free.any():
            candidates = np.flatnonzero(free)
            steps["growth_steps"] += 1
            steps["subsampled_steps"] += len(members) > set_size - 1
            with cpu_threads(emb.device):
                logits = _join_logits(emb, score_sets, members, candidates, set_size, rng, batch_sets)
            best = int(np.argmax(logits))
            if not expit(float(logits[best])) > threshold:
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


def _join_logits(emb, score_sets, members, candidates, set_size, rng, batch_sets) -> np.ndarray:
    """Logits of Q ∪ {x} for every candidate x, ``batch_sets`` sets per forward pass."""
    if len(members) > set_size - 1:
        members = rng.choice(np.asarray(members), size=set_size - 1, replace=False)
    support = emb[torch.as_tensor(np.asarray(members), device=emb.device)]  # [m, D]
    m = support.shape[0]
    out = []
    for s in range(0, len(candidates), batch_sets):
        cand = torch.as_tensor(candidates[s : s + batch_sets], device=emb.device)
        b = len(cand)
        sets = torch.cat([support.unsqueeze(0).expand(b, m, -1), emb[cand].unsqueeze(1)], dim=1)
        lengths = torch.full((b,), m + 1, dtype=torch.long, device=emb.device)
        out.append(score_logits(score_sets, sets, lengths))
    return torch.cat(out).numpy()


def agglomerative_homogeneity_clustering(pair_logits: np.ndarray, *, threshold: float = THRESHOLD) -> np.ndarray:
    """Cluster labels [N] from average-linkage clustering of the distance 1 - P, cut at 1 - ``threshold``.

    P = sigmoid(``pair_logits``), symmetrised as (P + P^T) / 2. Two clusters merge while the
    mean pair probability between them exceeds ``threshold``: the same evidence as the greedy
    algorithm, but a merge needs the whole cluster's support, not one seed pair.
    """
    p = pair_probabilities(pair_logits)
    if p.ndim != 2 or p.shape[0] != p.shape[1] or p.shape[0] == 0:
        raise ValueError(f"pair_logits must be a square [N, N] matrix, got shape {p.shape}")
    n = p.shape[0]
    if n == 1:
        return np.zeros(1, dtype=np.int64)
    p = (p + p.T) / 2
    dist = 1.0 - p
    np.fill_diagonal(dist, 0.0)
    if np.isnan(dist).any():
        raise ValueError("pair_logits holds NaN off the diagonal; compute it with pairwise_homogeneity")
    model = AgglomerativeClustering(
        n_clusters=None, metric="precomputed", linkage="average", distance_threshold=1.0 - threshold
    )
    return model.fit_predict(dist).astype(np.int64)
