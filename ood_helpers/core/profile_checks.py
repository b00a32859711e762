"""What makes a ``profile.Profile`` valid: the checks of single fields (``check_fields``, run at construction,
so also under ``dataclasses.replace``) and the checks between fields (``check_together``, run by
``Profile.validate`` before anything trains), with the ranges and names they check against. ``p`` is the
Profile (not imported: ``profile`` imports this module)."""

from __future__ import annotations


AUGMENTATIONS = ("auto", "imagenet", "cifar", "digits", "none")
CLASS_ORDERS = ("paper", "novel-digit")  # class orders of core/data/splits.py: class_order()
MIN_SET_SIZE, MAX_SET_SIZE = 2, 25  # images per homogeneity set (paper 000: k = 25)
# classes of the many-class sets (``Profile.validate`` checks class_split against them; others unchecked)
MANY_CLASS_COUNTS = {"mnist-pairs": 100, "cifar100": 100, "tinyimagenet": 200, "imagenet": 1000}


def check_batch_split(where: str, batch_name: str, batch: int, micro_name: str, micro: int, world_size: int,
                      what: str) -> None:
    """A global batch splits evenly over ``world_size`` processes, and each process's share into micro-batches of
    ``micro`` (0 = the whole share); else a ValueError starting with ``where`` and naming both fields."""
    if batch % world_size:
        raise ValueError(where + f"{batch_name}={batch} does not split evenly over world_size={world_size} processes; "
                         f"use a multiple of {world_size}")
    per_process = batch // world_size
    if micro and per_process % micro:
        raise ValueError(where + f"{micro_name}={micro} does not divide the {per_process} {what} each of {world_size} "
                         f"process(es) takes per step ({batch_name}={batch}); use a divisor of {per_process}, or 0 "
                         "for the whole batch")


def check_fields(p) -> None:
    """The checks of single fields and of batch sizes against world_size and micro-batches (at construction,
    so also under ``dataclasses.replace``)."""
    for name in ("batch_size", "world_size", "nodes", "eval_batch_sets", "noise_images"):
        value = getattr(p, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"profile {p.name!r}: {name} must be an int >= 1, got {value!r}")
    for name in ("num_workers", "micro_batch_images", "micro_batch_sets", "threads"):
        value = getattr(p, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"profile {p.name!r}: {name} must be an int >= 0, got {value!r}")
    if p.world_size % p.nodes:
        raise ValueError(f"profile {p.name!r}: world_size={p.world_size} does not split evenly over nodes={p.nodes} "
                         f"machines; use a multiple of {p.nodes} (the same number of processes on every node)")
    # homogeneity sets (set_batch_size, micro_batch_sets): homogeneity.settings checks them the same way
    check_batch_split(f"profile {p.name!r}: ", "batch_size", p.batch_size, "micro_batch_images", p.micro_batch_images,
                      p.world_size, "images")
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

    for name, low in (("trials", 1), ("models", 1)):
        if not whole(getattr(p, name), low):
            raise ValueError(f"profile {p.name!r}: {name} must be an int >= {low}, got {getattr(p, name)!r}")
    for name, low, what in (("class_split", 1, "seen / validation / test class counts"),
                            ("per_class", 0, "train / val / test images a class, 0 = every image")):
        value = getattr(p, name)
        if not isinstance(value, (tuple, list)) or len(value) != 3 or not all(whole(v, low) for v in value):
            raise ValueError(f"profile {p.name!r}: {name} must be three ints >= {low} ({what}), got {value!r}")


def check_together(p) -> None:
    """The checks between fields (``Profile.validate``; its docstring lists them)."""
    where = f"profile {p.name!r}: "
    if p.many_class == "mnist-pairs" and 0 in p.per_class:
        raise ValueError(where + f"per_class={tuple(p.per_class)}: many_class 'mnist-pairs' composes that many "
                         "pairs a class and has no 'every image' (0); give three positive counts")
    if p.class_order == "novel-digit" and (p.many_class != "mnist-pairs" or p.num_classes != 100
                                           or p.class_split[0] > 81):
        raise ValueError(where + f"class_order 'novel-digit' needs many_class 'mnist-pairs' with 100 classes and at "
                         f"most 81 seen (the numbers without a 9); got many_class={p.many_class!r}, "
                         f"class_split={tuple(p.class_split)}")
    available = MANY_CLASS_COUNTS.get(p.many_class)
    if available is not None and p.num_classes > available:
        raise ValueError(where + f"class_split={tuple(p.class_split)} needs {p.num_classes} classes but "
                         f"many_class {p.many_class!r} has {available}")
