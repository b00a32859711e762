"""Training on several processes with PyTorch's own engine: torchrun + DistributedDataParallel.

A notebook (or any caller of ``pipeline``) asks for a network as usual; when the profile's
``world_size`` is above 1 and the network is not trained yet, ``launch`` runs

    torchrun --standalone --nproc_per_node W -m ood_helpers.distributed <job> --profile NAME --overrides JSON

and waits. Every rank runs the same ``pipeline`` call: ``train.fit`` wraps the model in DDP
(NCCL on GPUs, gloo on CPU), each rank takes every W-th micro-batch of the global batch, rank 0
writes checkpoints, history and logs, and a killed run resumes from its last checkpoint. The
caller then loads the finished checkpoint in its own process.

Several machines: start the same job on each node with torchrun's rendezvous flags, e.g.

    torchrun --nnodes 2 --node_rank R --nproc_per_node 8 --rdzv_backend c10d --rdzv_endpoint HOST:29500 \\
        -m ood_helpers.distributed classifier --profile paper --overrides '{"world_size": 16}' --which seen

with a checkpoint folder (``OOD_ARTIFACTS_DIR``) all nodes share; then run the notebooks with
``--set world_size=16``: they find the finished checkpoints and train nothing.

Any method's training runs through one generic job, ``call``: every rank runs
``target(profile, **kwargs)`` for a function of this package, e.g.

    ... -m ood_helpers.distributed call --target ood_helpers.cac.jobs:train_one --kwargs '{"payload_file": ...}'

(``call_job`` builds and checks those arguments before torchrun starts).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from typing import Callable

import torch
import torch.distributed as dist

from .profiles import PROFILES, Profile


@dataclass(frozen=True)
class Context:
    """Where this process stands: its ``rank`` among ``world_size`` training processes."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def context() -> Context:
    """The current process group's rank and size (rank 0 of 1 outside torchrun)."""
    if dist.is_available() and dist.is_initialized():
        return Context(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))
    return Context()


def barrier() -> None:
    """Waits for every rank (a no-op in a single process)."""
    if context().distributed:
        dist.barrier()


def mean_over_ranks(value: torch.Tensor) -> torch.Tensor:
    """The mean of a scalar tensor over the ranks (the tensor itself in a single process)."""
    if not context().distributed:
        return value
    value = value.detach().clone().float()
    dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value / dist.get_world_size()


def check_world_size(profile: Profile) -> None:
    """Raises ValueError when the profile asks for more training processes than this machine has
    devices (GPUs for a CUDA run, cores for a CPU run)."""
    from .profiles import resolve_device

    if profile.world_size <= 1:
        return
    device = resolve_device(profile)
    if device.startswith("cuda"):
        have, what = torch.cuda.device_count(), "CUDA GPUs"
    else:
        have, what = os.cpu_count() or 1, "CPU cores"
    if profile.world_size > have:
        raise ValueError(
            f"profile {profile.name!r} asks for world_size={profile.world_size} training processes on {device}, "
            f"but this machine has {have} {what}; use --set world_size=N with N <= {have}, or start torchrun "
            "on several machines (see ood_helpers/distributed.py)"
        )


def profile_overrides(profile: Profile) -> dict:
    """The fields of ``profile`` that differ from the named profile it came from."""
    base = PROFILES[profile.name].to_dict()
    return {k: v for k, v in profile.to_dict().items() if v != base[k]}


def launch(profile: Profile, job: list[str]) -> None:
    """Runs ``job`` (e.g. ["classifier", "--which", "seen", "--trial", "0"]) on ``profile.world_size``
    local processes under torchrun, and waits; raises RuntimeError naming the command if it fails."""
    check_world_size(profile)
    env = dict(os.environ)
    if not str(profile.device).startswith("cuda") and not torch.cuda.is_available():
        # W processes on a CPU: one BLAS / OpenMP thread each per core share, else they fight for cores
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // profile.world_size))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={profile.world_size}",
           "-m", "ood_helpers.distributed", *job, "--profile", profile.name,
           "--overrides", json.dumps(profile_overrides(profile), sort_keys=True)]
    print(f"launching {profile.world_size} training processes: {' '.join(cmd[2:])}", flush=True)
    done = subprocess.run(cmd, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"torchrun exited with status {done.returncode}: {' '.join(cmd)}; its ranks' errors are "
                           "printed above; rerun to resume from the last checkpoint")


