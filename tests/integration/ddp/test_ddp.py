"""torchrun + DDP on the CPU (gloo, 2 processes): the same weights as one process with the same
global batch, and a killed run resumes from its last checkpoint.

Two ranks each take half of a step's micro-batches and DDP averages their gradients; one process
accumulating the same micro-batches computes the same sum in another order. BatchNorm normalises
each micro-batch on its own in both (a rank's batch is a micro-batch), dropout is seeded per
micro-batch, so the trained *weights* agree up to float32 rounding (atol 1e-5 after a few Adam
steps); BatchNorm's running statistics differ by design (DDP keeps rank 0's), so buffers are not
compared and ``world_size`` is part of the cache key.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ood_helpers.core import artifacts
from ood_helpers.homogeneity import training as pipeline
from tests.support import ROOT, assert_same_parameters, profile_with, weights

WORKER = Path(__file__).with_name("ddp_worker.py")
pytestmark = pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="two gloo processes need two cores")
ATOL = 1e-5


def torchrun(*args, nproc=2, check=True):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", *map(str, args)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


def test_two_ranks_match_one_process_and_a_killed_run_resumes(tmp_path):
    torchrun(WORKER, tmp_path / "ddp.pt")
    torchrun(WORKER, tmp_path / "single.pt", "--micro", 8, nproc=1)
    ddp, single = torch.load(tmp_path / "ddp.pt"), torch.load(tmp_path / "single.pt")
    assert_same_parameters(weights(ddp), weights(single), ATOL)
    # a changed split really changes the result: without accumulation the BatchNorm batches differ
    torchrun(WORKER, tmp_path / "whole.pt", "--micro", 16, nproc=1)
    whole = weights(torch.load(tmp_path / "whole.pt"))
    assert max((whole[k] - ddp["model"][k]).abs().max().item() for k in whole) > 1e-3

    killed = torchrun(WORKER, tmp_path / "cut.pt", "--crash-at", 3, check=False)
    assert killed.returncode != 0 and "simulated crash at step 3" in killed.stdout + killed.stderr
    torchrun(WORKER, tmp_path / "cut.pt", "--crash-at", 3)
    resumed = torch.load(tmp_path / "cut.pt")
    assert resumed["resumed_from"] == 2  # the checkpoint of step 2, written by rank 0
    for k in ddp["model"]:
        assert torch.equal(resumed["model"][k], ddp["model"][k]), k


def test_pipeline_trains_under_torchrun_like_one_process_with_the_same_global_batch(tmp_path, monkeypatch, one_thread):
    monkeypatch.setenv("OOD_ARTIFACTS_DIR", str(tmp_path))
    tiny = dict(device="cpu", pretrain_steps=3, homogeneity_steps=2, eval_every=1, batch_size=32, set_batch_size=4)
    two = profile_with("smoke", world_size=2, **tiny)
    one = profile_with("smoke", world_size=1, micro_batch_images=16, micro_batch_sets=2, **tiny)

    clf_two, meta_two = pipeline.get_classifier(two, "seen", progress=False)  # launches torchrun, then loads
    clf_one, meta_one = pipeline.get_classifier(one, "seen", progress=False)
    assert meta_two["key"] != meta_one["key"]
    assert_same_parameters(clf_two, clf_one, ATOL)

    _, hist_two = pipeline.get_homogeneity_model(two, 1, progress=False)
    _, hist_one = pipeline.get_homogeneity_model(one, 1, progress=False)
    assert hist_two["step"] == hist_one["step"] == [0, 1, 2]
    last_two = artifacts.load_torch(artifacts.cache_path(two.name, "homogeneity", hist_two["key"], ".pt"))
    last_one = artifacts.load_torch(artifacts.cache_path(one.name, "homogeneity", hist_one["key"], ".pt"))
    assert last_two["step"] == last_one["step"] == 2
    assert_same_parameters(weights(last_two), weights(last_one), ATOL)  # buffers differ
