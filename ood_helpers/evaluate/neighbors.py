"""Nearest-neighbour baselines of the class-homogeneity paper (section 5.2).

A query is compared with the k - 1 supports drawn for every candidate class; the class
score is the mean over those supports of the euclidean distance (negated, so that larger
is closer) or of the cosine similarity. The paper runs this in image space and on two
ResNet-18 embeddings (pretrained on the seen classes, fine-tuned by the homogeneity task).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

METRICS = ("euclidean", "cosine")


def _query_to_all(query_emb: torch.Tensor, emb: torch.Tensor, metric: str) -> torch.Tensor:
    """[q, N]: negated euclidean distance or cosine similarity of each query to every image."""
    if metric == "euclidean":
        # The direct difference form keeps the distances exact (no |a|^2 + |b|^2 - 2ab cancellation).
        return -torch.cdist(query_emb[None], emb[None], compute_mode="donot_use_mm_for_euclid_dist")[0]
    return F.normalize(query_emb, dim=1) @ F.normalize(emb, dim=1).T


def mean_support_scores(emb: torch.Tensor, queries: np.ndarray, supports: np.ndarray, *,
                        metric: str, chunk: int = 512, device: str = "cpu") -> torch.Tensor:
    """Class scores [Q, C] (float32, CPU): mean similarity of each query to its class supports.

    ``emb`` [N, D] holds one embedding per dataset image; ``queries`` [Q] and ``supports``
    [Q, C, k-1] index into it. Euclidean scores are minus the mean euclidean distance,
    cosine scores the mean cosine similarity; the predicted class is the argmax either way.
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {METRICS}")
    queries = np.asarray(queries)
    supports = np.asarray(supports)
    if emb.ndim != 2:
        raise ValueError(f"emb must be [N, D], got shape {tuple(emb.shape)}")
    if supports.ndim != 3 or supports.shape[0] != len(queries):
        raise ValueError(f"supports must be [Q, C, k-1] with Q = {len(queries)} queries, "
                         f"got shape {supports.shape}")
    emb = emb.to(device=device, dtype=torch.float32)
    out = torch.empty(supports.shape[:2], dtype=torch.float32)
    for start in range(0, len(queries), chunk):
        stop = min(start + chunk, len(queries))
        sim = _query_to_all(emb[torch.as_tensor(queries[start:stop], device=device)], emb, metric)
        sup = torch.as_tensor(supports[start:stop], device=device).long()
        rows = torch.arange(stop - start, device=device)[:, None, None]
        out[start:stop] = sim[rows, sup].mean(dim=2).cpu()
    return out
