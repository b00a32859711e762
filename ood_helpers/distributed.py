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

(the job table and the checks of ``call``: ``distributed_jobs``). The methods' trainings share a step's batch
out with ``micro_parts``, ``with_shards``, ``sharded_steps`` / ``gathered_steps`` and ``gather_rows``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass

import numpy as np
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
    from .distributed_jobs import call_job

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


def micro_parts(profile, micro_batches: int | None, batch: int) -> int:
    """How many contiguous parts a step's batch is cut into (default: one a process); checked."""
    world = int(getattr(profile, "world_size", 1))
    parts = world if micro_batches is None else int(micro_batches)
    if parts < 1 or parts % world or batch < 2 * parts:
        raise ValueError(f"micro_batches={parts} must be a multiple of world_size={world} with at least 2 images "
                         f"each in the batch of {batch}; use a larger batch or fewer processes")
    return parts


def with_shards(config: dict, profile, parts: int) -> dict:
    """``config`` with the split under "shards" when there is one (several processes or micro-batches)."""
    world = int(getattr(profile, "world_size", 1))
    if world > 1 or parts > 1:  # only then, so that one process's runs keep their keys
        return {**config, "shards": {"world_size": world, "micro_batches": parts}}
    return config


def sharded_steps(draw, rng: np.random.Generator, steps: int, parts: int):
    """fit's ``steps_from`` for a batch ``draw(step, rng)`` (a tuple of batch-first tensors) drawn from ``rng``,
    the generator fit checkpoints: it is cut into ``parts`` contiguous micro-batches, weighted by their size,
    and this rank takes its own (every rank draws the whole batch, so it is the one-process batch)."""
    from .data.loading import MicroBatch, Step, rank_micro_ids

    ctx = context()
    ids = rank_micro_ids(parts, ctx.rank, ctx.world_size)

    def step_at(step: int) -> Step:
        batch = draw(step, rng)
        size = len(batch[0])
        cuts = np.array_split(np.arange(size), parts)
        weight = [ctx.world_size * len(cut) / size for cut in cuts]
        return Step(len(ids), iter([MicroBatch(tuple(t[cuts[j]] for t in batch), weight[j], j) for j in ids]))
    return lambda start: (step_at(s) for s in range(start, steps))


def gathered_steps(draw, rng: np.random.Generator, steps: int, parts: int):
    """As ``sharded_steps`` for a loss over the whole batch: one micro-batch a step holding this rank's parts
    (a list of tuples) and how many rows each rank holds, for ``gather_rows``."""
    from .data.loading import MicroBatch, Step, rank_micro_ids

    ctx = context()
    ids = [list(rank_micro_ids(parts, r, ctx.world_size)) for r in range(ctx.world_size)]

    def step_at(step: int) -> Step:
        batch = draw(step, rng)
        cuts = np.array_split(np.arange(len(batch[0])), parts)
        mine = [tuple(t[cuts[j]] for t in batch) for j in ids[ctx.rank]]
        sizes = [sum(len(cuts[j]) for j in rank) for rank in ids]
        return Step(1, iter([MicroBatch((mine, sizes), 1.0, ctx.rank)]))
    return lambda start: (step_at(s) for s in range(start, steps))


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


def init_process_group() -> Context:
    """Joins torchrun's process group (NCCL with GPUs, else gloo); returns this rank's context."""
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group(backend)
    return context()


if __name__ == "__main__":
    from .distributed_jobs import main

    sys.exit(main())
