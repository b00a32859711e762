"""Bit-identical CPU training: the same run in two fresh processes gives the same weights.

Two identical homogeneity runs once differed in the last bits (and then in their best step): the
backward of gathering embeddings into sets (``emb[index]``, an accumulating ``index_put_``) sums
the gradients of an image used by several sets in a thread-dependent order on the CPU.
``seeding.deterministic_on_cpu`` inside ``train.fit`` switches torch to its deterministic kernels.
The race shows only now and then over a whole run, so the op itself is checked over many repeats.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

WORKER = """
import hashlib, sys, torch
torch.set_num_threads(2)
from ood_helpers import pipeline
from ood_helpers.core.profile import get_profile
p = get_profile("quick", pretrain_steps=8, homogeneity_steps=20, eval_every=10)
digest = {}
clf, _ = pipeline.get_classifier(p, "seen", progress=False)
hom, history = pipeline.get_homogeneity_model(p, 1, progress=False)
for name, net in (("classifier", clf), ("homogeneity", hom)):
    h = hashlib.sha256()
    for key, value in sorted(net.state_dict().items()):
        h.update(key.encode()); h.update(value.detach().cpu().contiguous().numpy().tobytes())
    digest[name] = h.hexdigest()
print("DIGEST", digest["classifier"], digest["homogeneity"], history["best_step"], history["val_unseen_acc"])
"""


def _train_in_fresh_process(tmp: Path) -> str:
    env = {**os.environ, "OOD_ARTIFACTS_DIR": str(tmp / "artifacts"), "OOD_FIGURES_DIR": str(tmp / "figures"),
           "OMP_NUM_THREADS": "2", "PYTHONHASHSEED": "0"}
    done = subprocess.run([sys.executable, "-c", WORKER], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    line = [ln for ln in done.stdout.splitlines() if ln.startswith("DIGEST")]
    assert line, done.stdout[-2000:]
    return line[-1]


def test_two_processes_train_bit_identical_weights(tmp_path):
    first = _train_in_fresh_process(tmp_path / "a")
    second = _train_in_fresh_process(tmp_path / "b")
    assert first == second


def test_deterministic_on_cpu_restores_the_previous_setting():
    import torch

    from ood_helpers.core.seeding import deterministic_on_cpu

    before = torch.are_deterministic_algorithms_enabled()
    with deterministic_on_cpu("cpu"):
        assert torch.are_deterministic_algorithms_enabled()
    assert torch.are_deterministic_algorithms_enabled() == before
    with deterministic_on_cpu("cuda:0"):  # GPU runs keep the fast kernels
        assert torch.are_deterministic_algorithms_enabled() == before


def _gather_grads(repeats: int) -> list:
    import torch

    g = torch.Generator().manual_seed(0)
    emb = torch.randn(64, 128, generator=g, requires_grad=True)
    index = torch.randint(0, 64, (2000, 10), generator=g)  # sets sharing images, as in a training batch
    upstream = torch.randn(2000, 10, 128, generator=g)
    grads = []
    for _ in range(repeats):
        emb.grad = None
        emb[index].backward(upstream)
        grads.append(emb.grad.clone())
    return grads


def test_set_gather_backward_is_bit_identical_under_deterministic_on_cpu():
    import torch

    from ood_helpers.core.seeding import deterministic_on_cpu

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with deterministic_on_cpu("cpu"):
            grads = _gather_grads(20)
    finally:
        torch.set_num_threads(threads)
    assert all(torch.equal(grads[0], g) for g in grads[1:])
