"""Training on several processes with PyTorch's own engine (DistributedDataParallel): where this process stands
(``context``), collectives that are no-ops in one process, and how a step's batch is shared out over ranks
(``micro_parts``, ``with_shards``, ``sharded_steps`` / ``gathered_steps``, ``gather_rows``). Launching torchrun is
``launch``'s; a rank's entry point is ``worker``'s."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from torch.distributed.nn.functional import all_gather

from ood_helpers.core.data.loading import MicroBatch, Step, rank_micro_ids


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


def gather_rows(t: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    """The rows of ``t`` from every rank (rank r holds ``sizes[r]``), concatenated in rank order, with
    gradients flowing back to each rank's own rows; ``t`` itself in a single process. For a loss over the
    whole batch (contrastive): every rank computes it, and DDP's mean of the gradients is the one-process one."""
    if not context().distributed:
        return t
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
    ctx = context()
    ids = [list(rank_micro_ids(parts, r, ctx.world_size)) for r in range(ctx.world_size)]

    def step_at(step: int) -> Step:
        batch = draw(step, rng)
        cuts = np.array_split(np.arange(len(batch[0])), parts)
        mine = [tuple(t[cuts[j]] for t in batch) for j in ids[ctx.rank]]
        sizes = [sum(len(cuts[j]) for j in rank) for rank in ids]
        return Step(1, iter([MicroBatch((mine, sizes), 1.0, ctx.rank)]))
    return lambda start: (step_at(s) for s in range(start, steps))


def init_process_group() -> Context:
    """Joins torchrun's process group (NCCL with GPUs, else gloo); returns this rank's context."""
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group(backend)
    return context()

