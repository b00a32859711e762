"""One trial of one method end to end: train (or load), recompute anchors, score, measure.

Accuracy is closed-set, on the known test images; AUROC / AUPR / FPR95 come from
``core.metrics.ood`` with unknown as the positive class (larger score = more unknown).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ood_helpers.core.metrics.ood import ood_metrics
from ood_helpers.cac.data import TrialData
from ood_helpers.cac.loss import ALPHA, LAMBDA, anchors
from ood_helpers.cac.scoring import cac_scores, msp_scores, recompute_anchors
from ood_helpers.cac.training import Preprocess, Recipe, logits_of, train_trial
from ood_helpers.cac.peer import peer_loss, peer_scores

METHOD_NAMES = {
    "cac": "CAC (ours)",
    "ce": "CE + MSP (ours, same recipe)",
    "anchor": "anchor term only (L_A)",
    "tuplet": "tuplet term only (L_T)",
    "peer": "CAC as implemented in pytorch-ood",
}


@dataclass
class TrialOutcome:
    """The record of a trial (for tables) and the arrays the figures need."""

    record: dict
    s_known: np.ndarray
    s_unknown: np.ndarray
    pred_known: np.ndarray
    pred_unknown: np.ndarray
    data: TrialData


def score_cac(model, pre: Preprocess, data: TrialData, flip: bool, alpha: float = ALPHA):
    """Algorithm 1: anchors from the correctly classified training images (eval mode, no augmentation,
    plus their mirror images when ``flip``), then (s_min, argmin s) of known and unknown test images;
    also the AUROC against the original anchors alpha * e_i, as a side note."""
    views = [pre.eval_view(data.x_train)] + ([pre.eval_view(data.x_train, flip=True)] if flip else [])
    z_train = torch.cat([logits_of(model, v) for v in views])
    y_train = data.y_train.repeat(len(views))
    fixed = anchors(data.num_classes, alpha)
    centres = recompute_anchors(z_train, y_train, data.num_classes, fallback=fixed)
    z_known, z_unknown = logits_of(model, pre.eval_view(data.x_test)), logits_of(model, pre.eval_view(data.x_unknown))
    s_k, p_k = cac_scores(z_known, centres)
    s_u, p_u = cac_scores(z_unknown, centres)
    extra = {"auroc_fixed_anchors": ood_metrics(cac_scores(z_known, fixed)[0], cac_scores(z_unknown, fixed)[0])["auroc"]}
    return s_k, s_u, p_k, p_u, extra


def run_trial(data: TrialData, loss: str, recipe: Recipe, *, profile, seed: int, alpha: float = ALPHA,
              lbda: float = LAMBDA, device: str = "cpu", label: str | None = None) -> TrialOutcome:
    """Train/load ``loss`` on ``data`` and measure it; ``label`` names the dataset column of the tables."""
    model, info = train_trial(data, loss, recipe, profile=profile, seed=seed, alpha=alpha, lbda=lbda, device=device)
    model.to("cpu")
    pre = Preprocess(recipe, data.x_train)
    extra = {}
    if loss == "ce":
        s_k, p_k = msp_scores(logits_of(model, pre.eval_view(data.x_test)))
        s_u, p_u = msp_scores(logits_of(model, pre.eval_view(data.x_unknown)))
    elif loss == "peer":
        crit = peer_loss(data.num_classes, alpha, lbda)
        s_k, p_k = peer_scores(crit, logits_of(model, pre.eval_view(data.x_test)))
        s_u, p_u = peer_scores(crit, logits_of(model, pre.eval_view(data.x_unknown)))
    else:
        s_k, s_u, p_k, p_u, extra = score_cac(model, pre, data, recipe.flip_anchors, alpha)
    record = {"dataset": label or data.name, "method": METHOD_NAMES[loss], "loss": loss, "trial": data.split.trial,
              "seed": seed, "alpha": alpha, "lbda": lbda, "accuracy": float(np.mean(p_k == data.y_test.numpy())),
              **ood_metrics(s_k, s_u), **extra, "openness": data.split.openness, "best_epoch": info["best_epoch"],
              "train_seconds": round(info["seconds"], 2)}
    return TrialOutcome(record, s_k, s_u, p_k, p_u, data)
