"""Outlier sifting (paper 002, Algorithm 1 lines 5-9): at the start of every update interval the
``round(sift_fraction * n)`` training points with the largest reconstruction error are left out of
that interval, always chosen afresh from the whole set, so a point dropped once can come back."""

from __future__ import annotations

import numpy as np


def sift(errors, sift_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """(kept, dropped) sorted index arrays: ``dropped`` holds the ``round(sift_fraction * n)`` largest
    ``errors`` (ties broken by index, lowest first dropped), ``kept`` the rest; fraction 0 keeps all."""
    errors = np.asarray(errors, dtype=np.float64)
    if errors.ndim != 1 or not np.isfinite(errors).all():
        raise ValueError(f"errors must be a 1-D array of finite reconstruction errors, got shape {errors.shape}")
    if not 0.0 <= sift_fraction < 1.0:
        raise ValueError(f"sift_fraction must be in [0, 1) (the share of training points left out), got {sift_fraction!r}")
    n_drop = int(round(sift_fraction * len(errors)))
    order = np.argsort(-errors, kind="stable")
    return np.sort(order[n_drop:]), np.sort(order[:n_drop])
