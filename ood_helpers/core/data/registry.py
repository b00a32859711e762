"""``load_dataset``: the one entry point from a dataset name and split to an ``ImageSet``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from ood_helpers.core.data.embedded import NOISE_IMAGES, SPLITS, check_split, load_digit_set, load_mnist_pairs, load_noise
from ood_helpers.core.data.image_folder import first_per_class
from ood_helpers.core.data.imageset import ImageSet, adapt_images, check_channels, target_hw
from ood_helpers.core.data.imagenet import load_imagenet, load_tinyimagenet
from ood_helpers.core.data.torchvision_sets import load_torchvision

EMBEDDED = ("mnist5k", "digits", "mnist-pairs")
NOISE = ("gaussian", "uniform")
TORCHVISION = ("mnist", "fashion-mnist", "cifar10", "cifar100", "svhn", "omniglot")
FOLDERS = ("imagenet", "tinyimagenet")
DATASETS = [*EMBEDDED, *NOISE, *TORCHVISION, *FOLDERS]
DEFAULT_PER_CLASS = (60, 20, 20)  # the quick profile's MNIST-pairs sizes


def load_dataset(
    name: str,
    split: str,
    *,
    profile=None,
    root: str | Path | None = None,
    image_size=None,
    channels: int | None = None,
    seed: int | None = None,
    download: bool = True,
    per_class: tuple[int, int, int] | None = None,
) -> ImageSet:
    """One split ("train" | "val" | "test") of dataset ``name`` (see ``DATASETS``) as an ImageSet.

    With ``profile``, ``channels``, ``image_size``, ``per_class`` and ``seed`` default from it;
    without, images keep their native channels and size. MNIST-pairs under a profile has
    ``min(100, profile.num_classes)`` classes (ids 0 .. C-1, the ids ``class_split`` uses). ``per_class`` = (train, val, test):
    MNIST-pairs' images a class per split; for torchvision sets, folder copies, ImageNet and
    TinyImageNet only ``per_class[1]`` matters: "val" = the first that many training images
    of each class, "train" = the rest, "test" = the official test split. ``root`` (or
    ``OOD_<NAME>_DIR``) points at a torchvision root or an image-folder copy. ImageNet and
    TinyImageNet return a lazy ``FolderImageSet`` that decodes files on access.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}")
    check_split(split)
    check_channels(channels)
    if profile is not None:
        channels = profile.channels if channels is None else channels
        image_size = profile.image_size if image_size is None else image_size
        per_class = tuple(profile.per_class) if per_class is None else per_class
        seed = profile.seed if seed is None else seed
    per_class = tuple(DEFAULT_PER_CLASS if per_class is None else per_class)
    if len(per_class) != 3 or any(not isinstance(n, (int, np.integer)) or n < 0 for n in per_class):
        raise ValueError(f"per_class must be three ints >= 0 (train, val, test images a class), got {per_class!r}")
    seed = 0 if seed is None else int(seed)
    target_hw((1, 1), image_size)  # validates image_size before any work

    if name in NOISE:
        count = profile.noise_images if profile is not None else NOISE_IMAGES
        return load_noise(name, split, channels=channels or 1, image_size=image_size, seed=seed, count=count)
    if name in FOLDERS:
        loader = load_imagenet if name == "imagenet" else load_tinyimagenet
        return loader(split, root=root, val_per_class=per_class[1], channels=channels, image_size=image_size)
    if name == "mnist-pairs":
        # a profile with fewer classes (smoke: 12) gets only the classes its split can name
        num_classes = min(100, profile.num_classes) if profile is not None else 100
        ds = load_mnist_pairs(split, per_class=per_class, seed=seed, num_classes=num_classes)
    elif name in EMBEDDED:
        ds = load_digit_set(name, split, seed=seed)
    else:
        ds = load_torchvision(name, split, root=root, val_per_class=per_class[1], download=download)
    if channels is None and image_size is None:
        return ds
    return ImageSet(adapt_images(ds.images, channels=channels, image_size=image_size), ds.targets, ds.classes, ds.name, ds.extra)



@lru_cache(maxsize=8)
def _load(name: str, split: str, per_class: tuple, channels: int, image_size, seed: int):
    return load_dataset(name, split, per_class=per_class, channels=channels, image_size=image_size, seed=seed)


def many_class_split(profile, split: str):
    """The profile's many-class dataset (MNIST-pairs, CIFAR-100, ImageNet), one split, all classes;
    loaded once per process. Its test split holds at most ``per_class[2]`` images a class (0 = all; the cifar
    and paper profiles' 100 / 50 are all of CIFAR-100's / ImageNet's, a dry run takes fewer)."""
    ds = _load(profile.many_class, split, tuple(profile.per_class), profile.channels, profile.image_size, profile.seed)
    cap = profile.per_class[2]
    if split != "test" or not cap or profile.many_class in EMBEDDED:
        return ds
    keep = first_per_class(ds.targets.numpy(), cap)
    return ds if keep.all() else ds.subset(np.flatnonzero(keep))


__all__ = ["DATASETS", "SPLITS", "load_dataset", "many_class_split"]