def must_launch(profile, runs) -> bool:
    """Whether this process must start torchrun for ``runs`` ((checkpoint, config, steps) each): the profile
    asks for ``world_size`` > 1, this is not a torchrun rank, and one of them is not finished."""
    from .train import finished

    if getattr(profile, "world_size", 1) <= 1 or context().distributed:
        return False
    return not all(finished(*run) for run in runs)


def launch_with_file(profile: Profile, target: str, path, payload: dict, kwargs: dict) -> None:
    """Runs ``target(profile, payload_file=path, **kwargs)`` on ``world_size`` processes, with ``payload``
    (tensors, modules: what JSON cannot carry) saved at ``path`` for the run and removed after it."""
    from pathlib import Path

    from . import artifacts

    job = call_job(target, {"payload_file": str(path), **kwargs})  # checked before the write
    artifacts.atomic_save_torch(payload, path)
    try:
        launch(profile, job)
    finally:
        Path(path).unlink(missing_ok=True)


def gather_rows(t: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    """The rows of ``t`` from every rank (rank r holds ``sizes[r]``), concatenated in rank order, with
    gradients flowing back to each rank's own rows; ``t`` itself in a single process. For a loss over the
    whole batch (contrastive): every rank computes it, and DDP's mean of the gradients is the one-process one."""
    if not context().distributed:
        return t
    import warnings

    from torch.distributed.nn.functional import all_gather

    most = max(sizes)  # all_gather needs one shape on every rank
    padded = torch.cat([t, t.new_zeros(most - len(t), *t.shape[1:])]) if len(t) < most else t
    with warnings.catch_warnings():  # its suggested successor is private (torch.distributed._functional_collectives)
        warnings.simplefilter("ignore", FutureWarning)
        gathered = all_gather(padded)
    return torch.cat([g[:k] for g, k in zip(gathered, sizes)])


def train_elsewhere_unless_finished(profile: Profile, ckpt_path, config: dict, steps: int,
                                   job: list[str] | None) -> None:
    """With ``world_size`` > 1, outside torchrun, and no finished run of ``config`` at ``ckpt_path``:
    ``launch(profile, job)``, so the caller's ``fit`` then only loads the result."""
    from .train import finished  # train imports this module lazily; importing it here keeps start-up light

    if profile.world_size > 1 and not context().distributed and not finished(ckpt_path, config, steps):
        if job is None:
            raise ValueError(f"world_size={profile.world_size} needs a job: the ood_helpers.distributed "
                             "arguments that rebuild this network in each torchrun rank")
        launch(profile, job)


_TARGET = re.compile(r"^ood_helpers(\.[A-Za-z_][A-Za-z0-9_]*)+:[A-Za-z_][A-Za-z0-9_]*$")


def parse_kwargs(text: str) -> dict:
    """The JSON object ``text`` of a call job's ``--kwargs``; ValueError naming the problem otherwise."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"--kwargs must be a JSON object such as '{{\"trial\": 0}}', got {text!r} ({err})") from None
    if not isinstance(value, dict):
        raise ValueError(f"--kwargs must be a JSON object (keyword arguments by name), got a {type(value).__name__}: "
                         f"{text!r}")
    return value


def resolve_target(target: str, kwargs: dict) -> Callable:
    """The function ``target`` ("ood_helpers.<module>:<function>"), checked to accept ``(profile, **kwargs)``;
    ValueError naming the problem otherwise. Only this package's functions can be called."""
    if not isinstance(target, str) or not _TARGET.match(target):
        raise ValueError(f"--target must name a function of the ood_helpers package as "
                         f"'ood_helpers.<module>:<function>' (e.g. ood_helpers.cac.jobs:train_one), got {target!r}")
    module_name, name = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        raise ValueError(f"--target {target!r}: cannot import {module_name!r} ({err})") from None
    fn = getattr(module, name, None)
    if not inspect.isfunction(fn):
        raise ValueError(f"--target {target!r}: {module_name} has no function {name!r}")
    try:
        inspect.signature(fn).bind(None, **kwargs)
    except TypeError as err:
        raise ValueError(f"--kwargs {sorted(kwargs)} do not fit {target}{inspect.signature(fn)}, called as "
                         f"{name}(profile, **kwargs): {err}") from None
    return fn


def call_job(target: str, kwargs: dict) -> list[str]:
    """The ``launch`` job that runs ``target(profile, **kwargs)`` on every rank, checked here (before torchrun
    starts): the target must resolve and take these keyword arguments, which must be JSON-able."""
    try:
        text = json.dumps(kwargs, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise ValueError(f"call job kwargs must be JSON-able (str, int, float, bool, None, lists, dicts): {err}"
                         ) from None
    resolve_target(target, parse_kwargs(text))
    return ["call", "--target", target, "--kwargs", text]


def _init_process_group() -> Context:
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group(backend)
    return context()


def main(argv: list[str] | None = None) -> int:
    """Entry point of each torchrun rank: trains one network (a ``pipeline`` job or a ``call``) and exits."""
    parser = argparse.ArgumentParser(prog="torchrun ... -m ood_helpers.distributed",
                                     description="Train one network of the pipeline on every rank (DDP).")
    parser.add_argument("job", choices=["classifier", "homogeneity", "own-classifier", "call"])
    parser.add_argument("--profile", required=True, help=f"one of {', '.join(PROFILES)}")
    parser.add_argument("--overrides", default="{}", help="profile fields to replace, as a JSON object")
    parser.add_argument("--which", default="seen", help="classifier: seen | all")
    parser.add_argument("--variant", type=int, default=1, help="homogeneity: set variant 1 | 2")
    parser.add_argument("--trial", type=int, default=0)
    parser.add_argument("--dataset", default=None, help="own-classifier: Table 3's dataset, e.g. cifar10")
    parser.add_argument("--target", default=None,
                        help="call: ood_helpers.<module>:<function>, run as fn(profile, **kwargs)")
    parser.add_argument("--kwargs", default="{}", help="call: the function's keyword arguments, as a JSON object")
    args = parser.parse_args(argv)
    target = None
    if args.job == "call":
        try:  # before the process group and any data: a typo fails at once, naming the problem
            kwargs = parse_kwargs(args.kwargs)
            target = resolve_target(args.target, kwargs)
        except ValueError as err:
            parser.error(str(err))
    if args.profile not in PROFILES:
        parser.error(f"unknown profile {args.profile!r}; known profiles: {', '.join(PROFILES)}")
    profile = Profile.from_dict({**PROFILES[args.profile].to_dict(), **json.loads(args.overrides)})
    world = int(os.environ.get("WORLD_SIZE", 1))
    if world != profile.world_size:
        parser.error(f"torchrun started {world} processes but the profile says world_size={profile.world_size}; "
                     "pass --overrides '{\"world_size\": N}' with the total number of processes")
    ctx = _init_process_group() if world > 1 else context()
    try:
        from . import pipeline

        if target is not None:
            target(profile, **kwargs)
        elif args.job == "classifier":
            pipeline.get_classifier(profile, args.which, args.trial, progress=ctx.is_main)
        elif args.job == "own-classifier":
            from .trained_models import own_classifier

            own_classifier(profile, args.dataset, progress=ctx.is_main)
        else:
            pipeline.get_homogeneity_model(profile, args.variant, args.trial, progress=ctx.is_main)
        barrier()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
