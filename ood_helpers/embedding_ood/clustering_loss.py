"""The embedding (clustering) loss J_e of paper 002: Student-t soft assignments q to interpolated
centres, DEC's sharpened target P, KL(P || Q), and k-means centres matched to labels.

Written by hand because no library ships DEC's assignment/target pair as PyTorch functions; the
k-means is scikit-learn's and the matching scipy's Hungarian solver.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans

NU = 1.0  # Student-t degrees of freedom, fixed to 1 [paper §II-B, where it is also called alpha]
ALPHA_INTERP = 0.5  # centre interpolation c_j = (1 - a) mu_j + a mu'_j; not stated in the paper [ours]
Q_FLOOR = 1e-12  # q is clamped away from 0 before the log of the KL


def student_t_assignment(z: torch.Tensor, centres: torch.Tensor, nu: float = NU) -> torch.Tensor:
    """q_ij = (1 + |z_i - c_j|^2 / nu)^(-(nu+1)/2), normalised over j. z [N, d], centres [K, d] -> [N, K]."""
    if z.ndim != 2 or centres.ndim != 2 or z.shape[1] != centres.shape[1]:
        raise ValueError(f"z must be [N, d] and centres [K, d] with the same d, got {tuple(z.shape)} and {tuple(centres.shape)}")
    dist2 = ((z[:, None, :] - centres[None, :, :]) ** 2).sum(-1)
    kernel = (1.0 + dist2 / nu) ** (-(nu + 1.0) / 2.0)
    return kernel / kernel.sum(1, keepdim=True)


@torch.no_grad()
def target_distribution(q: torch.Tensor) -> torch.Tensor:
    """DEC's target p_ij = (q_ij^2 / f_j) / sum_j' (q_ij'^2 / f_j'), f_j = sum_i q_ij; computed without
    gradient (P is a constant of the KL). Each term divides by its own cluster's frequency [fix of the
    printed denominator]."""
    weight = q.detach() ** 2 / q.detach().sum(0, keepdim=True)
    return weight / weight.sum(1, keepdim=True)


def label_means(z: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """mu'_j: the mean embedding of the points labelled j, [K, d]; every class must be present."""
    labels = torch.as_tensor(labels, device=z.device).long()
    counts = torch.bincount(labels, minlength=num_classes)
    if len(counts) > num_classes or (counts == 0).any():
        missing = torch.nonzero(counts[:num_classes] == 0).flatten().tolist()
        raise ValueError(f"label_means needs labels in 0..{num_classes - 1} with every class present; "
                         f"missing {missing}, largest label {int(labels.max())}")
    sums = torch.zeros(num_classes, z.shape[1], dtype=z.dtype, device=z.device).index_add_(0, labels, z)
    return sums / counts[:, None].to(z.dtype)


def interpolate_centres(mu: torch.Tensor, mu_label: torch.Tensor, alpha_interp: float = ALPHA_INTERP) -> torch.Tensor:
    """c_j = (1 - alpha_interp) mu_j + alpha_interp mu'_j (0: plain DEC, 1: label means only)."""
    if not 0.0 <= alpha_interp <= 1.0:
        raise ValueError(f"alpha_interp must be in [0, 1], got {alpha_interp!r}")
    return (1.0 - alpha_interp) * mu + alpha_interp * mu_label


def embedding_loss(q: torch.Tensor, p: torch.Tensor, reduction: str = "batchmean") -> torch.Tensor:
    """J_e = KL(P || Q) = sum_ij p_ij log(p_ij / q_ij); "batchmean" sums over clusters and averages over
    the batch (Keras' kld in DEC/IDEC), "sum" sums over both."""
    if q.shape != p.shape:
        raise ValueError(f"q and p must have the same shape, got {tuple(q.shape)} and {tuple(p.shape)}")
    return F.kl_div(q.clamp_min(Q_FLOOR).log(), p, reduction=reduction)


def match_clusters_to_labels(clusters: np.ndarray, labels: np.ndarray, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(order, contingency): ``order[j]`` is the cluster matched to label j by the Hungarian method on the
    [cluster, label] count table (maximising the matched counts); ``contingency`` is that table."""
    clusters, labels = np.asarray(clusters, np.int64), np.asarray(labels, np.int64)
    if clusters.shape != labels.shape or clusters.ndim != 1:
        raise ValueError(f"clusters and labels must be 1-D of the same length, got {clusters.shape} and {labels.shape}")
    table = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(table, (clusters, labels), 1)
    rows, cols = linear_sum_assignment(-table)
    order = np.empty(num_classes, dtype=np.int64)
    order[cols] = rows
    return order, table


def kmeans_label_centres(z: np.ndarray, labels: np.ndarray, num_classes: int, *, seed: int,
                         n_init: int = 20) -> tuple[np.ndarray, dict]:
    """k-means centres of the embeddings ``z`` [N, d], reordered so that row j is the cluster matched to
    class j; returns (centres [K, d] float32, info with the matched share and the contingency table)."""
    z = np.asarray(z, dtype=np.float64)
    km = KMeans(n_clusters=num_classes, n_init=n_init, random_state=seed).fit(z)
    order, table = match_clusters_to_labels(km.labels_, labels, num_classes)
    matched = table[order, np.arange(num_classes)]
    info = {"matched_share": float(matched.sum() / len(z)), "contingency": table[order].tolist(),
            "classes_with_majority": int((matched * 2 > table.sum(0)).sum())}
    return km.cluster_centers_[order].astype(np.float32), info
