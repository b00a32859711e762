"""The discovery rule (paper 000, section 6), run for many streams / thresholds at once.

For each arriving image: score it against every class in memory (k - 1 exemplars of the class,
drawn uniformly anew at every comparison once the class holds more, as eq. 4 draws 24 of a large
cluster); assign it to the best class when that score is >= the threshold, else open a new class
with this image as its only exemplar. Memory grows with every image. Known classes keep their class
ids; the j-th new class of a run is labelled -j (-1, -2, ...), so no new label can equal a true id.

``R`` runs (each its own stream and threshold) advance in lockstep: every step collects the sets
of all runs' classes and calls the scorer once, so a step is one batched forward however many
runs and classes there are. Every run draws its exemplars from its own generator, so a run's
result does not depend on which runs share its batches (up to the scorer's float rounding).
Written by hand: no library implements this online open-world rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

ClassScorer = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
"""``(queries [P], exemplars [P, k-1] (padded with -1), counts [P]) -> scores [P]`` (float, larger =
more likely the query belongs with the exemplars): one score per (query image, class) pair."""


@dataclass
class Discovery:
    """What the rule did: ``pred`` [R, T] label given to each stream image (a class id >= 0 or a new
    class -1, -2, ...; -(10**9) where a run's stream had no image), ``best`` [R, T] the best score it
    met, ``opened`` [R, T] True where the image opened a new class."""

    pred: np.ndarray
    best: np.ndarray
    opened: np.ndarray


NO_IMAGE = -(10**9)


def discover(scorer: ClassScorer, streams, memory, memory_labels, thresholds, *, n_exemplars: int,
             seeds) -> Discovery:
    """Runs the rule over ``streams`` [R, T] (image indices, -1 = no image at that step) with initial
    ``memory`` / ``memory_labels`` (per run: arrays of image indices and their class ids >= 0),
    ``thresholds`` [R] and ``seeds`` [R] (each run's exemplar draws)."""
    streams = np.atleast_2d(np.asarray(streams, dtype=np.int64))
    n_runs, steps = streams.shape
    thresholds = np.broadcast_to(np.asarray(thresholds, dtype=np.float64), (n_runs,))
    seeds = list(np.broadcast_to(np.asarray(seeds), (n_runs,)))
    if len(memory) != n_runs or len(memory_labels) != n_runs:
        raise ValueError(f"memory and memory_labels need one array per run ({n_runs}), got {len(memory)} and "
                         f"{len(memory_labels)}")
    if not isinstance(n_exemplars, (int, np.integer)) or n_exemplars < 1:
        raise ValueError(f"n_exemplars (k - 1) must be an int >= 1, got {n_exemplars!r}")
    # Flat memory of all runs: every class of every run is a "slot"; mem_* hold one row per exemplar.
    slot_run, slot_label, mem_img, mem_slot = [], [], [], []
    for r in range(n_runs):
        imgs, labs = np.asarray(memory[r], dtype=np.int64), np.asarray(memory_labels[r], dtype=np.int64)
        if imgs.shape != labs.shape or imgs.ndim != 1:
            raise ValueError(f"run {r}: memory and memory_labels must be 1-D arrays of equal length")
        if len(labs) == 0 or labs.min() < 0:
            raise ValueError(f"run {r}: the initial memory needs at least one class, with labels >= 0")
        classes, inverse = np.unique(labs, return_inverse=True)
        mem_img.append(imgs)
        mem_slot.append(len(slot_run) + inverse)
        slot_run += [r] * len(classes)
        slot_label += classes.tolist()
    slot_run, slot_label = np.array(slot_run, np.int64), np.array(slot_label, np.int64)
    mem_img, mem_slot = np.concatenate(mem_img), np.concatenate(mem_slot)
    rngs = [np.random.default_rng(int(s)) for s in seeds]
    next_new = np.full(n_runs, -1, np.int64)
    pred = np.full((n_runs, steps), NO_IMAGE, np.int64)
    best = np.full((n_runs, steps), np.nan)
    opened = np.zeros((n_runs, steps), bool)
    for t in range(steps):
        queries = streams[:, t]
        active = queries >= 0
        if not active.any():
            continue
        exemplars, counts = draw_exemplars(mem_img, mem_slot, slot_run, len(slot_run), n_exemplars, rngs)
        pairs = np.flatnonzero(active[slot_run])
        scores = np.asarray(scorer(queries[slot_run[pairs]], exemplars[pairs], counts[pairs]), dtype=np.float64)
        if scores.shape != (len(pairs),):
            raise ValueError(f"the scorer must return one score per (query, class) pair: {len(pairs)}, got "
                             f"shape {scores.shape}")
        # the best pair of each run: highest score, ties to the older class
        order = np.lexsort((pairs, -scores, slot_run[pairs]))
        runs_sorted = slot_run[pairs][order]
        first = order[np.r_[True, runs_sorted[1:] != runs_sorted[:-1]]]
        runs, slots, top = slot_run[pairs][first], pairs[first], scores[first]
        best[runs, t] = top
        assign = top >= thresholds[runs]
        pred[runs[assign], t] = slot_label[slots[assign]]
        new_runs = runs[~assign]
        new_slots = len(slot_run) + np.arange(len(new_runs))
        pred[new_runs, t] = next_new[new_runs]
        opened[new_runs, t] = True
        slot_run = np.concatenate([slot_run, new_runs])
        slot_label = np.concatenate([slot_label, next_new[new_runs]])
        next_new[new_runs] -= 1
        mem_img = np.concatenate([mem_img, queries[runs[assign]], queries[new_runs]])
        mem_slot = np.concatenate([mem_slot, slots[assign], new_slots])
    return Discovery(pred, best, opened)


def draw_exemplars(mem_img, mem_slot, slot_run, n_slots: int, n_exemplars: int, rngs) -> tuple[np.ndarray, np.ndarray]:
    """(exemplars [S, n_exemplars] padded with -1, counts [S]): every slot's members when it holds at
    most ``n_exemplars``, else ``n_exemplars`` of them drawn uniformly without replacement (the
    smallest random keys; each run's keys from its own generator, ``rngs[run]``)."""
    runs_of_rows = slot_run[mem_slot]
    by_run = np.argsort(runs_of_rows, kind="stable")
    sizes = np.bincount(runs_of_rows, minlength=len(rngs))
    keys = np.empty(len(mem_img))
    keys[by_run] = np.concatenate([rngs[r].random(n) for r, n in enumerate(sizes)])
    order = np.lexsort((keys, mem_slot))
    slot_sorted = mem_slot[order]
    starts = np.searchsorted(slot_sorted, np.arange(n_slots))
    rank = np.arange(len(order)) - starts[slot_sorted]
    keep = rank < n_exemplars
    exemplars = np.full((n_slots, n_exemplars), -1, np.int64)
    exemplars[slot_sorted[keep], rank[keep]] = mem_img[order][keep]
    counts = np.minimum(np.bincount(mem_slot, minlength=n_slots), n_exemplars)
    return exemplars, counts
