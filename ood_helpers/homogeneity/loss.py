"""Binary cross-entropy of the class-homogeneity task (paper 000, appendix A.1, eq. 5)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def homogeneity_bce(logits: torch.Tensor, targets: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Eq. 5: BCE on the first k_n - 1 outputs of each set, averaged per set, then over the batch.

    ``logits`` [B, K] (before the sigmoid; BCE-with-logits is the same loss, stable in fp16),
    ``targets`` [B] (1 = homogeneous), ``lengths`` [B] set sizes k_n in 2..K. Returns a scalar (nats).
    """
    if logits.ndim != 2:
        raise ValueError(f"logits must be [B, K], got shape {tuple(logits.shape)}")
    batch, k = logits.shape
    lengths = torch.as_tensor(lengths, device=logits.device).long().reshape(-1)
    targets = torch.as_tensor(targets, device=logits.device).reshape(-1)
    if lengths.shape[0] != batch or targets.shape[0] != batch:
        raise ValueError(f"expected {batch} targets and lengths, got {targets.shape[0]} and {lengths.shape[0]}")
    if int(lengths.min()) < 2 or int(lengths.max()) > k:
        raise ValueError(f"set sizes k_n must lie in 2..{k}, got {lengths.tolist()}")
    counted = torch.arange(k, device=logits.device)[None, :] < (lengths - 1)[:, None]
    per_output = F.binary_cross_entropy_with_logits(
        logits.float(), targets.float()[:, None].expand(batch, k), reduction="none"
    )
    per_set = (per_output * counted).sum(1) / (lengths - 1)
    return per_set.mean()
