"""CAC's training under torchrun (gloo, 2 CPU processes). (How a rank's share is augmented and the worker's refusals:
tests/unit/test_cac_training.py and tests/unit/test_worker.py.)

Two ranks each take one contiguous half of a step's batch (augmented as rows of the whole batch) and DDP
averages their gradients; one process cutting the same batch into the same two micro-batches sums the same
gradients in another order. BatchNorm normalises each half on its own in both, dropout is seeded per
micro-batch, so weights and training losses agree up to float32 rounding. BatchNorm's running statistics
differ by design (DDP keeps rank 0's), hence the validation metrics too, so neither is compared and
``world_size`` is part of the cache key.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from ood_helpers.core import artifacts
from ood_helpers.cac.data import load_trial
from ood_helpers.cac.training import recipe_for, train_trial
from ood_helpers.core.profile import get_profile
from tests.support import assert_same_parameters, weights

# a batch of 31 splits 16 / 15: the two shares are weighted 32/31 and 30/31 (one process: 16/31, 15/31)
RECIPE = recipe_for("mnist5k", epochs=(2,), width=0.125, batch_size=31, hflip=0.5, rotation=10)
# 10 SGD steps: the two runs round the weighted gradient sum differently (~1e-7 relative a step), which
# stays orders of magnitude below 1e-5; an unsplit batch (other BatchNorm batches) differs by > 1e-3
ATOL = 1e-5


def _last_checkpoint(root, shards) -> dict:
    found = [artifacts.load_torch(p) for p in sorted((root / "smoke" / "cac").glob("*.pt"))
             if not p.name.endswith((".best.pt", ".trial.pt"))]
    found = [s for s in found if s["config"].get("shards") == shards]
    assert len(found) == 1, [s["config"].get("shards") for s in found]
    return found[0]


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="two gloo processes need two cores")
def test_two_processes_train_cac_like_one_process_with_the_same_global_batch(tmp_path, monkeypatch, one_thread):
    # a folder of its own: the session's artifacts hold other tests' smoke CAC checkpoints, and the torchrun
    # ranks inherit the variable
    monkeypatch.setenv("OOD_ARTIFACTS_DIR", str(tmp_path))
    root = tmp_path
    d = load_trial("mnist5k", 0, per_class=(24, 6, 6))  # 144 training images: 4 steps of 31 + one of 20 an epoch
    two = get_profile("smoke", world_size=2, device="cpu")
    one = get_profile("smoke", device="cpu")
    _, info_two = train_trial(d, "cac", RECIPE, profile=two, seed=5)  # launches torchrun, then loads
    assert not list((root / "smoke" / "cac").glob("*.trial.pt"))  # the hand-off is removed
    _, info_one = train_trial(d, "cac", RECIPE, profile=one, seed=5, micro_batches=2)
    ddp = _last_checkpoint(root, {"world_size": 2, "micro_batches": 2})
    acc = _last_checkpoint(root, {"world_size": 1, "micro_batches": 2})
    assert ddp["step"] == acc["step"] == 10
    a, b = weights(ddp), weights(acc)
    assert_same_parameters(a, b, ATOL)
    loss_two = [r["train_loss"] for r in info_two["history"]]
    loss_one = [r["train_loss"] for r in info_one["history"]]
    assert loss_two[0] is None and np.allclose(loss_two[1:], loss_one[1:], rtol=0, atol=ATOL), (loss_two, loss_one)

    # the split matters: one process on the unsplit batch (BatchNorm over 32 images) ends elsewhere
    train_trial(d, "cac", RECIPE, profile=one, seed=5)
    whole = weights(_last_checkpoint(root, None))
    assert max((whole[k] - a[k]).abs().max().item() for k in a) > 1e-3
    with pytest.raises(ValueError, match="multiple of world_size=2"):
        train_trial(d, "cac", RECIPE, profile=two, seed=5, micro_batches=3)
