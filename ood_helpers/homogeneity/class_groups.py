"""Class subsets for the "do classifiers need retraining?" experiment (paper 000, section 2).

Four classifiers of one architecture see different classes of the profile's many-class set:
all of them, a random 80 %, all but one semantic group, all but another. The groups are
ImageNet's dogs and birds (WordNet n02084071 / n01503061, shipped in ``resources/``) for the
paper profile, two CIFAR-100 superclasses for the cifar profile and two digit groups of
MNIST-pairs for the quick and smoke profiles. Class ids are the dataset's own label ids:
ImageNet's standard index order, CIFAR-100's alphabetical fine labels, MNIST-pairs' number.
``experiment_models`` trains (or loads) the classifiers of every subset with the one training
loop of ``ood_helpers.core.train``, plus the two references of the similarity measure.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
from ood_helpers.core.data import class_split
from ood_helpers.core.data import select_classes
from ood_helpers.homogeneity.training import get_classifier, many_class_split
from ood_helpers.core.seeding import trial_seed
from ood_helpers.homogeneity.classifier import train_classifier
from ood_helpers.core.networks.resnet import build_resnet18
from ood_helpers.homogeneity.attribution import sample_class_images
from ood_helpers.homogeneity.training import predict_logits
from ood_helpers.core.profile import resolve_device
from ood_helpers.homogeneity.settings import homogeneity_settings

RESOURCES = Path(__file__).resolve().parent / "resources"
IMAGENET_GROUP_FILES = {"dog": "wordnet_dog_n02084071.txt", "bird": "wordnet_bird_n01503061.txt"}
CIFAR100_GROUPS = ("large_carnivores", "fish")
IMAGENET_GROUPS = ("dog", "bird")
MNIST_PAIRS_DIGITS = (("tens", 7), ("units", 3))  # "every number whose tens digit is 7 / units digit is 3"


def _data_lines(filename: str) -> list[str]:
    path = RESOURCES / filename
    if not path.is_file():
        raise FileNotFoundError(f"package data file {path} is missing; reinstall ood-helpers (pip install -e .)")
    return [line.rstrip("\n") for line in path.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]


@lru_cache(maxsize=None)
def imagenet_synsets() -> tuple[tuple[str, str], ...]:
    """The 1000 ImageNet classes as (wnid, synonyms) in the standard class-index order."""
    rows = tuple(tuple(line.split(" ", 1)) for line in _data_lines("imagenet_wnids.txt"))
    if len(rows) != 1000:
        raise ValueError(f"imagenet_wnids.txt should list 1000 classes, found {len(rows)}")
    return rows


def imagenet_wnids() -> list[str]:
    """The 1000 ImageNet wnids; position = class index."""
    return [w for w, _ in imagenet_synsets()]


def imagenet_class_names() -> list[str]:
    """The first synonym of each ImageNet class ("tench", "goldfish", ...); position = class index."""
    return [names.split(",")[0] for _, names in imagenet_synsets()]


def imagenet_group(group: str) -> np.ndarray:
    """ImageNet class indices (sorted int64) of the WordNet group "dog" | "bird"."""
    if group not in IMAGENET_GROUP_FILES:
        raise ValueError(f"unknown ImageNet group {group!r}; expected one of {sorted(IMAGENET_GROUP_FILES)}")
    index = {w: i for i, w in enumerate(imagenet_wnids())}
    wnids = [line.split(" ", 1)[0] for line in _data_lines(IMAGENET_GROUP_FILES[group])]
    unknown = [w for w in wnids if w not in index]
    if unknown:
        raise ValueError(f"{IMAGENET_GROUP_FILES[group]} lists wnids that are not ImageNet classes: {unknown}")
    return np.sort(np.array([index[w] for w in wnids], dtype=np.int64))


@lru_cache(maxsize=None)
def cifar100_superclasses() -> dict[str, tuple[str, ...]]:
    """CIFAR-100 superclass name -> its five fine class names (the dataset's meta)."""
    out = {}
    for line in _data_lines("cifar100_superclasses.txt"):
        coarse, fine = line.split(":", 1)
        out[coarse.strip()] = tuple(fine.split())
    return out


def cifar100_fine_names() -> list[str]:
    """The 100 fine class names in label order (alphabetical, as torchvision's CIFAR100.classes)."""
    return sorted(name for names in cifar100_superclasses().values() for name in names)


def cifar100_group(superclass: str) -> np.ndarray:
    """Fine label ids (sorted int64) of one CIFAR-100 superclass, e.g. "large_carnivores"."""
    groups = cifar100_superclasses()
    if superclass not in groups:
        raise ValueError(f"unknown CIFAR-100 superclass {superclass!r}; expected one of {sorted(groups)}")
    fine = cifar100_fine_names()
    return np.sort(np.array([fine.index(n) for n in groups[superclass]], dtype=np.int64))


def mnist_pairs_group(position: str, digit: int, num_classes: int = 100) -> np.ndarray:
    """MNIST-pairs classes (sorted int64, below ``num_classes``) whose ``position`` digit
    ("tens" = left digit, "units" = right digit) equals ``digit``."""
    if position not in ("tens", "units"):
        raise ValueError(f"position must be 'tens' or 'units', got {position!r}")
    if not isinstance(digit, (int, np.integer)) or not 0 <= digit <= 9:
        raise ValueError(f"digit must be an int in 0..9, got {digit!r}")
    ids = np.arange(min(int(num_classes), 100), dtype=np.int64)
    return ids[(ids // 10 if position == "tens" else ids % 10) == digit]


def semantic_groups(profile) -> dict[str, np.ndarray]:
    """The two held-out groups of the profile's many-class set, name -> class ids.

    MNIST-pairs: tens digit 7 and units digit 3 of the profile's ``num_classes`` classes
    (0 .. C-1). With fewer than 80 classes (smoke) the tens digit becomes the last one present,
    so both groups stay non-empty.
    """
    kind, num_classes = profile.many_class, profile.num_classes
    if kind == "imagenet":
        return {g: _below(imagenet_group(g), num_classes) for g in IMAGENET_GROUPS}
    if kind == "cifar100":
        return {g: _below(cifar100_group(g), num_classes) for g in CIFAR100_GROUPS}
    if kind == "mnist-pairs":
        out = {}
        for position, digit in MNIST_PAIRS_DIGITS:
            if position == "tens":
                digit = min(digit, (num_classes - 1) // 10)
            out[f"{position}{digit}"] = mnist_pairs_group(position, digit, num_classes)
        return out
    raise ValueError(f"no semantic groups for many-class set {kind!r}; expected imagenet, cifar100 or mnist-pairs")


def _below(ids: np.ndarray, num_classes: int) -> np.ndarray:
    return ids[ids < num_classes]


def class_subsets(profile, seed: int = 0) -> dict[str, np.ndarray]:
    """Class ids (sorted int64) each classifier trains on: "all", "random80", "minus_<A>", "minus_<B>".

    "random80" is the profile's seen classes, the first ``class_split[0]`` of the paper's
    shuffled order (numpy seed ``seed``): 80 % of the classes in the quick, cifar and paper
    profiles, the same set notebook 02's "seen" classifier trains on.
    """
    everything = np.arange(profile.num_classes, dtype=np.int64)
    subsets = {"all": everything, "random80": np.sort(class_split(profile, seed=seed).seen).astype(np.int64)}
    for name, group in semantic_groups(profile).items():
        if len(group) == 0:
            raise ValueError(f"group {name!r} has no class among the profile's {profile.num_classes} classes")
        kept = np.setdiff1d(everything, group).astype(np.int64)
        if len(kept) < 2:
            raise ValueError(f"leaving out group {name!r} keeps {len(kept)} class(es); a classifier needs at least 2")
        subsets[f"minus_{name}"] = kept
    return subsets


def group_subset_names(subsets: dict) -> list[str]:
    """The names of the subsets that leave one semantic group out ("minus_<group>"), in order."""
    return [name for name in subsets if name.startswith("minus_")]


def subsets_config(subsets: dict) -> dict[str, list[int]]:
    """``{subset: class ids as a list}``: :func:`class_subsets` in a JSON-able form, for provenance."""
    return {name: ids.tolist() for name, ids in subsets.items()}


def held_out_classes(profile, seed: int = 0) -> dict[str, np.ndarray]:
    """For each subset of :func:`class_subsets`, the class ids its classifier never trains on (sorted int64)."""
    subsets = class_subsets(profile, seed)
    everything = subsets["all"]
    return {name: np.setdiff1d(everything, kept).astype(np.int64) for name, kept in subsets.items()}


def subset_classifier(profile, subset: str, *, trial: int = 0, progress: bool = True):
    """(ResNet-18 classifier in eval mode, original class ids int64 in its label order) trained on
    one subset of :func:`class_subsets`. "all" and "random80" are notebook 02's "all" and "seen"
    classifiers (``homogeneity.training.get_classifier``), so both notebooks share one cached network each."""
    subsets = class_subsets(profile)
    if subset not in subsets:
        raise ValueError(f"unknown class subset {subset!r}; expected one of {list(subsets)}")
    if subset == "all" or (subset == "random80" and set(subsets[subset]) == set(class_split(profile).seen)):
        model, meta = get_classifier(profile, "all" if subset == "all" else "seen", trial, progress=progress)
        return model, np.asarray(meta["class_ids"], dtype=np.int64)
    ids = subsets[subset]
    train = select_classes(many_class_split(profile, "train"), ids)
    model = train_classifier(
        profile, train, seed=trial_seed(profile.seed, trial), key_extra={"which": subset, "classes": ids.tolist()}, progress=progress
    )
    return model, ids


def untrained_classifier(profile, seed: int = 0):
    """A randomly initialised ResNet-18 of the profile's architecture (eval mode): the floor
    of the map similarity. Its class ids are all the profile's classes."""
    import torch

    torch.manual_seed(int(seed))
    model = build_resnet18(profile.num_classes, profile.channels, profile.resnet_width, profile.small_stem).eval()
    return model, np.arange(profile.num_classes, dtype=np.int64)


CEILING, FLOOR = "all_seed2", "untrained"


def experiment_models(profile, *, progress: bool = True) -> dict:
    """name -> (classifier, class ids in label order) for every subset of :func:`class_subsets`,
    plus ``"all_seed2"`` (all classes, trial 1's seed: the ceiling of map similarity) and
    ``"untrained"`` (trial 2's seed, no training: the floor). Trained networks are loaded from
    cache when present."""
    models = {name: subset_classifier(profile, name, progress=progress) for name in class_subsets(profile)}
    models[CEILING] = subset_classifier(profile, "all", trial=1, progress=progress)
    # Not the profile seed: that is the all-classes network's own initialisation, which would make
    # the floor "the reference before training" instead of "an unrelated untrained network".
    models[FLOOR] = untrained_classifier(profile, seed=trial_seed(profile.seed, 2))
    return models


def subsets_table(profile, models: dict | None = None):
    """DataFrame, one row per class subset: classes trained on, held-out classes (their ids, or a
    count when many) and, given ``models``, the test top-1 accuracy (%) on the trained classes
    (5 images a class, see :func:`trained_class_accuracy`)."""
    import pandas as pd

    held = held_out_classes(profile)
    rows = []
    for name, kept in class_subsets(profile).items():
        out = held[name]
        row = {
            "classifier": name,
            "trained classes": len(kept),
            "held-out classes": ", ".join(map(str, out.tolist())) if len(out) <= 12 else f"{len(out)} classes",
        }
        if models is not None and name in models:
            row["test top-1, trained classes (%)"] = round(trained_class_accuracy(profile, *models[name]), 1)
        rows.append(row)
    return pd.DataFrame(rows)


def trained_class_accuracy(profile, model, class_ids, per_class: int = 5, seed: int = 0, chunk: int = 1000) -> float:
    """Top-1 accuracy (%) of ``model`` on up to ``per_class`` test images of each class it was
    trained on (``class_ids`` in its label order), or on ``subset_check_images`` in all when that setting is set;
    a few a class keep the check cheap on a CPU. Images are decoded ``chunk`` at a time (ImageNet's 1,000
    classes do not fit in memory at once)."""
    from sklearn.metrics import accuracy_score

    ids = np.asarray(class_ids, dtype=np.int64)
    total = homogeneity_settings(profile).subset_check_images or per_class * len(ids)
    test, label_of = many_class_split(profile, "test"), {int(c): j for j, c in enumerate(ids)}
    step = max(1, chunk // per_class)
    ys, preds = [], []
    for start in range(0, len(ids), step):
        want = min(total - sum(map(len, ys)), per_class * len(ids[start:start + step]))
        if want <= 0:
            break
        images, labels = sample_class_images(test, ids[start:start + step], want, seed=seed)
        ys.append(np.array([label_of[int(t)] for t in labels]))
        preds.append(predict_logits(model, images, resolve_device(profile)).argmax(1).numpy())
    return 100.0 * accuracy_score(np.concatenate(ys), np.concatenate(preds))
