"""The in-distribution sets of notebook 08 and the OOD sets each is tested against (spec 003-001, B6/B7).

Every part is an ``ImageSet`` of uint8 images; ``train`` builds the clusters (and trains the networks),
``val`` is the ID validation split that alone fits thresholds, ``test`` is the ID test split, ``ood``
maps a named OOD set to its images.

| ID set | stands for | train / val / test | OOD sets |
|---|---|---|---|
| ``digits6`` | CIFAR-10 (few classes), a stand-in | 6 MNIST digits of mnist5k (seeded per trial), 300 / 100 / 100 a class | near: the other 4 digits (test split); far: photo crops; far: uniform noise |
| ``pairs`` | CIFAR-100 (many classes), a stand-in | MNIST-pairs' seen classes (80 in quick), the profile's per_class | near: the 10 unseen test numbers; near: the 10 unseen validation numbers; far: photo crops |
| ``cifar10`` | itself | CIFAR-10 train minus the first ``per_class[1]`` a class (val) / official test | CIFAR-100 (near), SVHN (far) |
| ``cifar100`` | itself | likewise | CIFAR-10 (near), SVHN (far) |

CIFAR / SVHN come through ``data.load_dataset`` (torchvision download, or a local image folder named by
``OOD_<NAME>_DIR``); offline without such a folder it raises a clear error naming both ways.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ood_helpers.core.data import load_dataset
from ood_helpers.core.data.imageset import ImageSet, select_classes
from ood_helpers.core.data.splits import class_split

ID_SETS = ("digits6", "pairs", "cifar10", "cifar100")
STAND_INS = {"digits6": "stand-in for CIFAR-10 (6 MNIST digits)",
             "pairs": "stand-in for CIFAR-100 (MNIST-pairs seen classes)",
             "cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}
CIFAR_OOD = {"cifar10": ("cifar100", "svhn"), "cifar100": ("cifar10", "svhn")}


@dataclass
class IdSplit:
    name: str  # an ID_SETS key
    train: ImageSet
    val: ImageSet
    test: ImageSet
    ood: dict[str, ImageSet] = field(default_factory=dict)
    recipe: str = "digits"  # the augmentation family (contrastive.two_views, data.transforms)

    @property
    def num_classes(self) -> int:
        return self.train.num_classes


def photo_crops(n: int, hw: tuple[int, int], seed: int, channels: int = 1) -> ImageSet:
    """``n`` random ``hw`` crops (uint8) of scikit-learn's two sample photos, downscaled 4x so a crop holds an
    object-sized patch: a far-OOD set that needs no download."""
    from sklearn.datasets import load_sample_images

    rng = np.random.default_rng([int(seed), 7])
    photos = []
    for img in load_sample_images().images:
        t = torch.from_numpy(np.array(img)).permute(2, 0, 1).float()[None]
        t = torch.nn.functional.interpolate(t, scale_factor=0.25, mode="bilinear", antialias=True)[0]
        photos.append(t if channels == 3 else t.mean(0, keepdim=True))
    h, w = hw
    crops = []
    for i in range(n):
        p = photos[i % len(photos)]
        y, x = rng.integers(0, p.shape[1] - h), rng.integers(0, p.shape[2] - w)
        crops.append(p[:, y:y + h, x:x + w])
    images = torch.stack(crops).round().clamp(0, 255).to(torch.uint8)
    return ImageSet(images, np.zeros(n, dtype=np.int64), ["photo"], "photo-crops")


def _limit(ds: ImageSet, limit: int, seed: int) -> ImageSet:
    if not limit or len(ds) <= limit:
        return ds
    keep = np.sort(np.random.default_rng([int(seed), 11]).choice(len(ds), limit, replace=False))
    return ds.subset(keep)


def digits6(seed: int, far_images: int, ood_limit: int = 0) -> IdSplit:
    """6 ID digits drawn per trial (numpy seed = trial seed, permutation of 0-9, first 6), the rest near OOD."""
    order = np.random.default_rng(int(seed)).permutation(10)
    known, unknown = order[:6], order[6:]
    parts = {s: load_dataset("mnist5k", s, seed=0) for s in ("train", "val", "test")}
    ood = {"near: other 4 digits": _limit(select_classes(parts["test"], unknown), ood_limit, seed),
           "far: photo crops": photo_crops(far_images, (28, 28), seed),
           "far: uniform noise": _limit(load_dataset("uniform", "test", seed=0), ood_limit, seed)}
    return IdSplit("digits6", *(select_classes(parts[s], known) for s in ("train", "val", "test")), ood=ood)


def mnist_pairs(profile, far_images: int, ood_limit: int = 0) -> IdSplit:
    """MNIST-pairs' seen classes as ID (the profile's class_split and per_class); unseen numbers as near OOD."""
    split = class_split(profile)
    parts = {s: load_dataset("mnist-pairs", s, profile=profile) for s in ("train", "val", "test")}
    ood = {"near: unseen test numbers": _limit(select_classes(parts["test"], split.test), ood_limit, 0),
           "near: unseen val numbers": _limit(select_classes(parts["test"], split.val), ood_limit, 0),
           "far: photo crops": photo_crops(far_images, tuple(parts["test"].image_shape[1:]), profile.seed)}
    return IdSplit("pairs", *(select_classes(parts[s], split.seen) for s in ("train", "val", "test")), ood=ood)


def cifar(name: str, profile, far_images: int, ood_limit: int = 0, ood_names=()) -> IdSplit:
    """CIFAR-10 or CIFAR-100 as ID at 32 px RGB; OOD: ``ood_names`` (default: the other CIFAR as near and
    SVHN as far), plus photo crops."""
    kw = {"channels": 3, "image_size": 32, "per_class": tuple(profile.per_class), "seed": profile.seed}
    parts = {s: load_dataset(name, s, **kw) for s in ("train", "val", "test")}
    names = tuple(ood_names) or CIFAR_OOD[name]
    ood = {f"{'near' if o.startswith('cifar') else 'far'}: {o}": _limit(load_dataset(o, "test", **kw), ood_limit, 0)
           for o in names}
    ood["far: photo crops"] = photo_crops(far_images, (32, 32), profile.seed, channels=3)
    return IdSplit(name, parts["train"], parts["val"], parts["test"], ood=ood, recipe="cifar")


def load_id_split(name: str, profile, seed: int, settings) -> IdSplit:
    """The ID set ``name`` (``ID_SETS``) with its OOD sets, for the trial of ``seed``."""
    if name not in ID_SETS:
        raise ValueError(f"unknown ID set {name!r}; expected one of {ID_SETS}")
    if name == "digits6":
        split = digits6(seed, settings.far_images, settings.ood_limit)
    elif name == "pairs":
        split = mnist_pairs(profile, settings.far_images, settings.ood_limit)
    else:
        split = cifar(name, profile, settings.far_images, settings.ood_limit, settings.cifar_ood)
    if settings.id_limit:  # smoke: a few hundred ID images a part
        for i, part in enumerate(("train", "val", "test")):
            setattr(split, part, _limit(getattr(split, part), settings.id_limit, seed + i))
    return split
