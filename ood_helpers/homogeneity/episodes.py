"""The comparisons of OOD classification (paper 000, section 5.2): queries and their supports.

Sampling protocol, per trial, from one numpy Generator:

1. Queries: ``queries_per_class`` test images of each query class. When a class has at least
   that many images they are drawn uniformly without replacement. Beyond that (ImageNet has 50
   test images a class, the paper classifies 1000 a class, ten thousand for Table 3) every image
   of the class is taken ``per_class // n`` times and ``per_class % n`` more are drawn without
   replacement; a repeated query gets fresh supports, so it is a new comparison.
2. Supports: for *every query and every candidate class*, k - 1 images of that class drawn
   uniformly without replacement, never the query itself ("compared it to 24 images of each
   class", redrawn per comparison). They are drawn chunk by chunk of queries, all candidates
   of a chunk from one block of uniform keys (see :func:`sample_supports`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Episodes:
    """The comparisons of one trial (or chunk); every index points into the evaluated dataset.

    ``queries`` [Q] image indices, ``labels`` [Q] their class ids, ``candidates`` [C] the
    class ids compared against (score column order), ``supports`` [Q, C, k-1] image indices.
    """

    queries: np.ndarray
    labels: np.ndarray
    candidates: np.ndarray
    supports: np.ndarray

    @property
    def true_columns(self) -> np.ndarray:
        """Column of each query's class in ``candidates`` (-1 where it is not a candidate)."""
        return columns_of(self.labels, self.candidates)


def columns_of(classes, candidates) -> np.ndarray:
    """int64 [len(classes)]: position of each class id in ``candidates`` (-1 where absent)."""
    classes = np.asarray(classes, dtype=np.int64)
    candidates = np.asarray(candidates, dtype=np.int64)
    if len(candidates) == 0:
        return np.full(len(classes), -1, dtype=np.int64)
    order = np.argsort(candidates, kind="stable")
    at = np.searchsorted(candidates[order], classes).clip(max=len(candidates) - 1)
    return np.where(candidates[order][at] == classes, order[at], -1).astype(np.int64)


@dataclass(frozen=True)
class ClassPools:
    """Each class's image indices, computed once per dataset: ``members[c]`` [n_c] (ascending)
    and ``position`` [N], each image's place in its class's ``members``."""

    members: dict
    position: np.ndarray

    @classmethod
    def of(cls, targets) -> "ClassPools":
        targets = np.asarray(targets, dtype=np.int64)
        order = np.argsort(targets, kind="stable")
        classes, starts = np.unique(targets[order], return_index=True)
        groups = np.split(order, starts[1:])
        position = np.empty(len(targets), dtype=np.int64)
        for g in groups:
            position[g] = np.arange(len(g))
        return cls({int(c): g for c, g in zip(classes, groups)}, position)

    def pool(self, c) -> np.ndarray:
        return self.members.get(int(c), np.empty(0, dtype=np.int64))


def check_support_counts(targets, classes, n_supports: int, pools: ClassPools | None = None) -> None:
    """Raises ValueError unless every class has at least ``n_supports`` + 1 images
    (k - 1 supports that never include the query)."""
    if not isinstance(n_supports, (int, np.integer)) or n_supports < 1:
        raise ValueError(f"the number of supports k - 1 must be a positive int, got {n_supports!r}")
    pools = pools or ClassPools.of(targets)
    short = {int(c): len(pools.pool(c)) for c in classes if len(pools.pool(c)) < n_supports + 1}
    if short:
        shown = dict(list(short.items())[:8])
        raise ValueError(
            f"classes {shown} (class id: images) have fewer than k - 1 + 1 = {n_supports + 1} images; "
            f"comparing a query with k - 1 = {n_supports} supports of its own class needs that many. "
            "Use a smaller set_size or more test images per class (profile.per_class[2])"
        )


def sample_queries(targets, classes, per_class: int, rng: np.random.Generator,
                   pools: ClassPools | None = None) -> np.ndarray:
    """Image indices [len(classes) * per_class], grouped by class in the given order: without
    replacement up to a class's image count, every image again beyond it (module docstring)."""
    if not isinstance(per_class, (int, np.integer)) or per_class < 1:
        raise ValueError(f"queries per class must be a positive int, got {per_class!r}")
    pools = pools or ClassPools.of(targets)
    out = []
    for c in classes:
        pool = pools.pool(c)
        if len(pool) == 0:
            raise ValueError(f"class {int(c)} has no images to draw queries from")
        if per_class <= len(pool):
            out.append(rng.choice(pool, size=int(per_class), replace=False))
        else:
            repeats, rest = divmod(int(per_class), len(pool))
            out += [np.tile(pool, repeats), rng.choice(pool, size=rest, replace=False)]
    return np.concatenate(out).astype(np.int64)


