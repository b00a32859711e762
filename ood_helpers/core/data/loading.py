"""Streaming images into training and embedding: torch DataLoaders over map-style views.

A training step is planned from ``(seed, step)`` alone: the planner says which dataset
positions (and, for augmented images, which per-image seed) make up each micro-batch of
the step's global batch. A ``StepBatchSampler`` hands the micro-batches of one process
(micro-batch j goes to rank j mod world_size) to a DataLoader, whose workers decode and
augment them. Because nothing depends on the order in which workers run or on how many
processes share the step, a run gives the same batches with 0 or 8 workers, resumed or
not, on one process or split over many.

In-memory sets (``ImageSet``) and on-disk sets (``FolderImageSet``) look the same here:
``load(i)`` gives the evaluation view, ``decode(i)`` the full image the ImageNet recipe
crops from. Both return uint8 [C, H, W].
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from ood_helpers.core.data.transforms import starts_from_full_image, train_transform

DECODE_LIMIT_ENV = "OOD_DECODE_LIMIT"
DEFAULT_DECODE_LIMIT = 4096  # images an on-disk set may decode at once into one tensor


def decode_limit() -> int:
    """How many images an on-disk set may decode into memory at once (``OOD_DECODE_LIMIT``)."""
    value = os.environ.get(DECODE_LIMIT_ENV, str(DEFAULT_DECODE_LIMIT))
    try:
        limit = int(value)
    except ValueError:
        raise ValueError(f"{DECODE_LIMIT_ENV} must be an int >= 0 (images), got {value!r}") from None
    if limit < 0:
        raise ValueError(f"{DECODE_LIMIT_ENV} must be an int >= 0 (images), got {value!r}")
    return limit


# ===== views: what a DataLoader worker returns for one key =====


class EvalView(Dataset):
    """(uint8 [C, H, W] evaluation view, label) of ``base`` at ``positions`` (default: all)."""

    def __init__(self, base, positions: Sequence[int] | None = None):
        self.base = base
        self.positions = None if positions is None else np.asarray(positions, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.base) if self.positions is None else len(self.positions)

    def __getitem__(self, i: int):
        pos = int(i if self.positions is None else self.positions[i])
        return self.base.load(pos), int(self.base.targets[pos])


class AugmentedView(Dataset):
    """Keyed by (position, seed): the image at ``position`` augmented by ``recipe`` with torch's
    RNG seeded by ``seed``, so the result does not depend on which worker or process draws it."""

    def __init__(self, base, recipe: str, size: int | tuple[int, int]):
        self.base = base
        self.recipe = recipe
        self.transform = train_transform(recipe, size)
        self.full = starts_from_full_image(recipe) and hasattr(base, "decode")

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, key: tuple[int, int]):
        pos, seed = int(key[0]), int(key[1])
        image = self.base.decode(pos) if self.full else self.base.load(pos)
        if self.transform is not None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                image = self.transform(image)
        return image, int(self.base.targets[pos])


# ===== plans and samplers =====


def rank_micro_ids(micro_per_step: int, rank: int, world_size: int) -> range:
    """The micro-batches of a step (indices into the step's global list) that process ``rank`` takes."""
    if micro_per_step % world_size:
        raise ValueError(f"{micro_per_step} micro-batches a step do not split evenly over {world_size} processes")
    return range(rank, micro_per_step, world_size)


class ImageStepPlanner:
    """Step -> micro-batches of (position, augmentation seed) keys: a batch of ``batch`` distinct
    positions of ``n`` drawn uniformly from ``numpy.random.default_rng([seed, step])``, cut into
    micro-batches of ``micro`` images."""

    def __init__(self, n: int, batch: int, micro: int, seed: int):
        if batch > n:
            raise ValueError(f"a batch of {batch} distinct images needs at least that many, the dataset has {n}")
        if micro < 1 or batch % micro:
            raise ValueError(f"micro-batch of {micro} images must divide the batch of {batch}")
        self.n, self.batch, self.micro, self.seed = n, batch, micro, int(seed)
        self.micro_per_step = batch // micro
        self.plan = lru_cache(maxsize=64)(self._plan)

    def _plan(self, step: int) -> list[list[tuple[int, int]]]:
        rng = np.random.default_rng([self.seed, int(step)])
        positions = rng.choice(self.n, size=self.batch, replace=False)
        seeds = rng.integers(0, 2**62, size=self.batch)
        keys = list(zip(positions.tolist(), seeds.tolist()))
        return [keys[j:j + self.micro] for j in range(0, self.batch, self.micro)]


class StepBatchSampler(Sampler):
    """Yields, for steps ``start .. stop - 1``, the key lists of the micro-batches this process takes
    (``plan(step)`` gives all of a step's micro-batches; rank r takes r, r + world_size, ...)."""

    def __init__(self, plan: Callable[[int], list[list]], micro_per_step: int, start: int, stop: int,
                 rank: int = 0, world_size: int = 1):
        self.plan, self.start, self.stop = plan, int(start), int(stop)
        self.ids = rank_micro_ids(micro_per_step, rank, world_size)

    def __len__(self) -> int:
        return max(self.stop - self.start, 0) * len(self.ids)

    def __iter__(self) -> Iterator[list]:
        for step in range(self.start, self.stop):
            micro = self.plan(step)
            for j in self.ids:
                yield micro[j]


@dataclass
class LoaderSettings:
    """How a DataLoader runs: worker processes and page-locked memory (for copies to a GPU)."""

    num_workers: int = 0
    pin_memory: bool = False

    @classmethod
    def for_profile(cls, profile, device: str) -> "LoaderSettings":
        return cls(num_workers=int(profile.num_workers), pin_memory=str(device).startswith("cuda"))

    def kwargs(self) -> dict:
        workers = self.num_workers
        return {"num_workers": workers, "pin_memory": self.pin_memory, "persistent_workers": workers > 0,
                "prefetch_factor": 4 if workers else None}


def step_loader(dataset: Dataset, plan: Callable[[int], list[list]], micro_per_step: int, start: int, stop: int,
                settings: LoaderSettings, rank: int = 0, world_size: int = 1) -> DataLoader:
    """A DataLoader giving, in order, this process's micro-batches of steps ``start .. stop - 1``
    (each as the default collation of ``dataset[key]`` over the micro-batch's keys)."""
    sampler = StepBatchSampler(plan, micro_per_step, start, stop, rank, world_size)
    return DataLoader(dataset, batch_sampler=sampler, **settings.kwargs())


def eval_loader(base, batch_size: int, settings: LoaderSettings, positions=None) -> DataLoader:
    """A DataLoader over the evaluation views of ``base`` (at ``positions``), in order."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    return DataLoader(EvalView(base, positions), batch_size=batch_size, shuffle=False, **settings.kwargs())


@dataclass
class MicroBatch:
    """One forward/backward of a step: ``data`` for the loss function, its ``weight`` (share of this
    process's batch; the weights of a step sum to 1) and ``index`` (its position in the step's global
    list of micro-batches, which seeds dropout so the split over processes does not change it)."""

    data: Any
    weight: float
    index: int


@dataclass
class Step:
    """The micro-batches of one step for this process: ``count`` of them, yielded lazily by ``micro``."""

    count: int
    micro: Iterator[MicroBatch]


def group_steps(loader: DataLoader, start: int, stop: int, ids: Sequence[int],
                prepare: Callable[[int, int, Any], Any]) -> Iterator[Step]:
    """Steps ``start .. stop - 1`` from a ``step_loader``: micro-batch j of step s is
    ``prepare(s, j, loaded)``, weighted 1 / len(ids)."""
    batches = iter(loader)
    weight = 1.0 / len(ids)

    def micro(step: int) -> Iterator[MicroBatch]:
        for j in ids:
            yield MicroBatch(prepare(step, j, next(batches)), weight, j)

    for step in range(start, stop):
        yield Step(len(ids), micro(step))
