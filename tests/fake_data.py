"""Small fake copies of every dataset the cifar and paper profiles read, in the on-disk format each loader of
``ood_helpers/core/data`` reads, for the dry-run tests (``tests/integration/test_profile_dry_runs.py``).

Pixels come from scikit-learn's 8x8 digits (tinted per class, so classes differ) and noise. Every set has the
profile's real class count; ``per_class`` images a class is all a dry run needs. ``write_all`` returns the
environment variables that point the loaders at them (the variable each loader reads).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from sklearn.datasets import load_digits

from tests.support import extract_cifar

_DIGITS = load_digits().images  # [1797, 8, 8], 0..16


def _pixels(rng: np.random.Generator, label: int, size: int, channels: int) -> np.ndarray:
    """A size x size digit of class ``label`` (digit ``label % 10``, a tint by class), with noise; uint8."""
    digit = _DIGITS[(label % 10) + 10 * int(rng.integers(0, 100))] / 16.0
    img = np.kron(digit, np.ones((size // 8 + 1, size // 8 + 1)))[:size, :size]
    tint = np.array([(label * 37 % 255), (label * 91 % 255), (label * 151 % 255)]) / 255.0
    out = img[..., None] * (0.5 + 0.5 * tint[:channels]) + 0.15 * rng.random((size, size, channels))
    out = (np.clip(out, 0, 1) * 255).astype(np.uint8)
    return out[..., 0] if channels == 1 else out


def _save(path: Path, pixels: np.ndarray, fmt: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))


def image_folder(root: Path, classes: list[str], per_split: dict[str, int], *, size: int, channels: int,
                 seed: int = 0) -> Path:
    """``root/<split>/<class>/NNNN.png``: the image-folder copy ``OOD_<NAME>_DIR`` points at."""
    rng = np.random.default_rng(seed)
    for split, n in per_split.items():
        for label, name in enumerate(classes):
            for i in range(n):
                _save(root / split / name / f"{i:04d}.png", _pixels(rng, label, size, channels), "PNG")
    return root


def imagenet(root: Path, classes: int, train: int, val: int, *, size: int = 24) -> Path:
    """ILSVRC-2012's layout ``train/<wnid>/*.JPEG``, ``val/<wnid>/*.JPEG`` (one grayscale image, as ImageNet has)."""
    rng = np.random.default_rng(1)
    for c in range(classes):
        wnid = f"n{c:08d}"
        for split, n in (("train", train), ("val", val)):
            for i in range(n):
                pixels = _pixels(rng, c, size, 1 if (c, i) == (0, 0) else 3)
                _save(root / split / wnid / f"{wnid}_{i}.JPEG", pixels, "JPEG")
    return root


def tinyimagenet(root: Path, classes: int, train: int, val: int, *, size: int = 16) -> Path:
    """The release layout ``train/<wnid>/images/*.JPEG``, ``val/images/*.JPEG`` + ``val/val_annotations.txt``."""
    rng = np.random.default_rng(2)
    lines = []
    for c in range(classes):
        wnid = f"n{c:08d}"
        for i in range(train):
            _save(root / "train" / wnid / "images" / f"{wnid}_{i}.JPEG", _pixels(rng, c, size, 3), "JPEG")
        for i in range(val):
            name = f"val_{c}_{i}.JPEG"
            _save(root / "val" / "images" / name, _pixels(rng, c, size, 3), "JPEG")
            lines.append(f"{name}\t{wnid}\t0\t0\t{size}\t{size}")
    (root / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    return root


def omniglot(root: Path, per_class: int = 3) -> Path:
    """An image-folder copy ``train/<alphabet>/*.png``, ``test/<alphabet>/*.png`` (torchvision's own Omniglot
    folders are read only after checking the md5 of its zips, which a fake copy cannot match)."""
    return image_folder(root, ["Greek", "Latin", "Sanskrit"], {"train": per_class, "test": per_class}, size=32,
                        channels=1, seed=3)


def resnet_weights(folder: Path, arch: str, file_name: str) -> Path:
    """A randomly initialised torchvision ``arch`` saved where torch's hub cache keeps its ImageNet weights."""
    import torchvision

    path = folder / "hub" / "checkpoints" / file_name
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(getattr(torchvision.models, arch)(weights=None).state_dict(), path)
    return path


CIFAR100_CLASSES = [f"class{c:03d}" for c in range(100)]
DIGIT_CLASSES = [str(d) for d in range(10)]


def write_all(root: Path, *, imagenet_classes: int = 1000) -> dict[str, str]:
    """Every dataset of the cifar and paper profiles under ``root``, and random torchvision ResNet-18 / -152 weights
    where torch's hub keeps ImageNet weights; returns the environment variables naming them (CIFAR-10: the
    workplace's real JPEGs; the calling test skips when that copy is absent)."""
    root = Path(root)
    env = {"OOD_DATA_DIR": str(root / "data")}
    sets = {  # name -> (classes, {split: images a class}, size, channels)
        "mnist": (DIGIT_CLASSES, {"train": 16, "test": 6}, 28, 1),
        "fashion-mnist": (DIGIT_CLASSES, {"train": 12, "test": 6}, 28, 1),
        "svhn": (DIGIT_CLASSES, {"train": 12, "test": 6}, 32, 3),
        "cifar100": (CIFAR100_CLASSES, {"train": 12, "test": 6}, 32, 3),
    }
    for name, (classes, per_split, size, channels) in sets.items():
        folder = image_folder(root / name, classes, per_split, size=size, channels=channels)
        env[f"OOD_{name.upper().replace('-', '_')}_DIR"] = str(folder)
    env["OOD_OMNIGLOT_DIR"] = str(omniglot(root / "omniglot"))
    env["OOD_CIFAR10_DIR"] = str(extract_cifar(root / "cifar10", {"train": 16, "test": 12}))
    env["OOD_TINYIMAGENET_DIR"] = str(tinyimagenet(root / "tinyimagenet", 200, train=6, val=3))
    env["OOD_IMAGENET_DIR"] = str(imagenet(root / "imagenet", imagenet_classes, train=12, val=6))
    env["TORCH_HOME"] = str(root / "torch")
    for arch, file_name in (("resnet18", "resnet18-f37072fd.pth"), ("resnet152", "resnet152-394f9c45.pth")):
        resnet_weights(root / "torch", arch, file_name)
    return env