def _support_layout(pools: ClassPools, candidates) -> tuple[np.ndarray, np.ndarray]:
    """(padded members [C, P] (-1 past a class's end), sizes [C]) of the candidate classes."""
    sizes = np.array([len(pools.pool(c)) for c in candidates], dtype=np.int64)
    padded = np.full((len(candidates), int(sizes.max(initial=1))), -1, dtype=np.int64)
    for j, c in enumerate(candidates):
        padded[j, :sizes[j]] = pools.pool(c)
    return padded, sizes


def support_draws(n_queries: int, candidates, pools: ClassPools) -> int:
    """How many uniform numbers :func:`sample_supports` takes from the generator for a chunk."""
    return int(n_queries) * int(sum(len(pools.pool(c)) for c in candidates))


def skip_supports(n_queries: int, candidates, pools: ClassPools, rng: np.random.Generator) -> None:
    """Moves ``rng`` past the draws of :func:`sample_supports` for ``n_queries`` queries without
    making them (PCG64 jumps; other generators draw and discard): how a rank skips the chunks
    another rank scores while staying on the same random sequence."""
    n = support_draws(n_queries, candidates, pools)
    if isinstance(rng.bit_generator, np.random.PCG64):
        rng.bit_generator.advance(n)  # one 64-bit step per double drawn by Generator.random
    else:
        for start in range(0, n, 1 << 24):
            rng.random(min(1 << 24, n - start))


def sample_supports(targets, queries, candidates, n_supports: int, rng: np.random.Generator,
                    pools: ClassPools | None = None, max_keys: int = 1 << 24) -> np.ndarray:
    """Support indices [Q, C, n_supports]: for every query and candidate class, ``n_supports``
    images of that class drawn uniformly without replacement, never the query itself.

    The n smallest of iid uniform keys form a uniform random subset: each candidate takes a
    [Q, n_c] block of keys from ``rng`` in candidate order (the same numbers as drawing them one
    candidate at a time), the query's own key and the padding are pushed past every other.
    Queries go in slices of at most ``max_keys`` keys (128 MB), one block of keys per slice.
    """
    queries = np.asarray(queries, dtype=np.int64)
    pools = pools or ClassPools.of(targets)
    check_support_counts(None, candidates, n_supports, pools)
    members, sizes = _support_layout(pools, candidates)
    n_q, (n_c, width) = len(queries), members.shape
    per_slice = max(1, max_keys // (n_c * width))
    if n_q > per_slice:
        return np.concatenate([sample_supports(targets, queries[s:s + per_slice], candidates, n_supports, rng, pools,
                                               max_keys) for s in range(0, n_q, per_slice)])
    keys = np.full((n_c, n_q, width), 2.0)
    valid = np.broadcast_to((np.arange(width) < sizes[:, None])[:, None, :], keys.shape)
    keys[valid] = rng.random(support_draws(n_q, candidates, pools))
    own = columns_of(np.asarray(targets)[queries], candidates)
    rows = np.flatnonzero(own >= 0)
    keys[own[rows], rows, pools.position[queries[rows]]] = 2.0
    picks = np.argpartition(keys, n_supports - 1, axis=2)[:, :, :n_supports]
    return np.ascontiguousarray(members[np.arange(n_c)[:, None, None], picks].transpose(1, 0, 2))


def sample_episodes(targets, candidates, *, n_supports: int, queries_per_class: int,
                    rng: np.random.Generator, query_classes=None) -> Episodes:
    """Queries of ``query_classes`` (default: the candidates) and their supports in every candidate."""
    targets = np.asarray(targets)
    candidates = np.asarray(candidates, dtype=np.int64)
    query_classes = candidates if query_classes is None else np.asarray(query_classes, dtype=np.int64)
    pools = ClassPools.of(targets)
    queries = sample_queries(targets, query_classes, queries_per_class, rng, pools)
    supports = sample_supports(targets, queries, candidates, n_supports, rng, pools)
    return Episodes(queries, targets[queries].astype(np.int64), candidates, supports)
