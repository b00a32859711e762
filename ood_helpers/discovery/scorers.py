"""Class scorers of the discovery rule (``rule.ClassScorer``): eq. 1 and nearest neighbours.

Both take a batch of (query image, exemplars of one class) pairs, all runs and classes of a step
together. Eq. 1 puts each pair's exemplars and then the query into one set (the query at the set's
last valid position, padding after it, as ``HomogeneityModel.tokens`` expects) and reads the logit at
position 0 (``homogeneity.scorers.set_scorer``), sets of few exemplars (new classes) batched apart so
that they do not pay for padding. The nearest-neighbour scorers average the query's cosine similarity
or negated euclidean distance over the valid exemplars, as the paper's NN baselines average over
the k - 1 supports (``homogeneity.neighbors.NearestNeighbourScorer`` computes the similarities). The
centroid scorer is notebook 08's S1 detector (``cluster_distance.strategies``: distance to the class
centre, euclidean) with the centre taken over the class's exemplars: minus the distance, so that "best
score below the threshold" is "farther than the threshold from every centre", i.e. flagged as new.
"""

from __future__ import annotations

import numpy as np
import torch

from ood_helpers.homogeneity.neighbors import NearestNeighbourScorer
from ood_helpers.homogeneity.scorers import compute_dtype, low_precision, set_scorer


class HomogeneityClassScorer:
    """Eq. 1's logit of every set [exemplars..., query]; ``emb`` [N, D] the model's embeddings of the
    dataset's images (moved to ``device`` once)."""

    def __init__(self, model, emb: torch.Tensor, *, device: str = "cpu", batch_sets: int = 4096):
        if emb.ndim != 2:
            raise ValueError(f"emb must be [N, D] embeddings, got shape {tuple(emb.shape)}")
        self.model, self.device, self.batch_sets = model, device, batch_sets
        self.score_sets = set_scorer(model)
        self.emb = emb.to(device=device, dtype=compute_dtype(device))

    def __call__(self, queries, exemplars, counts) -> np.ndarray:
        queries, exemplars, counts = map(np.asarray, (queries, exemplars, counts))
        out = np.empty(len(queries), np.float32)
        was_training = self.model.training
        self.model.to(self.device).eval()
        with torch.inference_mode(), low_precision(self.device):
            # sets of similar length together (buckets 1, 2, 3-4, 5-8, ...): a new class's 2-set is not padded to k
            bucket = np.ceil(np.log2(counts)).astype(np.int64)
            for b in np.unique(bucket):
                members = np.flatnonzero(bucket == b)
                for start in range(0, len(members), self.batch_sets):
                    part = members[start:start + self.batch_sets]
                    out[part] = self._score(queries[part], exemplars[part], counts[part])
        self.model.train(was_training)
        return out

    def _score(self, queries, exemplars, counts) -> np.ndarray:
        width = int(counts.max())
        dev = self.device
        rows = torch.as_tensor(np.concatenate([exemplars[:, :width], np.zeros((len(queries), 1), np.int64)], 1),
                               device=dev)
        pos = torch.as_tensor(counts, device=dev)
        rows[torch.arange(len(rows), device=dev), pos] = torch.as_tensor(queries, device=dev)
        valid = torch.arange(width + 1, device=dev)[None] <= pos[:, None]
        emb = self.emb[rows.clamp(min=0)] * valid[..., None].to(self.emb.dtype)
        return self.score_sets(emb, pos + 1)[:, 0].float().cpu().numpy()


class NeighbourClassScorer:
    """Mean cosine similarity / minus mean euclidean distance of the query to the class's exemplars."""

    def __init__(self, emb: torch.Tensor, metric: str, *, device: str = "cpu"):
        self.nn = NearestNeighbourScorer(emb, metric, device=device)

    def __call__(self, queries, exemplars, counts) -> np.ndarray:
        queries, exemplars, counts = map(np.asarray, (queries, exemplars, counts))
        dev = self.nn.device
        with torch.inference_mode():
            images, row = torch.unique(torch.as_tensor(queries, device=dev), return_inverse=True)
            sim = self.nn.similarities(images)  # [u, N]
            ex = torch.as_tensor(exemplars, device=dev)
            valid = ex >= 0
            vals = sim[row[:, None], ex.clamp(min=0)] * valid
            return (vals.sum(1) / torch.as_tensor(counts, device=dev)).float().cpu().numpy()


class CentroidClassScorer:
    """Minus the euclidean distance of the query to the mean of the class's exemplars (notebook 08's
    S1 class-centroid score, larger = closer); written per (query, class) pair, where
    ``core.metrics.feature_scores.centre_distances`` would compute every query against every centre."""

    def __init__(self, emb: torch.Tensor, *, device: str = "cpu"):
        if emb.ndim != 2:
            raise ValueError(f"emb must be [N, D] embeddings, got shape {tuple(emb.shape)}")
        self.device = device
        self.emb = emb.to(device=device, dtype=torch.float32)

    def __call__(self, queries, exemplars, counts) -> np.ndarray:
        dev = self.device
        with torch.inference_mode():
            ex = torch.as_tensor(np.asarray(exemplars), device=dev)
            valid = (ex >= 0).unsqueeze(-1)
            n = torch.as_tensor(np.asarray(counts), device=dev)[:, None]
            centre = (self.emb[ex.clamp(min=0)] * valid).sum(1) / n
            q = self.emb[torch.as_tensor(np.asarray(queries), device=dev)]
            return (-(q - centre).norm(dim=1)).cpu().numpy()
