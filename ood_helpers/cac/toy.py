"""Fig. 1's toy problem [A: the paper gives no data, network or theta]: two Gaussian blobs in 2-D
(centres (-1, 0) and (1, 0), std 0.35, 200 points each, seed 0), a 2 -> 64 -> 64 -> 2 MLP trained
full-batch with SGD (lr 0.01, momentum 0.9) once with cross-entropy and once with CAC (alpha 10,
lambda 0.1). CAC's anchors are recomputed (Sec. 3.3); theta accepts 95 % of the training points."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ood_helpers.cac.loss import ALPHA, LAMBDA, anchors, cac_loss, distances
from ood_helpers.cac.network import ToyMLP
from ood_helpers.cac.scoring import cac_scores, msp_scores, recompute_anchors


@dataclass
class ToyResult:
    x: np.ndarray
    y: np.ndarray
    models: dict  # "ce" / "cac" -> trained ToyMLP
    centres: torch.Tensor  # CAC's recomputed anchors
    theta: dict  # "ce" / "cac" -> threshold on the score (accepts ``keep`` of the training points)


def toy_data(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.r_[rng.normal((-1, 0), 0.35, (n, 2)), rng.normal((1, 0), 0.35, (n, 2))].astype(np.float32)
    return x, np.r_[np.zeros(n), np.ones(n)].astype(np.int64)


def train_toy(steps: int = 1500, seed: int = 0, keep: float = 0.95) -> ToyResult:
    x, y = toy_data(seed=seed)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    centres0 = anchors(2, ALPHA)
    models, theta = {}, {}
    for loss in ("ce", "cac"):
        torch.manual_seed(seed)
        model = ToyMLP()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        for _ in range(steps):
            z = model(xt)
            value = F.cross_entropy(z, yt) if loss == "ce" else cac_loss(distances(z, centres0), yt, LAMBDA).float()
            opt.zero_grad()
            value.backward()
            opt.step()
        models[loss] = model.eval()
    with torch.no_grad():
        centres = recompute_anchors(models["cac"](xt), yt, 2)
        theta["cac"] = float(np.quantile(cac_scores(models["cac"](xt), centres)[0], keep))
        theta["ce"] = float(np.quantile(msp_scores(models["ce"](xt))[0], keep))
    return ToyResult(x, y, models, centres, theta)


@torch.no_grad()
def grid_scores(result: ToyResult, loss: str, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(score, predicted class) of input-space points [M, 2] (larger score = more unknown)."""
    z = result.models[loss](torch.from_numpy(grid.astype(np.float32)))
    return cac_scores(z, result.centres) if loss == "cac" else msp_scores(z)


@torch.no_grad()
def logits(result: ToyResult, loss: str, x: np.ndarray) -> np.ndarray:
    return result.models[loss](torch.from_numpy(x.astype(np.float32))).numpy()
