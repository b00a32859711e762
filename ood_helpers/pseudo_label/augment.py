"""Batched, per-image random augmentation on tensors (one ``affine_grid`` / ``grid_sample`` call a batch).

Written here because torchvision's v2 transforms draw one set of parameters per call, so a batch would get the
same crop for every image, and a Python loop over images costs more than the small CNN's step on 2 cores.
Parameters come from a NumPy generator (the one ``train.fit`` checkpoints), so a resumed run draws the same.

weak: rotation +-10 deg, scale 0.9-1.1, shift +-2 px (digits: no flips; cifar: + horizontal flip);
strong (SimCLR / SCAN / self-label): rotation +-15 deg, scale 0.7-1.1 (a random-resized-crop analogue,
spec A9.2's scale 0.6-1 zoomed in), shift +-3 px, brightness/contrast jitter, and Cutout of a quarter-side square.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def augment(x: torch.Tensor, rng: np.random.Generator, strong: bool = False, flip: bool = False) -> torch.Tensor:
    """A randomly transformed copy of images ``x`` [N, C, H, W] in [0, 1]."""
    n, _, h, w = x.shape
    rot = np.deg2rad(rng.uniform(-15, 15, n) if strong else rng.uniform(-10, 10, n))
    scale = rng.uniform(0.7, 1.1, n) if strong else rng.uniform(0.9, 1.1, n)
    shift = (3.0 if strong else 2.0) * 2.0 / h
    tx, ty = rng.uniform(-shift, shift, n), rng.uniform(-shift, shift, n)
    sign = np.where(rng.random(n) < 0.5, -1.0, 1.0) if flip else np.ones(n)
    theta = np.zeros((n, 2, 3))
    theta[:, 0, 0], theta[:, 0, 1] = sign * np.cos(rot) * scale, -np.sin(rot) * scale
    theta[:, 1, 0], theta[:, 1, 1] = sign * np.sin(rot) * scale, np.cos(rot) * scale
    theta[:, 0, 2], theta[:, 1, 2] = tx, ty
    grid = F.affine_grid(torch.as_tensor(theta, dtype=x.dtype), list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    if strong:
        contrast = torch.as_tensor(rng.uniform(0.6, 1.4, n), dtype=x.dtype).reshape(n, 1, 1, 1)
        bright = torch.as_tensor(rng.uniform(-0.2, 0.2, n), dtype=x.dtype).reshape(n, 1, 1, 1)
        mean = out.mean(dim=(1, 2, 3), keepdim=True)
        out = ((out - mean) * contrast + mean + bright).clamp(0, 1)
        side = max(1, int(math.ceil(h / 4)))
        ys, xs = rng.integers(0, h - side + 1, n), rng.integers(0, w - side + 1, n)
        rows = torch.arange(h).reshape(1, h, 1)
        cols = torch.arange(w).reshape(1, 1, w)
        ys_t, xs_t = torch.as_tensor(ys).reshape(n, 1, 1), torch.as_tensor(xs).reshape(n, 1, 1)
        hole = (rows >= ys_t) & (rows < ys_t + side) & (cols >= xs_t) & (cols < xs_t + side)
        out = out.masked_fill(hole[:, None], 0.0)
    return out
