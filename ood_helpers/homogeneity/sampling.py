"""The class-homogeneity set sampler of paper 000 (section 3.3 and appendix A.1).

Variant 1 (classification): k images, the first k - 1 from one class, the k-th (the
query) from the same class or, with probability 1/2, from another class. Variant 2
(clustering): the same with the set size k_n drawn uniformly from 2..k per set. Classes and
images are drawn uniformly at random; a set never repeats an image. Sets of different
sizes are padded (index 0, masked), never truncated.

A batch lists each distinct image once (``unique``) and indexes into it, so a training
step encodes every distinct image once and gathers the embeddings into the sets.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
import torch

from ood_helpers.core.profile import MAX_SET_SIZE, MIN_SET_SIZE  # noqa: F401  (one range, checked by Profile too)


def check_set_size(k, low: int = MIN_SET_SIZE, high: int = MAX_SET_SIZE, what: str = "k") -> int:
    """``k`` as an int, or a ValueError naming it and the allowed range ``low..high``."""
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or not low <= k <= high:
        raise ValueError(f"{what} (images per set) must be an int in {low}..{high}, got {k!r}")
    return int(k)


def class_pools(labels, classes=None, min_images: int = 1, what: str = "images") -> dict[int, np.ndarray]:
    """class id -> int64 array of the positions in ``labels`` holding that class.

    Raises a ValueError naming every class with fewer than ``min_images`` images.
    """
    labels = np.asarray(labels).reshape(-1)
    classes = np.unique(labels) if classes is None else np.asarray(classes).reshape(-1)
    pools = {int(c): np.flatnonzero(labels == c) for c in classes}
    short = {c: len(p) for c, p in pools.items() if len(p) < min_images}
    if short:
        shown = ", ".join(f"class {c}: {n}" for c, n in list(short.items())[:8])
        raise ValueError(
            f"every class needs at least {min_images} {what}, but {len(short)} class(es) have fewer ({shown})"
        )
    return pools


@dataclass
class SetBatch:
    """A batch of B sets of at most K images.

    ``unique``: int64 [U] dataset positions of the distinct images; ``index``: int64 [B, K]
    into ``unique`` (0 at padding); ``lengths``: int64 [B] (k_n); ``targets``: float [B],
    1.0 when all images of the set share a class; ``labels``: int64 [B, K] class of each
    image (-1 at padding); ``same_query``: bool [B], the query was drawn from the support's class.
    """

    unique: torch.Tensor
    index: torch.Tensor
    lengths: torch.Tensor
    targets: torch.Tensor
    labels: torch.Tensor
    same_query: torch.Tensor

    @property
    def mask(self) -> torch.Tensor:
        """bool [B, K]: True at real images, False at padding."""
        return torch.arange(self.index.shape[1])[None, :] < self.lengths[:, None]

    @property
    def positions(self) -> torch.Tensor:
        """int64 [B, K]: dataset position of every image, -1 at padding."""
        return self.unique[self.index].masked_fill(~self.mask, -1)

    def split(self, size: int) -> list["SetBatch"]:
        """The sets cut into consecutive micro-batches of ``size`` sets, each listing its own distinct
        images (an image shared by two micro-batches is in both)."""
        batch = len(self.lengths)
        if not isinstance(size, (int, np.integer)) or size < 1 or batch % size:
            raise ValueError(f"micro-batch of {size!r} sets must be a positive divisor of the {batch} sets")
        parts = []
        for start in range(0, batch, size):
            rows = slice(start, start + size)
            lengths = self.lengths[rows]
            mask = torch.arange(self.index.shape[1])[None, :] < lengths[:, None]
            positions = self.unique[self.index[rows]]
            unique, inverse = torch.unique(positions[mask], return_inverse=True)
            index = torch.zeros_like(positions)
            index[mask] = inverse
            parts.append(SetBatch(unique, index, lengths, self.targets[rows], self.labels[rows], self.same_query[rows]))
        return parts

    def gather(self, table: torch.Tensor) -> torch.Tensor:
        """Rows of ``table`` (e.g. embeddings [N, D] of the whole dataset) as sets [B, K, D], 0 at padding."""
        rows = table[self.unique.to(table.device)][self.index.to(table.device)]
        mask = self.mask.to(table.device).reshape(*self.index.shape, *([1] * (rows.ndim - 2)))
        return rows * mask.to(rows.dtype)


class HomogeneitySampler:
    """Draws class-homogeneity sets from the images whose class ids are ``labels``.

    ``k`` is the (largest) set size, 2..25; ``variant`` 1 gives every set k images,
    variant 2 draws k_n uniformly from 2..k per set. ``classes`` restricts the classes sets
    are drawn from (default: every class in ``labels``); positions refer to ``labels``.
    """

    def __init__(self, labels, k: int, variant: int = 1, classes=None, max_k: int = MAX_SET_SIZE):
        self.k = check_set_size(k, high=max_k)
        if variant not in (1, 2):
            raise ValueError(f"variant must be 1 (fixed k) or 2 (k_n uniform in 2..k), got {variant!r}")
        self.variant = variant
        self.labels = np.asarray(labels).reshape(-1).astype(np.int64)
        # k - 1 support images plus a distinct same-class query
        self.pools = class_pools(
            self.labels, classes, min_images=self.k,
            what=f"images for sets of k = {self.k} (k - 1 = {self.k - 1} support images and a distinct same-class query)",
        )
        self.classes = np.array(sorted(self.pools), dtype=np.int64)
        if len(self.classes) < 2:
            raise ValueError(f"sets with a different-class query need at least 2 classes, got {self.classes.tolist()}")

    def sample(self, batch_size: int, rng: np.random.Generator) -> SetBatch:
        """``batch_size`` sets drawn with ``rng`` (same generator state, same batch)."""
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        k, n_classes = self.k, len(self.classes)
        if self.variant == 1:
            lengths = np.full(batch_size, k, dtype=np.int64)
        else:
            lengths = rng.integers(MIN_SET_SIZE, k + 1, size=batch_size)
        same = rng.random(batch_size) < 0.5
        picks = np.zeros((batch_size, k), dtype=np.int64)
        labels = np.full((batch_size, k), -1, dtype=np.int64)
        for b in range(batch_size):
            n = int(lengths[b])
            c = int(rng.integers(n_classes))
            support_class = self.classes[c]
            drawn = rng.choice(self.pools[support_class], size=n if same[b] else n - 1, replace=False)
            if not same[b]:
                # uniform over the other classes
                other = self.classes[(c + int(rng.integers(1, n_classes))) % n_classes]
                pool = self.pools[other]
                drawn = np.append(drawn, pool[rng.integers(len(pool))])
            picks[b, :n] = drawn
            labels[b, :n] = self.labels[drawn]
        valid = np.arange(k)[None, :] < lengths[:, None]
        unique, inverse = np.unique(picks[valid], return_inverse=True)
        index = np.zeros_like(picks)
        index[valid] = inverse
        return SetBatch(
            unique=torch.from_numpy(unique),
            index=torch.from_numpy(index),
            lengths=torch.from_numpy(lengths.astype(np.int64)),
            targets=torch.from_numpy(same.astype(np.float32)),
            labels=torch.from_numpy(labels),
            same_query=torch.from_numpy(same),
        )


class SetStepPlanner:
    """Step -> micro-batches of sets: ``batch`` sets drawn by ``sampler`` from
    ``numpy.random.default_rng([*seed, step])`` (so a step's sets depend on nothing else), cut into
    micro-batches of ``micro`` sets (``SetBatch.split``)."""

    def __init__(self, sampler: HomogeneitySampler, batch: int, micro: int, seed):
        if micro < 1 or batch % micro:
            raise ValueError(f"micro-batch of {micro} sets must divide the batch of {batch} sets")
        self.sampler, self.batch, self.micro = sampler, int(batch), int(micro)
        self.seed = [int(s) for s in np.atleast_1d(seed)]
        self.micro_per_step = self.batch // self.micro
        self.plan = lru_cache(maxsize=64)(self._plan)

    def _plan(self, step: int) -> list[SetBatch]:
        return self.sampler.sample(self.batch, np.random.default_rng([*self.seed, int(step)])).split(self.micro)

    def keys(self, step: int) -> list[list[int]]:
        """The dataset positions each micro-batch of ``step`` loads (its distinct images)."""
        return [b.unique.tolist() for b in self.plan(step)]


def sampler_check(targets, set_size: int, classes, set_batch_size: int, rng: np.random.Generator,
                  sets: int = 2000) -> pd.DataFrame:
    """Notebook 03's check of both samplers (variants 1 and 2): over ``sets`` drawn sets, the share of
    homogeneous sets (target 1), whether the targets agree with the labels and the range of k_n; then,
    over one training step of ``set_batch_size`` sets, distinct images per image slot. One row a variant
    (rounded to 3 digits); the draws come from ``rng`` in that order."""
    rows = []
    for variant in (1, 2):
        batch = HomogeneitySampler(targets, set_size, variant, classes=classes).sample(sets, rng)
        labels = batch.labels.numpy()
        homogeneous = np.array([len(set(row[row >= 0])) == 1 for row in labels])
        rows.append({
            "variant": variant,
            "sets": len(labels),
            "homogeneous (target 1)": homogeneous.mean(),
            "targets agree with labels": bool((homogeneous == (batch.targets.numpy() == 1)).all()),
            "k_n min": int(batch.lengths.min()), "k_n mean": float(batch.lengths.float().mean()),
            "k_n max": int(batch.lengths.max()),
        })
        step = HomogeneitySampler(targets, set_size, variant, classes=classes).sample(set_batch_size, rng)
        rows[-1]["distinct images / slots in one step"] = len(step.unique) / int(step.lengths.sum())
    return pd.DataFrame(rows).set_index("variant").round(3)
