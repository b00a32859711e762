"""Data of notebook 07: the in-distribution digit sets, MNIST-{a,b} held-out splits and the OOD sets of
Table I, each named for what it is. Every set is float [N, C, H, W] in [0, 1] (spec §6 item 9).

Noise rows: Hendrycks & Gimpel's definitions (``N(0, 1)`` unclipped, ``U[0, 1)``), which are the faithful
ones, plus the project's clipped ``N(0.5, 1)`` (ODIN style, ``core/data/embedded.py``) as an extra, harder row.
Real Omniglot / notMNIST / CIFAR-10 / SUN are read through torchvision or a user's folder
(``OOD_<NAME>_DIR``); where one cannot be read, the caller gets ``Unavailable`` with the reason.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ood_helpers.core.data.embedded import load_digit_set, load_noise
from ood_helpers.core.data.imageset import adapt_images
from ood_helpers.core.data.torchvision_sets import load_torchvision
from ood_helpers.embedding_ood.typeset import GLYPHS_NAME, LETTERS_NAME, jittered

HG_GAUSSIAN = "Gaussian N(0, 1), unclipped (Hendrycks & Gimpel)"
HG_UNIFORM = "Uniform U[0, 1) (Hendrycks & Gimpel)"
CLIPPED_GAUSSIAN = "Gaussian N(0.5, 1) clipped to [0, 1] (project's ODIN-style noise, extra row)"
DIGITS_SHIFT = "sklearn 8x8 digits resized to 28x28 (same classes, other acquisition: covariate shift, beyond the paper)"
CIFAR_GREY = "CIFAR-10bw: CIFAR-10 test images, grey, 28x28"
OMNIGLOT = "Omniglot background set, 15 alphabets unlike digits, inverted, 28x28"
NOTMNIST = "notMNIST (user folder OOD_NOTMNIST_DIR), 28x28"
SUN = "SUN scenes (user folder OOD_SUN_DIR), 32x32"
# the 15 background alphabets Hendrycks & Gimpel kept (indices 0,2,5,6,8,12-19,21,26 of data_background.mat),
# read in torchvision's sorted alphabet order (?)
SAFE_ALPHABETS = ("Alphabet_of_the_Magi", "Arcadian", "Balinese", "Bengali", "Braille", "Futurama", "Grantha", "Greek",
                  "Gujarati", "Hebrew", "Inuktitut_(Canadian_Aboriginal_Syllabics)", "Japanese_(hiragana)",
                  "Japanese_(katakana)", "Latin", "Sanskrit")
CIFAR_VAL_PER_CLASS = 500  # the first 500 training images of each class are kept out of "train" (the val split)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff")


@dataclass(frozen=True)
class Unavailable:
    """An OOD set that could not be read here, and why (shown in the table instead of numbers)."""

    name: str
    reason: str


def as_float(images: torch.Tensor) -> torch.Tensor:
    return images.float() / 255.0


def spread(images: torch.Tensor, n: int) -> torch.Tensor:
    """``n`` images evenly spaced through ``images`` (all when fewer): folder copies list a class at a time,
    so a prefix would hold one class only."""
    if n >= len(images):
        return images
    return images[torch.from_numpy(np.linspace(0, len(images) - 1, n).round().astype(np.int64))]


def digit_split(id_set: str, split: str, *, seed: int = 0, download: bool = True,
                val_per_class: int = 500) -> tuple[torch.Tensor, np.ndarray]:
    """(float [N, 1, 28, 28] in [0, 1], labels) of "digits", "mnist5k" (60/20/20 splits) or "mnist" (torchvision: a
    local copy first, else downloaded when ``download``; offline without a copy it raises naming OOD_MNIST_DIR)."""
    if id_set in ("digits", "mnist5k"):
        ds = load_digit_set(id_set, split, seed=seed)
    elif id_set == "mnist":
        ds = load_torchvision("mnist", split, val_per_class=val_per_class, download=download)
    else:
        raise ValueError(f"id_set must be digits, mnist5k or mnist, got {id_set!r}")
    return as_float(ds.images), np.asarray(ds.targets, np.int64)


def kept_digits(pair, digits: int = 10) -> list[int]:
    """The digits 0 .. ``digits`` - 1 that are not in the held-out ``pair``, in order."""
    return [d for d in range(digits) if d not in pair]


def heldout(images: torch.Tensor, labels: np.ndarray, pair) -> tuple[torch.Tensor, np.ndarray, torch.Tensor, np.ndarray]:
    """(kept images, kept labels renumbered 0..K-1 in digit order, held-out images, their original digits)."""
    labels = np.asarray(labels)
    out = np.isin(labels, list(pair))
    kept_digits = [d for d in np.unique(labels) if d not in pair]
    relabel = {d: i for i, d in enumerate(kept_digits)}
    keep_idx, out_idx = np.flatnonzero(~out), np.flatnonzero(out)
    return (images[torch.from_numpy(keep_idx)], np.array([relabel[d] for d in labels[keep_idx]], np.int64),
            images[torch.from_numpy(out_idx)], labels[out_idx])


def hg_gaussian(n: int, shape, *, seed: int) -> torch.Tensor:
    """Hendrycks & Gimpel's MNIST Gaussian set: i.i.d. N(0, 1) pixels, unclipped."""
    return torch.from_numpy(np.random.default_rng([int(seed), 11]).standard_normal((n, *shape)).astype(np.float32))


