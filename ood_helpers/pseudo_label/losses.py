"""SCAN's two clustering losses (Van Gansbeke et al. 2020), written by hand: no installed library has them.

**The SCAN loss** (spec A2.2). Over a batch of anchors x with one mined neighbour x~ each,

    L = -(1/|B|) sum_x log <p(x), p(x~)>  -  lambda * H(pbar),   pbar = mean_x p(x),   H(q) = -sum_c q_c log q_c

with lambda = 5. The paper (003) prints "minimise sum log(C(x) . C(x~))", a sign slip: the term minimised is the
*negative* log of the dot product (SCAN's code: binary cross-entropy of the dot product against 1). The entropy
is that of the batch-mean assignment (anchors), and it is *subtracted*: minimising L maximises it, which keeps
the clusters balanced.

**Self-labelling** (SCAN's ``ConfidenceBasedCE``): the weak view's softmax gives a target argmax and a mask
max > threshold (0.99); cross-entropy of the strong view's logits on the masked samples only, each class
weighted by the inverse of its frequency among the confident samples of the batch (PyTorch's weighted mean:
sum_i w_{y_i} CE_i / sum_i w_{y_i}). A batch with no confident sample gives a zero loss (SCAN's code raises);
the caller counts such batches.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

EPS = 1e-8  # SCAN's clamp before log


def entropy(probs: torch.Tensor) -> torch.Tensor:
    """H(q) = -sum_c q_c log q_c of one probability vector (or the mean over rows of a batch)."""
    q = probs.clamp_min(EPS)
    h = -(q * torch.log(q)).sum(dim=-1)
    return h.mean() if h.ndim else h


def scan_loss(anchor_logits: torch.Tensor, neighbour_logits: torch.Tensor, entropy_weight: float = 5.0
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(total, consistency, entropy): total = consistency - entropy_weight * entropy (see the module docstring)."""
    if anchor_logits.shape != neighbour_logits.shape or anchor_logits.ndim != 2:
        raise ValueError(f"anchor and neighbour logits must both be [B, K], got {tuple(anchor_logits.shape)} "
                         f"and {tuple(neighbour_logits.shape)}")
    p_anchor, p_neighbour = F.softmax(anchor_logits, 1), F.softmax(neighbour_logits, 1)
    dot = (p_anchor * p_neighbour).sum(1)
    consistency = -torch.log(dot.clamp_min(EPS)).mean()
    h = entropy(p_anchor.mean(0))
    return consistency - entropy_weight * h, consistency, h


def confident_targets(weak_logits: torch.Tensor, threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(mask [B] bool: max softmax > threshold, target [B]: argmax) of the weak view, without gradients."""
    with torch.no_grad():
        conf, target = F.softmax(weak_logits.float(), 1).max(1)
    return conf > threshold, target


def balance_weights(targets: torch.Tensor, classes: int) -> torch.Tensor:
    """[K] weights: n / count_c for each class c present among ``targets`` (n = len(targets)), 1 elsewhere."""
    weight = torch.ones(classes, dtype=torch.float32, device=targets.device)
    ids, counts = torch.unique(targets, return_counts=True)
    weight[ids] = len(targets) / counts.float()
    return weight


def selflabel_loss(weak_logits: torch.Tensor, strong_logits: torch.Tensor, threshold: float = 0.99,
                   balance: bool = True) -> tuple[torch.Tensor, int]:
    """(loss, number of confident samples) of SCAN's self-labelling step (module docstring)."""
    if weak_logits.shape != strong_logits.shape:
        raise ValueError(f"weak and strong logits must have one shape, got {tuple(weak_logits.shape)} and "
                         f"{tuple(strong_logits.shape)}")
    mask, target = confident_targets(weak_logits, threshold)
    n = int(mask.sum())
    if n == 0:
        return strong_logits.sum() * 0.0, 0
    t = target[mask]
    weight = balance_weights(t, strong_logits.shape[1]) if balance else None
    return F.cross_entropy(strong_logits[mask], t, weight=weight), n
