"""Bit-identical CPU training: the same run in two fresh processes gives the same weights.

Two identical homogeneity runs once differed in the last bits (and then in their best step): the
backward of gathering embeddings into sets (``emb[index]``, an accumulating ``index_put_``) sums
the gradients of an image used by several sets in a thread-dependent order on the CPU.
``seeding.deterministic_on_cpu`` inside ``train.fit`` switches torch to its deterministic kernels.
The race shows only now and then over a whole run, so the op itself is checked over many repeats
(tests/unit/test_seeding.py). The classifier alone and a CAC network are checked the same way.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import torch

from tests.support import ROOT

WORKER = """
import hashlib, sys, torch
torch.set_num_threads(2)
from ood_helpers.homogeneity import training as pipeline
from ood_helpers.core.profile import get_profile
from ood_helpers.homogeneity.settings import with_homogeneity_settings
# quick's head stage alone is 2000 steps (head_pretrain_steps), past the timeout on a loaded machine; 20 steps
# still run the head stage and then the joint stage from its head
p = with_homogeneity_settings(get_profile("quick"), pretrain_steps=8, head_pretrain_steps=20, homogeneity_steps=20,
                              eval_every=10)
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


def test_classifier_training_is_bit_identical_in_separate_processes(tmp_path):
    """Two fresh processes train the same classifier from scratch: the same bytes of weights."""
    script = (
        "import sys, torch\n"
        "from ood_helpers.homogeneity.training import get_classifier\n"
        "from ood_helpers.core.profile import get_profile\n"
        "from ood_helpers.homogeneity.settings import with_homogeneity_settings\n"
        "torch.set_num_threads(1)\n"
        "p = with_homogeneity_settings(get_profile('smoke', augmentation='digits'), pretrain_steps=3)\n"
        "model, _ = get_classifier(p, 'seen', progress=False)\n"
        "torch.save(model.state_dict(), sys.argv[1])\n"
    )
    states = []
    for run_id in range(2):
        env = {**os.environ, "OOD_ARTIFACTS_DIR": str(tmp_path / f"artifacts{run_id}")}
        out = tmp_path / f"weights{run_id}.pt"
        subprocess.run([sys.executable, "-c", script, str(out)], env=env, check=True, timeout=300)
        states.append(torch.load(out))
    for name in states[0]:
        assert torch.equal(states[0][name], states[1][name]), name


CAC_SCRIPT = textwrap.dedent("""
    import hashlib, os, sys
    import torch
    from ood_helpers.cac.data import load_trial
    from ood_helpers.cac.training import recipe_for, train_trial
    from ood_helpers.core.profile import get_profile
    d = load_trial("mnist5k", 0, per_class=(24, 6, 6))
    m, _ = train_trial(d, "cac", recipe_for("mnist5k", epochs=(2,), width=0.125, batch_size=32), profile=get_profile("smoke"), seed=5)
    h = hashlib.sha256()
    for k, v in m.state_dict().items():
        h.update(k.encode()); h.update(v.cpu().numpy().tobytes())
    print(h.hexdigest())
""")


def test_two_processes_train_bit_identical_cac_networks(tmp_path):
    digests = []
    for run in range(2):
        env = {"OOD_ARTIFACTS_DIR": str(tmp_path / f"a{run}"), "OOD_FIGURES_DIR": str(tmp_path / "f"),
               "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
        out = subprocess.run([sys.executable, "-c", CAC_SCRIPT], env=env, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]
        digests.append(out.stdout.strip().splitlines()[-1])
    assert digests[0] == digests[1]
