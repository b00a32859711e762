"""The dataset type every loader returns: uint8 images in memory, int64 labels, class names.

``ImageSet`` holds its images as one uint8 tensor [N, C, H, W]; ``FolderImageSet`` (in
``image_folder``) has the same interface but decodes files on access, for ImageNet-sized
folders. ``adapt_images`` is the one place channels and sizes are changed.
"""

from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np
import torch
import torchvision.transforms.functional as TF
from torch.utils.data import Dataset

ImageSize = int | tuple[int, int] | None


def target_hw(native_hw: tuple[int, int], image_size: ImageSize) -> tuple[int, int]:
    """(H, W) in pixels for ``image_size``: an int sets the height and scales the width with
    the aspect ratio (square stays square, MNIST-pairs 28x56 -> s x 2s); a pair is exact."""
    if image_size is None:
        return tuple(native_hw)
    if isinstance(image_size, (int, np.integer)) and not isinstance(image_size, bool):
        if image_size < 1:
            raise ValueError(f"image_size must be a positive int or (height, width), got {image_size!r}")
        h, w = native_hw
        return int(image_size), max(1, round(int(image_size) * w / h))
    if (
        isinstance(image_size, (tuple, list))
        and len(image_size) == 2
        and all(isinstance(v, (int, np.integer)) and v >= 1 for v in image_size)
    ):
        return int(image_size[0]), int(image_size[1])
    raise ValueError(f"image_size must be None, a positive int or (height, width), got {image_size!r}")


def check_channels(channels: int | None) -> None:
    if channels not in (None, 1, 3):
        raise ValueError(f"channels must be None (native), 1 (gray) or 3 (RGB), got {channels!r}")


def adapt_images(images: torch.Tensor, *, channels: int | None = None, image_size: ImageSize = None) -> torch.Tensor:
    """uint8 [N, C', H', W'] from uint8 [N, C, H, W]: gray->RGB by repeat, RGB->gray by
    luminance (ITU-R 601), antialiased bilinear resize to ``target_hw``."""
    check_channels(channels)
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise ValueError(f"expected a uint8 tensor [N, C, H, W], got {images.dtype} of shape {tuple(images.shape)}")
    if channels is not None and images.shape[1] != channels:
        if images.shape[1] == 1 and channels == 3:
            images = images.expand(-1, 3, -1, -1).contiguous()
        elif images.shape[1] == 3 and channels == 1:
            images = TF.rgb_to_grayscale(images, num_output_channels=1)
        else:
            raise ValueError(f"cannot convert {images.shape[1]}-channel images to {channels} channels")
    hw = target_hw(tuple(images.shape[-2:]), image_size)
    if hw != tuple(images.shape[-2:]) and len(images):
        images = TF.resize(images, list(hw), antialias=True)
    return images


