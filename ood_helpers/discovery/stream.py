"""Seeded streams over known and unseen classes, with the labelled memory the stream starts from.

A known class puts ``n_memory`` (= k - 1) of its images into the initial memory and the rest into the
stream; an unseen class puts all its images into the stream and none into memory. Orders:
"shuffled" (every image in random order) and "blocks" (the classes, known and unseen mixed, in random
order, ``block_classes`` at a time; a block's images shuffled among themselves), where new classes
arrive together and the rule meets many images of one new class in a row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ood_helpers.discovery.settings import ORDERS


@dataclass(frozen=True)
class Stream:
    """One stream: ``images`` [T] dataset indices in arrival order, their true ``labels`` [T]; the
    initial ``memory`` [M] image indices and their ``memory_labels`` [M]; the ``known`` and ``unseen``
    class ids; how it was drawn (``order``, ``seed``)."""

    images: np.ndarray
    labels: np.ndarray
    memory: np.ndarray
    memory_labels: np.ndarray
    known: np.ndarray
    unseen: np.ndarray
    order: str
    seed: int

    @property
    def is_known(self) -> np.ndarray:
        """[T] bool: the image's class is a known (labelled) class."""
        return np.isin(self.labels, self.known)

    def __len__(self) -> int:
        return len(self.images)


def make_stream(targets, known, unseen, *, n_memory: int, order: str, seed: int, block_classes: int = 5) -> Stream:
    """The stream over the images of ``known`` and ``unseen`` classes (``targets`` [N]: class id of every
    dataset image), drawn from ``seed`` alone: the same seed gives the same stream."""
    targets = np.asarray(targets)
    known, unseen = np.asarray(known, dtype=np.int64), np.asarray(unseen, dtype=np.int64)
    if order not in ORDERS:
        raise ValueError(f"stream order must be one of {ORDERS}, got {order!r}")
    if np.intersect1d(known, unseen).size:
        raise ValueError(f"known and unseen classes overlap: {np.intersect1d(known, unseen).tolist()}")
    if not isinstance(n_memory, (int, np.integer)) or n_memory < 1:
        raise ValueError(f"n_memory (labelled exemplars per known class, k - 1) must be an int >= 1, got {n_memory!r}")
    if block_classes < 1:
        raise ValueError(f"block_classes must be >= 1, got {block_classes}")
    rng = np.random.default_rng(seed)
    memory, pools = [], {}
    for c in known:
        idx = rng.permutation(np.flatnonzero(targets == c))
        if len(idx) <= n_memory:
            raise ValueError(f"known class {c} has {len(idx)} images; it needs more than n_memory = {n_memory} "
                             "(k - 1 go to the labelled memory, the rest into the stream)")
        memory.append(idx[:n_memory])
        pools[int(c)] = idx[n_memory:]
    for c in unseen:
        idx = np.flatnonzero(targets == c)
        if len(idx) == 0:
            raise ValueError(f"unseen class {c} has no images in this dataset")
        pools[int(c)] = rng.permutation(idx)
    if order == "shuffled":
        images = rng.permutation(np.concatenate(list(pools.values())))
    else:
        classes = rng.permutation(np.array(list(pools), dtype=np.int64))
        blocks = [classes[i:i + block_classes] for i in range(0, len(classes), block_classes)]
        images = np.concatenate([rng.permutation(np.concatenate([pools[int(c)] for c in b])) for b in blocks])
    memory = np.concatenate(memory) if memory else np.empty(0, np.int64)
    return Stream(images.astype(np.int64), targets[images].astype(np.int64), memory.astype(np.int64),
                  targets[memory].astype(np.int64), known, unseen, order, int(seed))


def pick_known(seen, n: int, seed: int) -> np.ndarray:
    """``n`` of the ``seen`` classes drawn by ``seed`` (all of them, in order, when n is 0 or too large)."""
    seen = np.asarray(seen, dtype=np.int64)
    if n <= 0 or n >= len(seen):
        return seen
    return np.sort(np.random.default_rng(seed).choice(seen, size=n, replace=False))
