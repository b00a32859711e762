"""The one way to train on several processes: ``train_elsewhere_unless_finished``.

A method asks for its network as usual. When the profile's ``world_size`` is above 1, this process is not a
torchrun rank, and the network is not trained yet, the helper runs

    torchrun --standalone --nproc_per_node W -m ood_helpers.core.worker --target MODULE:FUNCTION --kwargs JSON \\
        --profile NAME --overrides JSON

and waits. Every rank runs the same function: ``train.fit`` wraps the model in DDP (NCCL on GPUs, gloo on CPU),
each rank takes its micro-batches of the global batch, rank 0 writes checkpoints, and a killed run resumes from
its last checkpoint. The caller then finds the finished checkpoint and only loads it.

What JSON cannot carry (tensors, modules) travels as a payload file saved beside the checkpoint (a folder all
nodes share in a multi-node run, ``OOD_ARTIFACTS_DIR``) and removed when the run ends; the target receives its
path as ``payload_file``.

Several machines: start the same worker on each node with torchrun's rendezvous flags, e.g.

    torchrun --nnodes 2 --node_rank R --nproc_per_node 8 --rdzv_backend c10d --rdzv_endpoint HOST:29500 \\
        -m ood_helpers.core.worker --target ood_helpers.homogeneity.training:classifier_job \\
        --kwargs '{"which": "seen", "trial": 0}' --profile paper --overrides '{"world_size": 16, "nodes": 2}'

then run the notebooks with ``--set world_size=16 --set nodes=2``: the check compares the 8 processes a node runs
with its devices, the notebooks find the finished checkpoints and train nothing, and a network not trained yet
stops with the torchrun command to start on every node.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Iterable

import torch

from ood_helpers.core import artifacts
from ood_helpers.core.distributed import context
from ood_helpers.core.profile import PROFILES, Profile, resolve_device
from ood_helpers.core.train import finished
from ood_helpers.core.worker import call_args


def check_world_size(profile: Profile) -> None:
    """Raises ValueError when the profile asks for more training processes on this machine than it has
    devices (GPUs for a CUDA run, cores for a CPU run): ``world_size / nodes`` processes, the share of one
    node, as torchrun's ``--nproc_per_node``."""
    if profile.world_size <= 1:
        return
    device = resolve_device(profile)
    if device.startswith("cuda"):
        have, what = torch.cuda.device_count(), "CUDA GPUs"
    else:
        have, what = os.cpu_count() or 1, "CPU cores"
    per_node = profile.world_size // profile.nodes
    if per_node > have:
        spread = f" ({per_node} on each of nodes={profile.nodes} machines)" if profile.nodes > 1 else ""
        raise ValueError(
            f"profile {profile.name!r} asks for world_size={profile.world_size} training processes on {device}"
            f"{spread}, but this machine has {have} {what}; use --set world_size=N with N / nodes <= {have}, or "
            "spread the processes over more machines (--set nodes=M; see ood_helpers/core/launch.py)"
        )


def profile_overrides(profile: Profile) -> dict:
    """The fields of ``profile`` that differ from the named profile it came from."""
    base = PROFILES[profile.name].to_dict()
    return {k: v for k, v in profile.to_dict().items() if v != base[k]}


def launch(profile: Profile, target: str, kwargs: dict) -> None:
    """Runs ``target(profile, **kwargs)`` on ``profile.world_size`` local processes under torchrun, and waits;
    raises RuntimeError naming the command if it fails."""
    check_world_size(profile)
    if profile.nodes > 1:  # one process cannot start the other machines' ranks
        raise RuntimeError(
            f"{target} is not trained yet and world_size={profile.world_size} spans nodes={profile.nodes} machines: "
            f"start it on every node (R = 0..{profile.nodes - 1}, a folder all nodes share as OOD_ARTIFACTS_DIR) with\n"
            f"  torchrun --nnodes {profile.nodes} --node_rank R --nproc_per_node {profile.world_size // profile.nodes} "
            f"--rdzv_backend c10d --rdzv_endpoint HOST:29500 -m ood_helpers.core.worker "
            f"{shlex.join(call_args(target, kwargs))} --profile {profile.name} "
            f"--overrides {shlex.quote(json.dumps(profile_overrides(profile), sort_keys=True))}\n"
            "then run this notebook again")
    env = dict(os.environ)
    if not str(profile.device).startswith("cuda") and not torch.cuda.is_available():
        # W processes on a CPU: one BLAS / OpenMP thread each per core share, else they fight for cores
        share = max(1, (os.cpu_count() or 1) // profile.world_size)
        env["OMP_NUM_THREADS"] = str(profile.threads if profile.world_size == 1 and profile.threads else share)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={profile.world_size}",
           "-m", "ood_helpers.core.worker", *call_args(target, kwargs), "--profile", profile.name,
           "--overrides", json.dumps(profile_overrides(profile), sort_keys=True)]
    print(f"launching {profile.world_size} training processes: {' '.join(cmd[2:])}", flush=True)
    done = subprocess.run(cmd, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"torchrun exited with status {done.returncode}: {' '.join(cmd)}; its ranks' errors are "
                           "printed above; rerun to resume from the last checkpoint")


def _is_done(runs: Iterable, results: Iterable) -> bool:
    runs, results = list(runs), [Path(p) for p in results]
    if results and all(p.exists() for p in results):
        return True
    return bool(runs) and all(finished(*run) for run in runs)


def train_elsewhere_unless_finished(profile, target: str, *, runs: Iterable = (), results: Iterable = (),
                                    kwargs: dict | None = None, payload: dict | None = None,
                                    payload_path: str | Path | None = None) -> bool:
    """With ``world_size`` > 1, outside torchrun, and the work unfinished (every run of ``runs``, (checkpoint,
    config, steps) each, finished; or every file of ``results`` present): runs ``target(profile, **kwargs)``
    on ``world_size`` processes, with ``payload`` saved at ``payload_path`` and passed as ``payload_file``.
    Checks afterwards that the work is finished. Returns whether it launched."""
    runs, results = list(runs), list(results)
    if not runs and not results:
        raise ValueError("train_elsewhere_unless_finished needs runs=[(checkpoint, config, steps)] or results=[paths]")
    if getattr(profile, "world_size", 1) <= 1 or context().distributed or _is_done(runs, results):
        return False
    kwargs = dict(kwargs or {})
    if payload is None:
        launch(profile, target, kwargs)
    else:
        if payload_path is None:
            raise ValueError("a payload needs payload_path (a file beside the checkpoint)")
        kwargs["payload_file"] = str(payload_path)
        call_args(target, kwargs)  # checked before the write
        artifacts.atomic_save_torch(payload, payload_path)
        try:
            launch(profile, target, kwargs)
        finally:
            if profile.nodes == 1:  # on several nodes the command launch prints for every node reads it
                Path(payload_path).unlink(missing_ok=True)
    if not _is_done(runs, results):
        raise RuntimeError(f"torchrun ended but {target} left its work unfinished: "
                           f"{[str(r[0]) for r in runs] or [str(p) for p in results]}")
    return True
