"""The two random views of each image of a contrastive batch (``contrastive.train_contrastive``).

"digits" = RandomResizedCrop(scale 0.6-1) + rotation +-15 deg, no flip (A9.2 of the project spec), batched
(``data.batched_views``: one grid_sample for all views, 10x faster than the per-image loop on 2 cores);
"cifar" = SimCLR's CIFAR recipe, per image with torchvision ``transforms.v2`` (``two_view_transform``):
RandomResizedCrop(scale 0.2-1), flip, ColorJitter(0.4, 0.4, 0.4, 0.1) with p 0.8, grayscale p 0.2
(3-channel images only).
"""

from __future__ import annotations

import torch
from torchvision.transforms import v2

from ood_helpers.core.data.batched_views import random_crop_rotate


def two_view_transform(recipe: str, size: tuple[int, int], channels: int) -> v2.Transform:
    """The per-image random view of the "cifar" recipe, uint8 [C, H, W] -> uint8 [C, H, W] (``size`` = (H, W));
    "digits" views are drawn for a whole batch by ``two_views`` (``data.batched_views``), so it has none here."""
    if recipe != "cifar":
        raise ValueError(f"two_view_transform builds the 'cifar' recipe only, got {recipe!r}; "
                         "'digits' views come batched from two_views")
    if channels != 3:
        raise ValueError(f"the 'cifar' recipe jitters colour and needs 3-channel images, got {channels}; use 'digits'")
    h, w = int(size[0]), int(size[1])
    aspect = w / h  # torchvision's ratio is absolute: crops keep the image's aspect around its own, not around 1
    return v2.Compose([
        v2.RandomResizedCrop((h, w), scale=(0.2, 1.0), ratio=(aspect * 3 / 4, aspect * 4 / 3), antialias=True),
        v2.RandomHorizontalFlip(),
        v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
        v2.RandomGrayscale(p=0.2),
    ])


def two_views(images: torch.Tensor, recipe: str, seed: int) -> torch.Tensor:
    """float [2B, C, H, W] in [0, 1] of uint8 ``images`` [B, C, H, W]: rows 0..B-1 are the first view of each
    image, B..2B-1 the second, drawn from ``seed`` alone."""
    h, w = int(images.shape[-2]), int(images.shape[-1])
    if recipe == "digits":  # RandomResizedCrop(scale 0.6-1) + RandomRotation(15), batched
        x = images.float().div_(255.0)
        # batched_views' ratio is relative to the image's own aspect (MNIST-pairs is 28x56)
        return random_crop_rotate(torch.cat([x, x]), torch.Generator().manual_seed(int(seed)), scale=(0.6, 1.0),
                                  ratio=(3 / 4, 4 / 3), degrees=15.0)
    transform = two_view_transform(recipe, (h, w), int(images.shape[1]))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        first = torch.stack([transform(img) for img in images])
        second = torch.stack([transform(img) for img in images])
    return torch.cat([first, second]).float().div_(255.0)
