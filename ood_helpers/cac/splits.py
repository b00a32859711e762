"""The known/unknown class splits of paper 004 and their openness (eq. 12).

``OLD``: the five random splits of the arXiv-v1 numbers (``random.seed(1000)`` in the official
``generate_class_splits.py``, replaced in cac-openset commit 6b43b4e; read with
``git show 6b43b4e^:datasets/<ds>/class_splits/<t>.json``). ``NEAL``: the splits of Neal et al. [18]
that the repository holds since then (WACV version and later papers), an option for comparison.
MNIST / SVHN / CIFAR10 and TinyImageNet list the **known** classes; CIFAR+10 / +50 always know
CIFAR-10's {airplane, automobile, ship, truck} and list the **unknown** CIFAR-100 classes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

CIFAR_PLUS_KNOWN = (0, 1, 8, 9)
# the official "animal" list: 50 CIFAR-100 classes, the five people classes included, so CIFAR+50's
# unknown set is this whole list in every trial
CIFAR100_ANIMALS = (1, 2, 3, 4, 6, 7, 11, 14, 15, 18, 19, 21, 24, 26, 27, 29, 30, 31, 32, 34, 35, 36, 38, 42, 43,
                    44, 45, 46, 50, 55, 63, 64, 65, 66, 67, 72, 73, 74, 75, 77, 78, 79, 80, 88, 91, 93, 95, 97, 98, 99)
NUM_CLASSES = {"mnist": 10, "svhn": 10, "cifar10": 10, "cifar+10": 100, "cifar+50": 100, "tinyimagenet": 200}

OLD = {
    "mnist": [(0, 1, 2, 3, 6, 9), (2, 3, 5, 7, 8, 9), (0, 2, 3, 5, 7, 9), (0, 1, 3, 4, 5, 7), (0, 2, 4, 6, 8, 9)],
    "svhn": [(1, 2, 3, 4, 7, 8), (0, 2, 3, 5, 6, 7), (0, 2, 4, 5, 7, 9), (0, 1, 2, 3, 4, 6), (3, 4, 5, 6, 8, 9)],
    "cifar10": [(2, 3, 4, 6, 8, 9), (1, 3, 4, 5, 6, 7), (0, 1, 4, 5, 6, 8), (1, 2, 4, 7, 8, 9), (0, 1, 2, 3, 6, 9)],
    "cifar+10": [(3, 18, 24, 30, 36, 43, 78, 80, 93, 98), (6, 24, 26, 42, 50, 66, 74, 79, 91, 98),
                 (4, 29, 36, 38, 46, 55, 63, 72, 75, 79), (18, 26, 27, 30, 32, 36, 43, 64, 93, 95),
                 (4, 18, 19, 24, 35, 46, 50, 65, 88, 93)],
    "cifar+50": [CIFAR100_ANIMALS] * 5,
    "tinyimagenet": [
        (24, 45, 46, 49, 50, 58, 75, 76, 85, 87, 123, 126, 131, 142, 146, 147, 159, 189, 192, 199),
        (5, 6, 8, 30, 35, 51, 57, 81, 101, 113, 115, 129, 131, 140, 144, 155, 159, 168, 176, 198),
        (4, 15, 22, 23, 28, 29, 52, 57, 75, 85, 92, 114, 124, 127, 135, 155, 165, 190, 196, 199),
        (21, 43, 46, 50, 58, 59, 63, 71, 81, 82, 101, 122, 125, 142, 146, 150, 165, 170, 178, 196),
        (1, 13, 15, 18, 25, 49, 53, 57, 64, 65, 72, 80, 103, 104, 129, 134, 144, 152, 154, 186)],
}
_NEAL_DIGITS = [(0, 1, 2, 4, 5, 9), (0, 3, 5, 7, 8, 9), (0, 1, 5, 6, 7, 8), (3, 4, 5, 7, 8, 9), (0, 1, 2, 3, 7, 8)]
NEAL = {
    "mnist": _NEAL_DIGITS, "svhn": _NEAL_DIGITS, "cifar10": _NEAL_DIGITS,
    "cifar+10": [(26, 31, 34, 44, 45, 63, 65, 77, 93, 98), (7, 11, 66, 75, 77, 93, 95, 97, 98, 99),
                 (2, 11, 15, 24, 32, 34, 63, 88, 93, 95), (1, 11, 38, 42, 44, 45, 63, 64, 66, 67),
                 (3, 15, 19, 21, 42, 46, 66, 72, 78, 98)],
    "cifar+50": [CIFAR100_ANIMALS] * 5,
    "tinyimagenet": [
        (10, 28, 54, 72, 77, 91, 104, 107, 112, 124, 125, 144, 145, 157, 166, 169, 180, 186, 192, 193),
        (0, 11, 60, 71, 87, 101, 111, 131, 132, 147, 153, 156, 157, 167, 171, 175, 190, 192, 193, 199),
        (12, 13, 15, 25, 28, 33, 46, 49, 54, 61, 78, 80, 82, 90, 103, 107, 124, 140, 159, 167),
        (10, 25, 28, 35, 41, 65, 72, 82, 85, 86, 89, 91, 96, 116, 123, 128, 132, 134, 154, 188),
        (8, 10, 26, 29, 38, 44, 47, 48, 59, 62, 76, 79, 93, 102, 106, 130, 145, 175, 183, 186)],
}
VERSIONS = {"old": OLD, "neal": NEAL}


@dataclass(frozen=True)
class OpenSetSplit:
    """One trial: ``known`` ids of the training dataset (label k of the network = ``known[k]``) and
    ``unknown`` ids, of the same dataset or, for CIFAR+, of CIFAR-100 (``unknown_source``)."""

    dataset: str
    trial: int
    known: tuple[int, ...]
    unknown: tuple[int, ...]
    unknown_source: str

    @property
    def openness(self) -> float:
        n = len(self.known)
        return openness(n, n + len(self.unknown), n)


def openness(n_train: int, n_test: int, n_target: int) -> float:
    """Eq. 12 (from Scheirer et al.): 1 - sqrt(2 N_train / (N_test + N_target))."""
    if min(n_train, n_test, n_target) < 1 or n_test < n_target:
        raise ValueError(f"openness needs class counts >= 1 with N_test >= N_target; got {n_train}, {n_test}, {n_target}")
    return 1.0 - math.sqrt(2.0 * n_train / (n_test + n_target))


def open_set_split(dataset: str, trial: int, version: str = "old") -> OpenSetSplit:
    """Trial ``trial`` (0-4) of ``dataset`` (mnist, svhn, cifar10, cifar+10, cifar+50, tinyimagenet)."""
    if version not in VERSIONS:
        raise ValueError(f"split version must be one of {sorted(VERSIONS)} ('old' = the paper's v1 numbers), got {version!r}")
    lists = VERSIONS[version]
    if dataset not in lists:
        raise ValueError(f"no CAC splits for dataset {dataset!r}; known: {', '.join(lists)}")
    if not 0 <= int(trial) < len(lists[dataset]):
        raise ValueError(f"trial must be in 0..{len(lists[dataset]) - 1}, got {trial}")
    listed = tuple(lists[dataset][int(trial)])
    if dataset.startswith("cifar+"):
        return OpenSetSplit(dataset, int(trial), CIFAR_PLUS_KNOWN, listed, "cifar100")
    rest = tuple(c for c in range(NUM_CLASSES[dataset]) if c not in listed)
    return OpenSetSplit(dataset, int(trial), listed, rest, dataset)
