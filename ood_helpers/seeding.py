"""One seed per trial: Python, NumPy and torch generators set together."""

from __future__ import annotations

import random

import numpy as np


def seed_everything(seed: int) -> np.random.Generator:
    """Seed ``random``, NumPy's legacy global state and torch (CPU and CUDA).

    Returns a fresh ``np.random.Generator`` for the caller's own draws, so code that
    samples sets or supports does not depend on global state touched elsewhere.
    """
    import torch

    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    torch.manual_seed(int(seed))
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(int(seed))
    return np.random.default_rng(int(seed))


def trial_seed(base_seed: int, trial: int) -> int:
    """The seed of trial ``trial`` (0-based) of a run whose profile seed is ``base_seed``."""
    if trial < 0:
        raise ValueError(f"trial must be >= 0, got {trial}")
    return int(base_seed) * 1000 + int(trial)
