"""The standard per-sample training augmentations, as torchvision ``transforms.v2`` pipelines.

Every recipe maps a uint8 image tensor [C, H, W] to a uint8 tensor [C, S, S]; the float
conversion happens on the training device (4x less to copy), and the mean / std
normalisation of the ImageNet recipe lives inside the network (``core.networks.resnet``), so the
same [0, 1] images feed training, evaluation, embedding and attribution alike.

- ``imagenet``: RandomResizedCrop(S) from the full decoded image + horizontal flip
  (evaluation view: Resize(S * 256 / 224), CenterCrop(S), see ``FolderImageSet``);
- ``cifar``: RandomCrop(S, padding 4, reflect) + horizontal flip, for 32 px natural images;
- ``digits``: RandomCrop(S, padding 2) without flips (a flipped digit is another symbol);
- ``none``: the evaluation view itself.

``batched_train_view`` draws the same recipes for a whole batch of same-size images inside a training step,
each image its own parameters from a ``torch.Generator``, on the images' device (``data.batched_views``).
"""

from __future__ import annotations

import torch
from torchvision.transforms import v2

from ood_helpers.core.data.batched_views import (crop_rotate, draw_boxes, draw_padded_crops, draw_shift,
                                                 padded_crop_flip, resized_crop_flip)

RECIPES = ("imagenet", "cifar", "digits", "none")
DIGIT_SETS = ("mnist", "mnist5k", "digits", "mnist-pairs", "omniglot")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
EVAL_RESIZE_RATIO = 256 / 224  # ImageNet's evaluation view: resize to 256, centre-crop 224


def recipe_for(augmentation: str, dataset_name: str, channels: int) -> str:
    """The recipe for a dataset: ``augmentation`` unless it is "auto", which picks imagenet for
    ImageNet / TinyImageNet, digits for digit sets, cifar for other RGB sets, none for other gray ones."""
    if augmentation != "auto":
        if augmentation not in RECIPES:
            raise ValueError(f"augmentation must be 'auto' or one of {RECIPES}, got {augmentation!r}")
        return augmentation
    if dataset_name in ("imagenet", "tinyimagenet"):
        return "imagenet"
    if dataset_name in DIGIT_SETS:
        return "digits"
    return "cifar" if channels == 3 else "none"


def normalisation(recipe: str) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """(mean, std) the network applies to its [0, 1] input under ``recipe`` (ImageNet's), or None."""
    return (IMAGENET_MEAN, IMAGENET_STD) if recipe == "imagenet" else None


def train_transform(recipe: str, size: int | tuple[int, int]) -> v2.Transform | None:
    """The per-sample augmentation of ``recipe`` for output size ``size`` (uint8 in, uint8 out);
    None for "none"."""
    if recipe not in RECIPES:
        raise ValueError(f"recipe must be one of {RECIPES}, got {recipe!r}")
    if recipe == "none":
        return None
    if recipe == "imagenet":
        return v2.Compose([v2.RandomResizedCrop(size, antialias=True), v2.RandomHorizontalFlip()])
    if recipe == "cifar":
        return v2.Compose([v2.RandomCrop(size, padding=4, padding_mode="reflect"), v2.RandomHorizontalFlip()])
    return v2.RandomCrop(size, padding=2)


def starts_from_full_image(recipe: str) -> bool:
    """Whether the recipe crops from the full decoded file (RandomResizedCrop) rather than from
    the evaluation-size view."""
    return recipe == "imagenet"


def to_float(images: torch.Tensor) -> torch.Tensor:
    """float32 in [0, 1] from uint8 images (any shape); float input is returned as float32."""
    return images.float().div_(255.0) if images.dtype == torch.uint8 else images.float()


def batched_train_view(recipe: str, images: torch.Tensor, generator: torch.Generator, rows=None,
                       device=None) -> torch.Tensor:
    """float [len(rows), C, H, W] in [0, 1]: ``train_transform(recipe, (H, W))`` of uint8 ``images`` [B, C, H, W]
    with every image's parameters drawn from ``generator`` for the whole batch, computed for ``rows`` (default all)
    only, on ``device`` (default: the images'). "digits" zero-fills its 2 px shift, "cifar" reflects its 4 px
    padding and flips, "imagenet" crops RandomResizedCrop's box at the images' own size and flips."""
    if recipe not in RECIPES:
        raise ValueError(f"recipe must be one of {RECIPES}, got {recipe!r}")
    n, size = len(images), tuple(images.shape[-2:])
    rows = torch.arange(n) if rows is None else torch.as_tensor(rows, dtype=torch.long)
    x = to_float(images[rows].to(device or images.device, non_blocking=True))
    if recipe == "digits":
        return crop_rotate(x, draw_shift(n, size, generator, pad=2).subset(rows))
    if recipe == "cifar":
        return padded_crop_flip(x, draw_padded_crops(n, size, generator, pad=4).subset(rows), pad=4)
    if recipe == "imagenet":
        return resized_crop_flip(x, draw_boxes(n, size, generator).subset(rows), size)
    return x
