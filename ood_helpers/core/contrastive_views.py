"""The two random views of each image of a contrastive batch (``contrastive.train_contrastive``), batched.

"digits" = RandomResizedCrop(scale 0.6-1) + rotation +-15 deg, no flip (A9.2 of the project spec), as
``data.batched_views.random_crop_rotate`` (one grid_sample for all views);
"cifar" = SimCLR's CIFAR recipe: RandomResizedCrop(scale 0.2-1), flip, ColorJitter(0.4, 0.4, 0.4, 0.1) with
p 0.8, grayscale p 0.2 (3-channel images only), as torchvision's ``transforms.v2`` (``two_view_transform``, kept
as the reference) but each image's parameters drawn for the whole batch at once (``data.batched_views``,
``data.batched_colour``) and applied on the images' device: the per-image v2 loop cost as much as a step of the
small networks on 2 cores (``benchmarks/bench_augment.py``).

The views of a batch are a function of (seed, position in the batch) alone; ``rows`` computes a share of them
(a rank's) without the others.
"""

from __future__ import annotations

import torch
from torchvision.transforms import v2

from ood_helpers.core.data.batched_colour import colour_jitter, draw_jitter
from ood_helpers.core.data.batched_views import crop_rotate, draw_boxes, draw_crop_rotation, resized_crop_flip

CIFAR_SCALE = (0.2, 1.0)
CIFAR_JITTER = {"brightness": 0.4, "contrast": 0.4, "saturation": 0.4, "hue": 0.1, "p": 0.8, "p_gray": 0.2}


def two_view_transform(recipe: str, size: tuple[int, int], channels: int) -> v2.Transform:
    """The per-image random view of the "cifar" recipe as torchvision v2 transforms, uint8 [C, H, W] -> uint8
    [C, H, W] (``size`` = (H, W)): the reference ``two_views`` follows (tests, benchmark); it also refuses grey
    images. "digits" has none here."""
    if recipe != "cifar":
        raise ValueError(f"two_view_transform builds the 'cifar' recipe only, got {recipe!r}; "
                         "'digits' views come batched from two_views")
    if channels != 3:
        raise ValueError(f"the 'cifar' recipe jitters colour and needs 3-channel images, got {channels}; use 'digits'")
    h, w = int(size[0]), int(size[1])
    aspect = w / h  # torchvision's ratio is absolute: crops keep the image's aspect around its own, not around 1
    return v2.Compose([
        v2.RandomResizedCrop((h, w), scale=CIFAR_SCALE, ratio=(aspect * 3 / 4, aspect * 4 / 3), antialias=True),
        v2.RandomHorizontalFlip(),
        v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
        v2.RandomGrayscale(p=0.2),
    ])


def two_views(images: torch.Tensor, recipe: str, seed: int, rows=None, device=None) -> torch.Tensor:
    """float [2B, C, H, W] in [0, 1] of uint8 ``images`` [B, C, H, W]: rows 0..B-1 are the first view of each
    image, B..2B-1 the second, drawn from ``seed`` alone; with ``rows`` (indices into 0..2B-1) only those views,
    in that order. Computed on ``device`` (default: the images')."""
    b, c, h, w = images.shape
    rows = torch.arange(2 * b) if rows is None else torch.as_tensor(rows, dtype=torch.long)
    generator = torch.Generator().manual_seed(int(seed))
    x = images[rows % b].to(device or images.device, non_blocking=True).float().div_(255.0)
    if recipe == "digits":  # batched_views' ratio is relative to the image's own aspect (MNIST-pairs is 28x56)
        params = draw_crop_rotation(2 * b, generator, scale=(0.6, 1.0), ratio=(3 / 4, 4 / 3), degrees=15.0)
        return crop_rotate(x, params.subset(rows))
    two_view_transform(recipe, (h, w), c)  # refuses another recipe or grey images
    aspect = w / h
    boxes = draw_boxes(2 * b, (h, w), generator, scale=CIFAR_SCALE, ratio=(aspect * 3 / 4, aspect * 4 / 3))
    jitter = draw_jitter(2 * b, generator, **CIFAR_JITTER)
    return colour_jitter(resized_crop_flip(x, boxes.subset(rows), (h, w)), jitter.subset(rows))


def two_views_per_image(images: torch.Tensor, recipe: str, seed: int) -> torch.Tensor:
    """The "cifar" views as they were drawn before batching, image by image with ``two_view_transform`` (torch's
    global generator seeded by ``seed``): the reference of the tests and the "before" of the benchmark."""
    transform = two_view_transform(recipe, tuple(images.shape[-2:]), int(images.shape[1]))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        first = torch.stack([transform(img) for img in images])
        second = torch.stack([transform(img) for img in images])
    return torch.cat([first, second]).float().div_(255.0)
