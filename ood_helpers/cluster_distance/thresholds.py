"""Thresholding approaches T1-T3 (spec B5), fitted on in-distribution VALIDATION scores only.

``fit_thresholds`` takes nothing but validation scores and their group ids, so no OOD sample can reach
a threshold; ``apply`` flags a sample as OOD when its score exceeds its group's threshold.

- T1 ``global``: tau = the 95th percentile of the validation scores (``ood_metrics.accept_threshold``).
- T2 ``per cluster``: tau_c = the 95th percentile of the validation scores whose nearest cluster is c.
- T3 ``per predicted class``: tau_y over the validation samples the classifier (CE head, or the linear
  probe of a contrastive model) puts in class y.

A group with fewer than ``MIN_GROUP`` validation samples has no reliable percentile and falls back to
the global tau (the project's choice; the paper does not say). Reported: TPR-ID (ID test accepted,
should be ~95 %), TNR-OOD (OOD flagged) and their mean, the balanced accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ood_helpers.core.metrics.ood import accept_threshold

MIN_GROUP = 5
KEEP = 0.95


@dataclass(frozen=True)
class Thresholds:
    global_tau: float
    per_group: dict = field(default_factory=dict)  # group id -> tau

    def tau(self, groups) -> np.ndarray:
        """The threshold of each sample of ``groups`` (None: the global one for all)."""
        if groups is None:
            raise ValueError("tau needs the group id of each sample; use global_tau for T1")
        return np.array([self.per_group.get(int(g), self.global_tau) for g in np.asarray(groups)])

    def apply(self, scores, groups=None) -> np.ndarray:
        """Boolean [N]: True = flagged OOD (score above the sample's threshold)."""
        s = np.asarray(scores, dtype=np.float64)
        return s > (self.global_tau if groups is None else self.tau(groups))


def fit_thresholds(val_scores, val_groups=None, keep: float = KEEP) -> Thresholds:
    """T1 (``val_groups`` None) or T2 / T3 thresholds from ID validation scores alone."""
    s = np.asarray(val_scores, dtype=np.float64)
    tau = accept_threshold(s, keep)
    if val_groups is None:
        return Thresholds(tau)
    g = np.asarray(val_groups)
    if g.shape != s.shape:
        raise ValueError(f"val_groups must hold one group id per validation score ({s.shape}), got {g.shape}")
    per = {int(c): accept_threshold(s[g == c], keep) for c in np.unique(g) if np.sum(g == c) >= MIN_GROUP}
    return Thresholds(tau, per)


def threshold_rates(th: Thresholds, id_scores, ood_scores, id_groups=None, ood_groups=None) -> dict:
    """{"tpr_id", "tnr_ood", "balanced_acc"} in [0, 1] on ID test and OOD scores."""
    tpr = float(np.mean(~th.apply(id_scores, id_groups)))
    tnr = float(np.mean(th.apply(ood_scores, ood_groups)))
    return {"tpr_id": tpr, "tnr_ood": tnr, "balanced_acc": (tpr + tnr) / 2}
