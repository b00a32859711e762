"""MNIST, Fashion-MNIST, CIFAR-10, CIFAR-100, SVHN and Omniglot through torchvision.datasets,
or from a local image-folder copy for machines without internet.

Where a dataset is looked for, first match wins:
1. ``root=`` or ``OOD_<NAME>_DIR``: an image-folder copy (``train/<class>/*``, ``test/<class>/*``)
   when it has those folders, else a torchvision root (downloaded into when ``download``);
2. ``data/<name>/`` holding an image-folder copy (e.g. ``data/cifar10/train/airplane/*.jpg``);
3. torchvision's own files under ``data/`` (``data/MNIST/raw``, ``data/cifar-10-batches-py``, ...),
   downloaded there when missing and ``download`` is true.

Downloads go to a temporary folder beside their target and are moved in only when complete,
so an interrupted or offline download leaves nothing half-written. Splits: "val" = the first
``val_per_class`` training images of each class (torchvision's order), "train" = the rest,
"test" = the official test split. Omniglot's "train"/"val" come from its background set
and "test" is its evaluation set, whose 659 character classes differ from the background's 964.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
from torchvision import datasets

from ood_helpers.core import paths
from ood_helpers.core.data.image_folder import (FOLDER_COPY_LAYOUT, decode_files_cached, env_dir, load_folder_copy, split_train_val)
from ood_helpers.core.data.imageset import ImageSet

TV_CLASSES = {
    "mnist": datasets.MNIST,
    "fashion-mnist": datasets.FashionMNIST,
    "cifar10": datasets.CIFAR10,
    "cifar100": datasets.CIFAR100,
    "svhn": datasets.SVHN,
    "omniglot": datasets.Omniglot,
}


def is_folder_copy(folder: Path) -> bool:
    return (folder / "train").is_dir() and (folder / "test").is_dir()


def _construct(name: str, root: Path, part: str, download: bool):
    cls = TV_CLASSES[name]
    if name == "svhn":
        return cls(str(root), split=part, download=download)
    if name == "omniglot":
        return cls(str(root), background=part == "train", download=download)
    return cls(str(root), train=part == "train", download=download)


def merge_into(src: Path, dest: Path) -> None:
    """Moves the tree ``src`` into ``dest``: files replace files of the same name, folders merge
    (SVHN and Omniglot download one split at a time into a shared folder)."""
    for entry in src.iterdir():
        target = dest / entry.name
        if entry.is_dir() and target.is_dir():
            merge_into(entry, target)
        else:
            if target.is_dir():
                shutil.rmtree(target)
            os.replace(entry, target)


def open_torchvision(name: str, root: Path, part: str, download: bool):
    """The torchvision dataset object for ``part`` "train" | "test", downloading atomically into ``root``."""
    var = f"OOD_{name.upper().replace('-', '_')}_DIR"
    help_text = (
        f"{name} needs internet to download into {root}, or a local copy: torchvision's files in {root}, "
        f"or an image folder {paths.data_root() / name} (or ${var}, or root=...) laid out as {FOLDER_COPY_LAYOUT}"
    )
    try:
        return _construct(name, root, part, download=False)
    except RuntimeError as err:
        if not download:
            raise FileNotFoundError(f"{name} not found ({err}); {help_text}") from err
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".download-{name}-", dir=root))
    try:
        try:
            _construct(name, tmp, part, download=True)
        except Exception as err:  # URLError, socket errors, RuntimeError("Error downloading ...")
            raise RuntimeError(f"downloading {name} failed ({type(err).__name__}: {err}); {help_text}") from err
        merge_into(tmp, root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return _construct(name, root, part, download=False)


def _arrays(name: str, ds) -> tuple[torch.Tensor, np.ndarray, list[str]]:
    """(uint8 [N, C, H, W], int64 labels, class names) of a torchvision dataset object."""
    if name in ("mnist", "fashion-mnist"):
        return ds.data[:, None].contiguous(), ds.targets.numpy().astype(np.int64), list(ds.classes)
    if name in ("cifar10", "cifar100"):
        return torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous(), np.asarray(ds.targets, np.int64), list(ds.classes)
    if name == "svhn":
        return torch.from_numpy(ds.data).contiguous(), np.asarray(ds.labels, np.int64), [str(d) for d in range(10)]
    # omniglot: 105x105 PNG strokes, decoded once and cached like a folder copy
    files = [os.path.join(ds.target_folder, ds._characters[c], f) for f, c in ds._flat_character_images]
    images = decode_files_cached(files, Path(ds.target_folder), f"omniglot-{Path(ds.target_folder).name}")
    return images, np.array([c for _, c in ds._flat_character_images], np.int64), list(ds._characters)


def load_torchvision(name: str, split: str, *, root=None, val_per_class: int = 50, download: bool = True) -> ImageSet:
    """One split of a torchvision-named dataset at native size and channels (see module doc)."""
    given = Path(root).expanduser() if root is not None else env_dir(name)
    default_copy = paths.data_root() / name
    if given is not None and is_folder_copy(given):
        return load_folder_copy(given, split, name=name, val_per_class=val_per_class)
    if given is None and is_folder_copy(default_copy):
        return load_folder_copy(default_copy, split, name=name, val_per_class=val_per_class)
    part = "test" if split == "test" else "train"
    images, labels, classes = _arrays(name, open_torchvision(name, given or paths.data_root(), part, download))
    if part == "train":
        idx = split_train_val(labels, split, val_per_class, classes, name)
        images, labels = images[torch.from_numpy(idx)], labels[idx]
    return ImageSet(images, labels, classes, name)
