"""docs/scale.md's multi-node recipe, on one machine: two torchrun "nodes" of two gloo processes each (c10d
rendezvous on 127.0.0.1) train notebook 02's smoke classifiers with world_size=4 and nodes=2; then notebook 02
runs with the same ``--set world_size=4 --set nodes=2`` on this machine (fewer cores than 4 processes is fine:
the check counts the 2 a node runs), finds the finished checkpoints and trains nothing."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from ood_helpers.core.launch import launch
from ood_helpers.core.profile import get_profile
from tests.support import ROOT

OVERRIDES = {"world_size": 4, "nodes": 2, "models": 1}  # one replicate: trial 0 of each classifier


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _two_nodes(kwargs: dict, env: dict) -> None:
    """Both "nodes" of one worker run, started together, as two machines would start them."""
    port = _free_port()
    nodes = [subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--node_rank", str(rank),
         "--nproc_per_node", "2", "--rdzv_backend", "c10d", "--rdzv_endpoint", f"127.0.0.1:{port}",
         "--rdzv_id", f"test-{port}", "-m", "ood_helpers.core.worker",
         "--target", "ood_helpers.homogeneity.training:classifier_job", "--kwargs", json.dumps(kwargs),
         "--profile", "smoke", "--overrides", json.dumps(OVERRIDES)],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for rank in (0, 1)]
    outputs = [node.communicate(timeout=600)[0] for node in nodes]
    for node, out in zip(nodes, outputs):
        assert node.returncode == 0, out[-3000:]


def test_two_nodes_train_and_the_notebook_finds_their_checkpoints(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OOD_ARTIFACTS_DIR": str(tmp_path / "artifacts"),
           "OOD_FIGURES_DIR": str(tmp_path / "figures"), "OOD_RUNS_DIR": str(tmp_path / "runs"), "MPLBACKEND": "agg"}
    for which in ("seen", "all"):  # notebook 02's two classifiers (models=1: trial 0 of each)
        _two_nodes({"which": which, "trial": 0}, env)
    checkpoints = sorted((tmp_path / "artifacts" / "smoke" / "classifier").glob("*.pt"))
    assert len(checkpoints) == 2
    written = {p: p.stat().st_mtime_ns for p in checkpoints}
    done = subprocess.run([sys.executable, "-m", "ood_helpers.run", "--profile", "smoke", "--only", "02",
                           "--set", "world_size=4", "--set", "nodes=2", "--set", "models=1", "--no-progress"],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "launching" not in done.stdout + done.stderr  # nothing trained: no torchrun started
    assert {p: p.stat().st_mtime_ns for p in checkpoints} == written
    assert sorted((tmp_path / "artifacts" / "smoke" / "classifier").glob("*.pt")) == checkpoints


def test_a_missing_network_on_several_nodes_names_the_command_to_start():
    profile = get_profile("smoke", world_size=4, nodes=2, batch_size=32)
    with pytest.raises(RuntimeError, match=r"(?s)spans nodes=2 machines: start it on every node.*torchrun --nnodes 2 "
                                           r"--node_rank R --nproc_per_node 2 .*-m ood_helpers.core.worker --target "
                                           r"ood_helpers.homogeneity.training:classifier_job --kwargs "
                                           r"'\{\"trial\": 0, \"which\": \"seen\"\}'"):
        launch(profile, "ood_helpers.homogeneity.training:classifier_job", {"which": "seen", "trial": 0})
