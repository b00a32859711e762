"""What makes a ``profile.Profile`` valid: the checks of single fields (``check_fields``, run at construction,
so also under ``dataclasses.replace``) and the checks between fields (``check_together``, run by
``Profile.validate`` before anything trains), with the ranges and names they check against. ``p`` is the
Profile (not imported: ``profile`` imports this module)."""

from __future__ import annotations


AUGMENTATIONS = ("auto", "imagenet", "cifar", "digits", "none")
CLASS_ORDERS = ("paper", "novel-digit")  # class orders of data/splits.py: class_order()
MIN_SET_SIZE, MAX_SET_SIZE = 2, 25  # images per homogeneity set (paper 000: k = 25)
# classes of the many-class sets (``Profile.validate`` checks class_split against them; others unchecked)
MANY_CLASS_COUNTS = {"mnist-pairs": 100, "cifar100": 100, "tinyimagenet": 200, "imagenet": 1000}


def check_fields(p) -> None:
    """The checks of single fields and of batch sizes against world_size and micro-batches (at construction,
    so also under ``dataclasses.replace``)."""
    for name in ("batch_size", "set_batch_size", "world_size", "eval_batch_sets"):
        value = getattr(p, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"profile {p.name!r}: {name} must be an int >= 1, got {value!r}")
    for name in ("num_workers", "micro_batch_images", "micro_batch_sets", "own_classifier_steps",
                 "own_classifier_image_size", "head_pretrain_steps",
                 "head_pretrain_sets"):
        value = getattr(p, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"profile {p.name!r}: {name} must be an int >= 0, got {value!r}")
    for batch, micro, what in ((p.batch_size, p.micro_batch_images, "images"),
                               (p.set_batch_size, p.micro_batch_sets, "sets")):
        name = "batch_size" if what == "images" else "set_batch_size"
        if batch % p.world_size:
            raise ValueError(f"profile {p.name!r}: {name}={batch} does not split evenly over "
                             f"world_size={p.world_size} processes; use a multiple of {p.world_size}")
        if micro and (batch // p.world_size) % micro:
            raise ValueError(
                f"profile {p.name!r}: micro_batch_{what}={micro} does not divide the {batch // p.world_size} "
                f"{what} each of {p.world_size} process(es) takes per step ({name}={batch}); "
                f"use a divisor of {batch // p.world_size}, or 0 for the whole batch")
    if p.class_order not in CLASS_ORDERS:
        raise ValueError(f"profile {p.name!r}: class_order must be one of {CLASS_ORDERS}, got {p.class_order!r}")
    if p.augmentation not in AUGMENTATIONS:
        raise ValueError(f"profile {p.name!r}: augmentation must be one of {AUGMENTATIONS}, got {p.augmentation!r}")
    _check_counts(p)


def _check_counts(p) -> None:
    """Field-local checks of the step, trial and class counts (part of ``check_fields``). Checks between
    fields are in ``check_together``."""

    def whole(value, low: int) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= low

    for name, low in (("trials", 1), ("queries_per_class", 1), ("eval_every", 1),
                      ("pretrain_steps", 0), ("homogeneity_steps", 0)):
        if not whole(getattr(p, name), low):
            raise ValueError(f"profile {p.name!r}: {name} must be an int >= {low}, got {getattr(p, name)!r}")
    if not whole(p.set_size, 0):
        raise ValueError(f"profile {p.name!r}: set_size must be an int (images per set), got {p.set_size!r}")
    for name, low, what in (("class_split", 1, "seen / validation / test class counts"),
                            ("per_class", 0, "train / val / test images a class, 0 = every image")):
        value = getattr(p, name)
        if not isinstance(value, (tuple, list)) or len(value) != 3 or not all(whole(v, low) for v in value):
            raise ValueError(f"profile {p.name!r}: {name} must be three ints >= {low} ({what}), got {value!r}")
    ranges = p.eval_ranges
    if (not isinstance(ranges, (tuple, list)) or not ranges or not all(whole(n, 1) for n in ranges)
            or any(b <= a for a, b in zip(ranges, ranges[1:]))):
        raise ValueError(f"profile {p.name!r}: eval_ranges must be increasing ints >= 1 (test classes of each "
                         f"growing range, e.g. (2, 4, 6)), got {ranges!r}")


def check_together(p) -> None:
    """The checks between fields (``Profile.validate``; its docstring lists them)."""
    where = f"profile {p.name!r}: "
    k = p.set_size
    if not MIN_SET_SIZE <= k <= MAX_SET_SIZE:
        raise ValueError(where + f"set_size (images per set) must be an int in {MIN_SET_SIZE}..{MAX_SET_SIZE}, "
                         f"got {k!r}")
    needs = (("train", "a training set holds set_size images of one seen class"),
             ("val", "a validation set of Fig. 2 holds set_size images of one class"),
             ("test", "eq. 1 compares a query with set_size - 1 other images of its class"))
    short = [f"per_class[{i}] = {n} {split} images a class, but {why}"
             for i, ((split, why), n) in enumerate(zip(needs, p.per_class)) if 0 < n < k]
    if short:
        raise ValueError(where + f"set_size={k} does not fit per_class={tuple(p.per_class)}: " + "; ".join(short)
                         + f". Use set_size <= {min(n for n in p.per_class if n)} or per_class entries "
                         f">= {k} (0 = every image)")
    if p.many_class == "mnist-pairs" and 0 in p.per_class:
        raise ValueError(where + f"per_class={tuple(p.per_class)}: many_class 'mnist-pairs' composes that many "
                         "pairs a class and has no 'every image' (0); give three positive counts")
    test = p.class_split[2]
    if p.eval_ranges[-1] > test:
        raise ValueError(where + f"eval_ranges={tuple(p.eval_ranges)} reaches {p.eval_ranges[-1]} test classes "
                         f"but class_split={tuple(p.class_split)} has {test} (class_split[2]); every range must "
                         f"be <= {test}")
    if p.class_order == "novel-digit" and (p.many_class != "mnist-pairs" or p.num_classes != 100
                                           or p.class_split[0] > 81):
        raise ValueError(where + f"class_order 'novel-digit' needs many_class 'mnist-pairs' with 100 classes and at "
                         f"most 81 seen (the numbers without a 9); got many_class={p.many_class!r}, "
                         f"class_split={tuple(p.class_split)}")
    available = MANY_CLASS_COUNTS.get(p.many_class)
    if available is not None and p.num_classes > available:
        raise ValueError(where + f"class_split={tuple(p.class_split)} needs {p.num_classes} classes but "
                         f"many_class {p.many_class!r} has {available}")
