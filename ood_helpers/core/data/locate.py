"""Where a dataset would be read from, found without loading it: ``locate(name)``, for the checks that run
before any notebook trains (``ood_helpers.preflight``). The order is the loaders' own (``torchvision_sets``,
``imagenet``); nothing is downloaded or decoded here."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ood_helpers.core import paths
from ood_helpers.core.data.image_folder import FOLDER_COPY_LAYOUT, env_dir
from ood_helpers.core.data.imagenet import IMAGENET_LAYOUT, TINYIMAGENET_LAYOUT

EMBEDDED = ("mnist5k", "digits", "mnist-pairs", "gaussian", "uniform")  # ship with the packages, or synthetic
# torchvision's own files under data/: a folder or file whose presence means the set is there
TORCHVISION_FILES = {"mnist": "MNIST/raw", "fashion-mnist": "FashionMNIST/raw", "cifar10": "cifar-10-batches-py",
                     "cifar100": "cifar-100-python", "svhn": "test_32x32.mat", "omniglot": "omniglot-py"}


@dataclass(frozen=True)
class Location:
    """``name`` found at ``path`` (None: not found), the variable that points at it and the layout expected."""

    name: str
    path: Path | None
    variable: str
    layout: str

    @property
    def found(self) -> bool:
        return self.path is not None


def variable(name: str) -> str:
    """The environment variable naming a local copy of dataset ``name`` (``OOD_FASHION_MNIST_DIR``)."""
    return f"OOD_{name.upper().replace('-', '_')}_DIR"


def _torchvision(name: str) -> Location:
    layout = f"an image folder {FOLDER_COPY_LAYOUT}, or torchvision's files ({TORCHVISION_FILES[name]})"
    given = env_dir(name)
    candidates = [given] if given is not None else [paths.data_root() / name, paths.data_root()]
    for folder in candidates:
        if (folder / "train").is_dir() and (folder / "test").is_dir():
            return Location(name, folder, variable(name), layout)
        if (folder / TORCHVISION_FILES[name]).exists():
            return Location(name, folder, variable(name), layout)
    return Location(name, None, variable(name), layout)


def _imagenet() -> Location:
    folder = env_dir("imagenet") or paths.data_root() / "imagenet"
    data = folder / "ILSVRC" / "Data" / "CLS-LOC" if (folder / "ILSVRC" / "Data" / "CLS-LOC").is_dir() else folder
    ok = (data / "train").is_dir() and (data / "val").is_dir()
    return Location("imagenet", folder if ok else None, "OOD_IMAGENET_DIR", IMAGENET_LAYOUT)


def _tinyimagenet() -> Location:
    default, alt = paths.data_root() / "tinyimagenet", paths.data_root() / "tiny-imagenet-200"
    folder = env_dir("tinyimagenet") or (alt if not default.exists() and alt.exists() else default)
    ok = (folder / "train").is_dir() and (folder / "val" / "val_annotations.txt").is_file()
    return Location("tinyimagenet", folder if ok else None, "OOD_TINYIMAGENET_DIR", TINYIMAGENET_LAYOUT)


def locate(name: str) -> Location:
    """Where dataset ``name`` (a ``load_dataset`` name) would be read from; ``path`` None when it is not there.
    Embedded and synthetic sets are always found (their path is the package's own data)."""
    if name in EMBEDDED:
        return Location(name, Path("(installed with the packages)"), "", "")
    if name in TORCHVISION_FILES:
        return _torchvision(name)
    if name == "imagenet":
        return _imagenet()
    if name == "tinyimagenet":
        return _tinyimagenet()
    known = (*EMBEDDED, *TORCHVISION_FILES, "imagenet", "tinyimagenet")
    raise ValueError(f"unknown dataset {name!r}; known: {', '.join(known)}")


def locate_folder(var: str) -> Path | None:
    """The folder named by environment variable ``var`` when it exists (optional user folders: notMNIST, SUN)."""
    value = os.environ.get(var)
    return Path(value).expanduser() if value and Path(value).expanduser().is_dir() else None


def torch_weights(file_name: str) -> Path:
    """Where torch's hub keeps a downloaded weights file (``$TORCH_HOME/hub/checkpoints``)."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints" / file_name
