"""The workplace's CIFAR-10 JPEG copy, ``../shared/data/cifar10-jpg.tar.gz`` (a developer file the product never
reads): tests extract the few files they need from it, and skip with the reason when it is absent."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

TARBALL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cifar10-jpg.tar.gz"


def extract_cifar(out, per_split: dict, classes=None) -> Path:
    """``out/cifar10-jpg`` holding the first ``per_split[split]`` JPEGs of each class (of ``classes``, default
    all ten) of each split named ("train", "test"); skips the calling test when the copy is absent."""
    if not TARBALL.is_file():
        pytest.skip(f"{TARBALL} (the workplace's CIFAR-10 JPEG copy) is absent on this machine")
    with tarfile.open(TARBALL, "r:gz") as tar:
        members = [m for m in tar if m.isfile() and len(parts := m.name.split("/")) == 4
                   and (classes is None or parts[2] in classes)
                   and int(parts[3].split(".")[0]) < per_split.get(parts[1], 0)]
        tar.extractall(out, members=members, filter="data")
    return Path(out) / "cifar10-jpg"
