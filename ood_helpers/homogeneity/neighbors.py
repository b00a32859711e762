"""Nearest-neighbour baselines of the class-homogeneity paper (section 5.2).

A query is compared with the k - 1 supports drawn for every candidate class; the class
score is the mean over those supports of the euclidean distance (negated, so that larger
is closer) or of the cosine similarity: the scorer convention of ``homogeneity.scorers``. The
paper runs this in image space and on two ResNet-18 embeddings (pretrained on the seen
classes, fine-tuned by the homogeneity task).

Precision: euclidean distances are float32 in the direct difference form (no |a|^2 + |b|^2
- 2ab cancellation; image-space vectors are long and close). Cosine similarities use unit
vectors kept in ``compute_dtype`` (bfloat16 on CUDA: about three significant digits per
similarity, averaged over k - 1 supports; float32 on the CPU).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ood_helpers.homogeneity.episodes import Episodes
from ood_helpers.homogeneity.scorers import compute_dtype

METRICS = ("euclidean", "cosine")


class NearestNeighbourScorer:
    """Mean similarity of each query to its supports of every candidate (an ``EpisodeScorer``).

    ``emb`` [N, D] holds one embedding per dataset image; it is moved to ``device`` once, here
    (unit rows for cosine). Queries are scored ``chunk`` at a time; a query image that repeats
    within a chunk has its row of similarities computed once.
    """

    def __init__(self, emb: torch.Tensor, metric: str, *, device: str = "cpu", chunk: int = 512):
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}; expected one of {METRICS}")
        if emb.ndim != 2:
            raise ValueError(f"emb must be [N, D], got shape {tuple(emb.shape)}")
        if not isinstance(chunk, int) or chunk < 1:
            raise ValueError(f"chunk (queries per step) must be a positive int, got {chunk!r}")
        self.metric, self.device, self.chunk = metric, device, chunk
        emb = emb.to(device=device, dtype=torch.float32)
        self.emb = F.normalize(emb, dim=1).to(compute_dtype(device)) if metric == "cosine" else emb

    def similarities(self, images: torch.Tensor) -> torch.Tensor:
        """[u, N] float32: negated euclidean distance or cosine similarity of ``images`` (indices) to every image."""
        a = self.emb[images]
        if self.metric == "euclidean":
            return -torch.cdist(a[None], self.emb[None], compute_mode="donot_use_mm_for_euclid_dist")[0]
        return (a @ self.emb.T).float()

    def scores(self, queries, supports) -> torch.Tensor:
        """Class scores [Q, C] (float32, CPU) of ``queries`` [Q] against ``supports`` [Q, C, k-1]."""
        queries, supports = np.asarray(queries), np.asarray(supports)
        if supports.ndim != 3 or supports.shape[0] != len(queries):
            raise ValueError(f"supports must be [Q, C, k-1] with Q = {len(queries)} queries, "
                             f"got shape {supports.shape}")
        out = torch.empty(supports.shape[:2], dtype=torch.float32)
        with torch.inference_mode():
            for start in range(0, len(queries), self.chunk):
                stop = min(start + self.chunk, len(queries))
                images, row = torch.unique(torch.as_tensor(queries[start:stop], device=self.device),
                                           return_inverse=True)
                sim = self.similarities(images)
                sup = torch.as_tensor(supports[start:stop], device=self.device).long()
                out[start:stop] = sim[row[:, None, None], sup].mean(dim=2).cpu()
        return out

    def __call__(self, episodes: Episodes) -> torch.Tensor:
        return self.scores(episodes.queries, episodes.supports)


def mean_support_scores(emb: torch.Tensor, queries: np.ndarray, supports: np.ndarray, *,
                        metric: str, chunk: int = 512, device: str = "cpu") -> torch.Tensor:
    """Class scores [Q, C] (float32, CPU): mean similarity of each query to its class supports
    (a one-off :class:`NearestNeighbourScorer`). Euclidean scores are minus the mean euclidean
    distance, cosine scores the mean cosine similarity; the predicted class is the argmax either way."""
    return NearestNeighbourScorer(emb, metric, device=device, chunk=chunk).scores(queries, supports)
