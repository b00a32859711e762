"""Test time of CAC (Sec. 3.3, Algorithm 1) and of the CE baseline scored by MSP.

1. anchors recomputed as the mean logit of the correctly classified training images (largest logit
   = true class), 2. d = distances to them, 3. c = softmin(d), 4. s = (1 - c) * d element-wise,
5. s_min = min_i s_i is the rejection score (larger = more unknown, the project's sign), and
argmin_i s_i (= the nearest recomputed anchor when d >= 0) is the predicted class.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from ood_helpers.core.metrics.ood import msp_score
from ood_helpers.cac.loss import distances


def recompute_anchors(logits: torch.Tensor, labels: torch.Tensor, num_classes: int | None = None,
                      fallback: torch.Tensor | None = None) -> torch.Tensor:
    """[N, N] float64: row k = mean logit of the class-k images whose largest logit is k.

    A class without any correctly classified image has no defined anchor: refused by name, or, with
    ``fallback`` (the original anchors), it keeps its row of ``fallback`` with a warning (barely trained
    smoke-test networks)."""
    logits, labels = torch.as_tensor(logits).double(), torch.as_tensor(labels).long()
    if logits.ndim != 2 or labels.shape != (logits.shape[0],):
        raise ValueError(f"expected logits [B, N] and labels [B]; got {tuple(logits.shape)} and {tuple(labels.shape)}")
    n = int(num_classes or logits.shape[1])
    correct = logits.argmax(dim=1) == labels
    rows = []
    for k in range(n):
        mine = logits[correct & (labels == k)]
        if mine.shape[0] == 0 and fallback is not None:
            warnings.warn(f"no training image of class {k} is classified correctly; class {k} keeps its original anchor")
            rows.append(torch.as_tensor(fallback, dtype=torch.float64)[k])
            continue
        if mine.shape[0] == 0:
            raise ValueError(f"no training image of class {k} is classified correctly, so its anchor cannot be "
                             "recomputed; train longer or check the labels")
        rows.append(mine.mean(dim=0))
    return torch.stack(rows)


def softmin(d: torch.Tensor) -> torch.Tensor:
    """c_i = exp(-d_i) / sum_k exp(-d_k) (eqs. 9-10)."""
    return torch.softmax(-d, dim=1)


def rejection_scores(d: torch.Tensor) -> torch.Tensor:
    """s = (1 - softmin(d)) * d element-wise (eq. 11; Sec. 3.3's words say c, the equation 1 - c)."""
    return (1 - softmin(d)) * d


def cac_scores(logits: torch.Tensor, centres: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(s_min [B] with larger = more unknown, predicted class argmin s [B]) of logits against anchors."""
    s = rejection_scores(distances(torch.as_tensor(logits), centres))
    s_min, pred = s.min(dim=1)
    return s_min.numpy(), pred.numpy()


def msp_scores(logits: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(-max softmax [B], argmax [B]): the CE baseline's score in the project's sign and its prediction."""
    p = torch.softmax(torch.as_tensor(logits).double(), dim=1).numpy()
    return msp_score(p), p.argmax(axis=1)
