"""The peer row: pytorch-ood 0.4's ``CACLoss`` trained on the same splits, network and recipe.

Why its numbers differ from CAC as the paper and the official code define it (read from
``pytorch_ood/loss/cac.py`` and ``pytorch_ood/model/centers.py`` of the installed 0.4.0):

1. **Squared distances.** ``CACLoss.distance`` is ``ClassCenters``, which returns
   ||z - mu_c||^2; the paper uses the plain norm. The anchor term then pulls with a force that
   grows with the distance, and the tuplet exponents d_y - d_j are on a squared scale (clamped at 50).
2. **Wrong non-target classes in the tuplet sum.** It gathers the columns ``0 .. N-2`` for every
   sample (its fix-up for the last class tests ``target == n_classes``, which never holds), so the
   sum includes the true class itself (a constant exp(0) = 1 term) and always drops class N-1,
   instead of summing over all N-1 classes j != y.
3. **Score.** ``CACLoss.score`` returns ``-max_c d_c (1 - softmin(d)_c)``: the maximum over classes
   (dominated by the farthest anchor), negated, instead of the paper's minimum; on squared distances.
   We use it as given (pytorch-ood's sign: larger = more OOD), so the row shows the library as a user
   would get it.
4. **No anchor recomputation** at test time: scores use the fixed anchors; the class is the nearest
   fixed anchor (``ClassCenters.predict``: softmin over squared distances).
5. **Names and defaults.** Its ``magnitude`` is the paper's alpha and its ``alpha`` the paper's lambda,
   defaulting to (1, 1) instead of (10, 0.1). Here it gets the paper's values (magnitude 10, alpha 0.1),
   so only points 1-4 differ. The loss runs in float32 (the official code: float64).
The checkpoint rule is ours (lowest mean validation d_y, in its own squared distance).
"""

from __future__ import annotations

import numpy as np
import torch


def peer_loss(num_classes: int, alpha: float, lbda: float):
    """pytorch-ood's CACLoss with the paper's anchor magnitude and anchor-term weight."""
    from pytorch_ood.loss import CACLoss

    return CACLoss(n_classes=num_classes, magnitude=float(alpha), alpha=float(lbda))


@torch.no_grad()
def peer_scores(criterion, logits: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(pytorch-ood's score, larger = more OOD; the class of the nearest fixed anchor)."""
    d = criterion.distance(torch.as_tensor(logits).float())
    return criterion.score(d).double().numpy(), d.argmin(dim=1).numpy()
