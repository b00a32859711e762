"""The distance layer, the fixed anchors and the CAC loss (paper 004, eqs. 1-8).

d_i = ||z - C_i||_2 (plain, not squared), C = alpha * I; L_CAC = L_T + lambda * L_A with
L_A = d_y and L_T = log(1 + sum_{j != y} exp(d_y - d_j)) = cross_entropy(-d, y), each averaged
over the batch as in the official code. Distances and loss are computed in float64 [C].
Written by hand: no library ships the official CAC loss (pytorch-ood's differs, see ``peer``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

ALPHA = 10.0  # anchor magnitude (paper's alpha; Sec. 5.3 swaps the symbols)
LAMBDA = 0.1  # weight of the anchor term (paper's lambda)
TERMS = ("cac", "anchor", "tuplet")  # full loss, L_A alone (weight 1), L_T alone: Fig. 3's ablation


def anchors(num_classes: int, alpha: float = ALPHA) -> torch.Tensor:
    """The fixed anchors alpha * e_i as a float64 [N, N] matrix (row i = anchor of class i)."""
    if int(num_classes) < 2:
        raise ValueError(f"CAC needs at least 2 known classes, got {num_classes}")
    if not alpha > 0:
        raise ValueError(f"the anchor magnitude alpha must be > 0, got {alpha}")
    return torch.eye(int(num_classes), dtype=torch.float64) * float(alpha)


def distances(logits: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """[B, N] plain euclidean distances (float64) of logits [B, N] to anchors [K, N].

    A broadcast difference, not ``torch.cdist``, whose matrix-multiply path is inexact and whose
    gradient at zero distance is NaN-prone; the official code does the same."""
    if logits.ndim != 2 or centres.ndim != 2 or logits.shape[1] != centres.shape[1]:
        raise ValueError(f"logits must be [B, N] and anchors [K, N] with the same N; got {tuple(logits.shape)} "
                         f"and {tuple(centres.shape)}")
    diff = logits.double()[:, None, :] - centres.to(logits.device, torch.float64)[None]
    return diff.norm(dim=-1)


def _check_targets(d: torch.Tensor, y: torch.Tensor) -> None:
    if y.ndim != 1 or y.shape[0] != d.shape[0]:
        raise ValueError(f"targets must be a [B] tensor matching distances [B, N]; got {tuple(y.shape)} vs {tuple(d.shape)}")
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= d.shape[1]):
        raise ValueError(f"targets must be known-class ids in 0..{d.shape[1] - 1}; got range {int(y.min())}..{int(y.max())}")


def anchor_term(d: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of d_y (eq. 6); also the validation criterion for checkpoints."""
    _check_targets(d, y)
    return d.gather(1, y.view(-1, 1)).mean()


def tuplet_term(d: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of log(1 + sum_{j != y} exp(d_y - d_j)) (eq. 7), via the identity
    L_T = -log softmax(-d)_y, which is the stable form of the same number."""
    _check_targets(d, y)
    return F.cross_entropy(-d, y)


def tuplet_term_naive(d: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Eq. 7 written literally (the official code's form), for tests of ``tuplet_term``."""
    _check_targets(d, y)
    d_y = d.gather(1, y.view(-1, 1))
    others = torch.ones_like(d, dtype=torch.bool).scatter_(1, y.view(-1, 1), False)
    diffs = (d_y - d).masked_fill(~others, float("-inf"))
    return torch.log(1 + diffs.exp().sum(dim=1)).mean()


def cac_loss(d: torch.Tensor, y: torch.Tensor, lbda: float = LAMBDA, terms: str = "cac") -> torch.Tensor:
    """L_T + lambda * L_A (``terms="cac"``), L_A alone with weight 1 ("anchor") or L_T alone ("tuplet")."""
    if terms not in TERMS:
        raise ValueError(f"terms must be one of {TERMS}, got {terms!r}")
    if terms == "anchor":
        return anchor_term(d, y)
    if terms == "tuplet":
        return tuplet_term(d, y)
    return tuplet_term(d, y) + float(lbda) * anchor_term(d, y)