def hg_uniform(n: int, shape, *, seed: int) -> torch.Tensor:
    """Hendrycks & Gimpel's Uniform set: i.i.d. U[0, 1) pixels."""
    return torch.from_numpy(np.random.default_rng([int(seed), 12]).random((n, *shape)).astype(np.float32))


def clipped_gaussian(n: int, shape, *, seed: int) -> torch.Tensor:
    """The project's noise (N(0.5, 1) clipped to [0, 1], ``data.embedded.load_noise``), ``n`` of its test images."""
    c, h, w = shape
    imgs = load_noise("gaussian", "test", channels=c, image_size=(h, w), seed=seed).images
    if n > len(imgs):
        raise ValueError(f"the project's noise set has {len(imgs)} test images, {n} were asked for")
    return as_float(imgs[:n])


def _cifar(split: str, *, channels: int, size: int, download: bool, val_per_class: int = CIFAR_VAL_PER_CLASS):
    ds = load_torchvision("cifar10", split, val_per_class=val_per_class, download=download)
    return as_float(adapt_images(ds.images, channels=channels, image_size=size)), np.asarray(ds.targets, np.int64)


def cifar_grey(n: int, *, download: bool = False):
    """CIFAR-10bw (grey 28x28 test images, ITU-R 601 luminance) or ``Unavailable``."""
    try:
        x, _ = _cifar("test", channels=1, size=28, download=download)
    except (FileNotFoundError, RuntimeError, OSError) as err:
        return Unavailable(CIFAR_GREY, f"CIFAR-10 not readable here (set OOD_CIFAR10_DIR to an image-folder copy): {err}")
    return spread(x, n)


def cifar_colour(split: str, *, download: bool = False, val_per_class: int = CIFAR_VAL_PER_CLASS):
    """(float [N, 3, 32, 32], labels) of CIFAR-10 ``split``; raises with the loader's message offline."""
    return _cifar(split, channels=3, size=32, download=download, val_per_class=val_per_class)


def omniglot(n: int, *, download: bool = False):
    """Omniglot background characters of ``SAFE_ALPHABETS``, inverted to white on black, 28x28, or ``Unavailable``."""
    try:
        ds = load_torchvision("omniglot", "train", val_per_class=0, download=download)
    except (FileNotFoundError, RuntimeError, OSError, ValueError) as err:
        return Unavailable(OMNIGLOT, f"Omniglot not readable here (torchvision download or OOD_OMNIGLOT_DIR): {err}")
    safe = [i for i, c in enumerate(ds.classes) if c.split("/")[0] in SAFE_ALPHABETS]
    idx = np.flatnonzero(np.isin(np.asarray(ds.targets), safe))
    imgs = 255 - adapt_images(ds.images[torch.from_numpy(idx)], channels=1)  # black strokes on white -> MNIST polarity
    return spread(as_float(adapt_images(imgs, image_size=28)), n)


def folder_images(var: str, name: str, *, channels: int, size: int, n: int):
    """Up to ``n`` images found under the folder ``$var`` (any depth, sorted paths), resized, or ``Unavailable``."""
    from PIL import Image

    root = os.environ.get(var)
    if not root:
        return Unavailable(name, f"no offline copy: set {var} to a folder of images (any layout) to score this set")
    files = sorted(p for p in Path(root).expanduser().rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"{var}={root} holds no image files ({', '.join(IMAGE_SUFFIXES)})")
    mode = "L" if channels == 1 else "RGB"
    files = [files[i] for i in np.linspace(0, len(files) - 1, min(n, len(files))).round().astype(int)]
    arrs = [np.asarray(Image.open(f).convert(mode).resize((size, size), Image.Resampling.BILINEAR)) for f in files]
    x = torch.from_numpy(np.stack(arrs)).reshape(len(arrs), size, size, channels).permute(0, 3, 1, 2).contiguous()
    return as_float(x)


def mnist_ood_sets(n: int, *, seed: int, offline: bool, include_digits: bool = True) -> dict:
    """Table I's OOD sets for a 28x28 MNIST model, name -> float images or ``Unavailable``: the real sets
    where readable (``offline`` = never download), the typeset stand-ins otherwise (named as stand-ins)."""
    shape = (1, 28, 28)
    sets: dict = {}
    real = omniglot(n, download=not offline)
    sets[OMNIGLOT] = real
    if isinstance(real, Unavailable):
        sets[GLYPHS_NAME] = jittered("glyphs", n, seed=seed)
    letters = folder_images("OOD_NOTMNIST_DIR", NOTMNIST, channels=1, size=28, n=n)
    sets[NOTMNIST] = letters
    if isinstance(letters, Unavailable):
        sets[LETTERS_NAME] = jittered("letters", n, seed=seed)
    sets[CIFAR_GREY] = cifar_grey(n, download=not offline)
    sets[HG_GAUSSIAN] = hg_gaussian(n, shape, seed=seed)
    sets[HG_UNIFORM] = hg_uniform(n, shape, seed=seed)
    sets[CLIPPED_GAUSSIAN] = clipped_gaussian(min(n, 1000), shape, seed=seed)
    if include_digits:
        sets[DIGITS_SHIFT] = digit_split("digits", "test", seed=seed)[0]
    return sets