class ImageSet(Dataset):
    """Images with labels and class names, all in memory.

    ``images``: uint8 [N, C, H, W]; ``targets``: int64 [N]; ``classes[j]`` names label j;
    ``extra``: optional per-image tensors (first dimension N) kept aligned by ``subset``,
    e.g. MNIST-pairs' ``sources`` (the two mnist5k indices each image is made of).
    ``ds[i]`` is (float image in [0, 1] [C, H, W], int label).
    """

    in_memory = True

    def __init__(
        self,
        images: torch.Tensor,
        targets: torch.Tensor | Sequence[int],
        classes: Sequence[str],
        name: str,
        extra: dict[str, torch.Tensor] | None = None,
    ):
        targets = torch.as_tensor(np.asarray(targets), dtype=torch.int64).reshape(-1)
        if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(
                f"ImageSet images must be a uint8 tensor [N, C, H, W], got "
                f"{getattr(images, 'dtype', type(images))} of shape {tuple(getattr(images, 'shape', ()))}"
            )
        if len(images) != len(targets):
            raise ValueError(f"{len(images)} images but {len(targets)} targets")
        self._images = images
        self._init_labels(targets, classes, name, extra)

    def _init_labels(self, targets, classes, name, extra) -> None:
        self.targets = targets
        self.classes = list(classes)
        self.name = name
        self.extra = dict(extra or {})
        for key, value in self.extra.items():
            if len(value) != len(targets):
                raise ValueError(f"extra[{key!r}] has {len(value)} rows, expected {len(targets)}")
        if len(targets) and (int(targets.min()) < 0 or int(targets.max()) >= len(self.classes)):
            raise ValueError(
                f"{name}: labels must lie in [0, {len(self.classes)}) for {len(self.classes)} classes, "
                f"got range [{int(targets.min())}, {int(targets.max())}]"
            )
        self._fingerprint: str | None = None

    @property
    def images(self) -> torch.Tensor:
        return self._images

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of the images."""
        return tuple(self._images.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self._images[index].float().div_(255.0), int(self.targets[index])

    def load(self, index: int) -> torch.Tensor:
        """uint8 [C, H, W] of image ``index`` (what DataLoader workers read)."""
        return self._images[index]

    decode = load  # in memory, the full image is the evaluation view

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {len(self)} images, {self.num_classes} classes)"

    def float_images(self) -> torch.Tensor:
        """float32 [N, C, H, W] in [0, 1]."""
        return self.images.float().div_(255.0)

    def class_counts(self) -> np.ndarray:
        """Images per label, int [num_classes]."""
        return np.bincount(self.targets.numpy(), minlength=self.num_classes)

    def fingerprint(self) -> str:
        """16 hex digits of sha256 over images, labels and class names: a cache key for this data."""
        if self._fingerprint is None:
            h = hashlib.sha256()
            h.update(repr((self.name, tuple(self._images.shape), self.classes)).encode())
            h.update(self._images.contiguous().numpy().tobytes())
            h.update(self.targets.numpy().tobytes())
            self._fingerprint = h.hexdigest()[:16]
        return self._fingerprint

    def _check_indices(self, indices) -> torch.Tensor:
        idx = torch.as_tensor(np.asarray(indices, dtype=np.int64).reshape(-1))
        if len(idx) and (int(idx.min()) < -len(self) or int(idx.max()) >= len(self)):
            raise IndexError(f"{self.name}: subset indices must lie in [0, {len(self)}), got {idx.min()}..{idx.max()}")
        return idx

    def subset(self, indices) -> "ImageSet":
        """A new ImageSet of these rows (labels and classes unchanged)."""
        idx = self._check_indices(indices)
        extra = {k: v[idx] for k, v in self.extra.items()}
        return ImageSet(self._images[idx], self.targets[idx], self.classes, self.name, extra)

    def relabeled(self, targets: torch.Tensor, classes: Sequence[str]) -> "ImageSet":
        """The same images under new labels and class names."""
        return ImageSet(self._images, targets, classes, self.name, self.extra)


def select_classes(ds: ImageSet, class_ids, relabel: bool = True) -> ImageSet:
    """Only the images of ``class_ids``; with ``relabel``, ``class_ids[j]`` becomes label j
    (order preserved) and ``.classes`` follows, else labels and classes stay as they were."""
    ids = np.asarray(class_ids, dtype=np.int64).reshape(-1)
    if len(ids) == 0:
        raise ValueError("select_classes needs at least one class id, got an empty list")
    bad = ids[(ids < 0) | (ids >= ds.num_classes)]
    if len(bad):
        raise ValueError(f"{ds.name}: class ids {bad.tolist()} out of range [0, {ds.num_classes})")
    if len(np.unique(ids)) != len(ids):
        raise ValueError(f"{ds.name}: duplicate class ids in {ids.tolist()}")
    targets = ds.targets.numpy()
    keep = np.flatnonzero(np.isin(targets, ids))
    sub = ds.subset(keep)
    if not relabel:
        return sub
    lookup = np.full(ds.num_classes, -1, dtype=np.int64)
    lookup[ids] = np.arange(len(ids))
    return sub.relabeled(torch.from_numpy(lookup[targets[keep]]), [ds.classes[i] for i in ids])
