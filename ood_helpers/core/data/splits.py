"""Class-range splits (seen / validation / test classes) and open-set known / unknown splits.

The main paper (appendix A.2) shuffles ImageNet's classes with ``numpy.random.seed(0);
numpy.random.rand(1000).argsort()`` and uses classes 1-800 of that order for training,
801-900 for validation and 901-1000 for testing (section 5.1). ``class_split`` applies
the same rule to any class count, e.g. 80 / 10 / 10 of MNIST-pairs' 100 classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ood_helpers.core.profile import CLASS_ORDERS


def paper_class_order(num_classes: int, seed: int = 0) -> np.ndarray:
    """Original class ids in the paper's shuffled order, int64 [num_classes].

    Same draws as ``numpy.random.seed(seed); numpy.random.rand(C).argsort()`` without
    touching NumPy's global state.
    """
    if not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    return np.random.RandomState(seed).rand(int(num_classes)).argsort().astype(np.int64)


NOVEL_DIGIT = 9  # "novel-digit": no seen MNIST-pairs class contains this digit


def novel_digit_order(num_classes: int = 100, seed: int = 0, digit: int = NOVEL_DIGIT) -> np.ndarray:
    """MNIST-pairs classes (class c = the number c, two digits) in a harder order: the paper's shuffle,
    stably partitioned so that every class without ``digit`` comes first. With 80 / 10 / 10, the 80 seen
    classes never show ``digit``; 19 of the 20 unseen classes (all 10 test classes) contain it, so the
    encoder meets a digit it was never trained on, as ImageNet's unseen classes bring unseen objects.
    Only defined for 100 classes."""
    if num_classes != 100:
        raise ValueError(f"class_order 'novel-digit' is defined for MNIST-pairs' 100 classes, got {num_classes}")
    if not isinstance(digit, (int, np.integer)) or not 0 <= digit <= 9:
        raise ValueError(f"digit must be an int in 0..9, got {digit!r}")
    order = paper_class_order(num_classes, seed)
    has_digit = np.array([digit in (c // 10, c % 10) for c in order])
    return np.concatenate([order[~has_digit], order[has_digit]])


def class_order(num_classes: int, rule: str = "paper", seed: int = 0) -> np.ndarray:
    """Original class ids in the order whose consecutive ranges are seen / val / test: "paper" (appendix
    A.2's shuffle) or "novel-digit" (:func:`novel_digit_order`, MNIST-pairs only)."""
    if rule == "paper":
        return paper_class_order(num_classes, seed)
    if rule == "novel-digit":
        return novel_digit_order(num_classes, seed)
    raise ValueError(f"class order must be one of {CLASS_ORDERS}, got {rule!r}")


@dataclass(frozen=True)
class ClassSplit:
    """Original class ids of each range, in shuffled order (int64 arrays)."""

    seen: np.ndarray
    val: np.ndarray
    test: np.ndarray
    num_classes: int

    def __post_init__(self):
        groups = {"seen": self.seen, "val": self.val, "test": self.test}
        for name, ids in groups.items():
            ids = np.asarray(ids)
            if ids.ndim != 1 or len(ids) == 0:
                raise ValueError(f"class split {name!r} is empty; every range needs at least one class")
            if ids.min() < 0 or ids.max() >= self.num_classes:
                raise ValueError(f"class split {name!r} has ids outside [0, {self.num_classes}): {ids.tolist()}")
        joined = np.concatenate(list(groups.values()))
        values, counts = np.unique(joined, return_counts=True)
        if (counts > 1).any():
            raise ValueError(f"class splits overlap: classes {values[counts > 1].tolist()} appear more than once")

    def range(self, name: str) -> np.ndarray:
        """Class ids of "seen" | "val" | "test" | "seen+val" (the paper's 1-900) | "all"."""
        ranges = {
            "seen": self.seen,
            "val": self.val,
            "test": self.test,
            "seen+val": np.concatenate([self.seen, self.val]),
            "all": np.concatenate([self.seen, self.val, self.test]),
        }
        if name not in ranges:
            raise ValueError(f"unknown class range {name!r}; expected one of {list(ranges)}")
        return ranges[name]

    def group_of(self) -> dict[int, str]:
        """Original class id -> "seen" | "val" | "test"."""
        return {int(c): g for g in ("seen", "val", "test") for c in getattr(self, g)}


def class_split(profile_or_num_classes, counts: tuple[int, int, int] | None = None, seed: int = 0) -> ClassSplit:
    """Seen / val / test class ids: consecutive ranges of ``class_order(C, rule, seed)``.

    ``profile_or_num_classes`` is a Profile (C and counts from ``profile.class_split``, the rule from
    ``profile.class_order``) or an int C (then ``counts`` is required, and the rule is the paper's).
    Counts must be positive and sum to at most C.
    """
    rule = "paper"
    if hasattr(profile_or_num_classes, "class_split"):
        profile = profile_or_num_classes
        counts = tuple(profile.class_split) if counts is None else counts
        num_classes = int(sum(profile.class_split))
        rule = getattr(profile, "class_order", "paper")
    else:
        num_classes = profile_or_num_classes
        if counts is None:
            raise ValueError("class_split(num_classes) needs counts=(seen, val, test)")
    if not isinstance(num_classes, (int, np.integer)) or num_classes < 3:
        raise ValueError(f"need at least 3 classes for a seen/val/test split, got {num_classes!r}")
    counts = tuple(counts)
    if len(counts) != 3 or any(not isinstance(c, (int, np.integer)) or c < 1 for c in counts):
        raise ValueError(f"counts must be three positive ints (seen, val, test), got {counts!r}")
    if sum(counts) > num_classes:
        raise ValueError(f"counts {counts} need {sum(counts)} classes but only {num_classes} exist")
    order = class_order(num_classes, rule, seed)
    a, b, c = counts
    return ClassSplit(order[:a], order[a : a + b], order[a + b : a + b + c], int(num_classes))


def test_ranges(split: ClassSplit, sizes) -> list[np.ndarray]:
    """The first n test classes (shuffled order) for each n in ``sizes`` (e.g. paper 000's eval_ranges setting)."""
    out = []
    for n in sizes:
        if not isinstance(n, (int, np.integer)) or not 1 <= n <= len(split.test):
            raise ValueError(f"test range size must be an int in [1, {len(split.test)}], got {n!r}")
        out.append(split.test[: int(n)])
    return out


test_ranges.__test__ = False  # not a pytest test, despite the name


def open_set_splits(num_classes: int, num_known: int, trials: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """``trials`` random (known, unknown) class-id splits, each sorted int64; same seed, same splits."""
    if not isinstance(num_classes, (int, np.integer)) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
    if not isinstance(num_known, (int, np.integer)) or not 1 <= num_known < num_classes:
        raise ValueError(f"num_known must be an int in [1, {num_classes - 1}], got {num_known!r}")
    if not isinstance(trials, (int, np.integer)) or trials < 1:
        raise ValueError(f"trials must be a positive int, got {trials!r}")
    rng = np.random.default_rng(seed)
    splits = []
    for _ in range(int(trials)):
        perm = rng.permutation(int(num_classes))
        splits.append((np.sort(perm[:num_known]).astype(np.int64), np.sort(perm[num_known:]).astype(np.int64)))
    return splits


def range_labels(profile) -> dict[str, str]:
    """Class range name -> the paper's 1-based notation, e.g. {"seen": "1-80", "val": "81-90", ...}."""
    seen, val, test = profile.class_split
    return {
        "seen": f"1-{seen}",
        "val": f"{seen + 1}-{seen + val}",
        "test": f"{seen + val + 1}-{seen + val + test}",
        "all": f"1-{seen + val + test}",
    }
