"""Counts the training a block of code does: shared by the cache tests."""

from __future__ import annotations

import contextlib

import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook


@contextlib.contextmanager
def count_training():
    """{"steps": optimizer steps, "backward": backward passes} made inside the block (any optimizer,
    any tensor): a network loaded from its checkpoint makes neither, a deterministic retrain makes both."""
    counts = {"steps": 0, "backward": 0}
    real_backward = torch.Tensor.backward

    def backward(self, *args, **kwargs):
        counts["backward"] += 1
        return real_backward(self, *args, **kwargs)

    handle = register_optimizer_step_pre_hook(lambda opt, args, kwargs: counts.__setitem__("steps", counts["steps"] + 1))
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(torch.Tensor, "backward", backward)
            yield counts
    finally:
        handle.remove()
