"""CAC's per-dataset training recipes (paper Table 4 and the official config; spec 2.2-2.3) and the
preprocessing they prescribe: resizing, normalisation by the known-class training statistics, and the
official augmentation applied to a whole batch at once (``Preprocess``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torchvision.transforms import RandomResizedCrop


@dataclass(frozen=True)
class Recipe:
    """Per-dataset training details (paper Table 4 and the official config; spec 2.2-2.3)."""

    epochs: tuple[int, ...]  # one entry per stage
    lrs: tuple[float, ...]
    weight_decay: float
    dropout: float = 0.2
    image_size: int = 32
    crop_min: float = 0.7  # RandomResizedCrop scale (crop_min, 1); 0 = no augmentation
    hflip: float = 0.0
    rotation: float = 0.0
    flip_anchors: bool = False  # anchors also from horizontally flipped training images (non-digit sets)
    network: str = "osrci"  # osrci | mlp
    batch_size: int = 128
    width: float = 1.0


RECIPES = {
    # the paper gives MNIST / SVHN one stage (the code config a second; we follow the paper)
    "mnist": Recipe((35,), (0.01,), 5e-6),
    "svhn": Recipe((50,), (0.01,), 5e-6),
    "cifar10": Recipe((150, 50), (0.01, 0.001), 5e-6, crop_min=0.8, hflip=0.5, rotation=10, flip_anchors=True),
    "cifar+": Recipe((150, 50), (0.01, 0.001), 5e-4, crop_min=0.8, hflip=0.5, flip_anchors=True),
    "tinyimagenet": Recipe((500, 300), (0.01, 0.001), 1e-3, dropout=0.3, image_size=64, crop_min=0.7, hflip=0.5,
                           rotation=20, flip_anchors=True),
    # stand-ins: MNIST-5000 as MNIST; sklearn digits with the MLP, no augmentation [A]
    "mnist5k": Recipe((35,), (0.01,), 5e-6),
    "digits": Recipe((60,), (0.01,), 5e-6, image_size=8, crop_min=0.0, network="mlp", batch_size=32),
}


def recipe_for(dataset: str, **changes) -> Recipe:
    key = "cifar+" if dataset.startswith("cifar+") else dataset
    if key not in RECIPES:
        raise ValueError(f"no CAC recipe for {dataset!r}; known: {', '.join(RECIPES)}")
    return replace(RECIPES[key], **changes)


class Preprocess:
    """uint8 images -> resized to the recipe's size, normalised by the known-class training statistics
    (per trial, as the official config), and augmented for training."""

    def __init__(self, recipe: Recipe, x_train: torch.Tensor):
        self.recipe = recipe
        x = self.resize(x_train)
        self.mean = x.mean(dim=(0, 2, 3), keepdim=True)
        self.std = x.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)

    def resize(self, images: torch.Tensor) -> torch.Tensor:
        """float [0, 1] at the recipe's size (MNIST's 28 px are interpolated to 32, not padded)."""
        x = images.float() / 255.0
        if x.shape[-1] != self.recipe.image_size:
            x = F.interpolate(x, size=(self.recipe.image_size,) * 2, mode="bilinear", align_corners=False)
        return x

    def eval_view(self, images: torch.Tensor, flip: bool = False) -> torch.Tensor:
        x = self.resize(images)
        return ((x.flip(-1) if flip else x) - self.mean) / self.std

    def train_view(self, images: torch.Tensor, seed: int, rows=None, device=None) -> torch.Tensor:
        """The training view of ``images[rows]`` (all rows by default), augmented as those rows of the whole
        batch ``images``: a process that takes a share of the batch gets the same images as one taking all, and
        only its share is resized and augmented, on ``device`` (default: the images')."""
        share = images if rows is None else images[torch.as_tensor(rows)]
        x = self.resize(share.to(device or images.device, non_blocking=True))
        if self.recipe.crop_min > 0 or self.recipe.hflip > 0 or self.recipe.rotation > 0:
            with torch.random.fork_rng(devices=[]):  # augmentation draws from (step's) seed only: resumable
                torch.manual_seed(seed)
                x = self.augment_batch(x, len(images), rows)
        return (x - self.mean.to(x.device)) / self.std.to(x.device)

    def augment_batch(self, x: torch.Tensor, batch: int | None = None, rows=None) -> torch.Tensor:
        """RandomResizedCrop(scale (crop_min, 1), ratio 3/4-4/3) -> RandomHorizontalFlip -> RandomRotation (fill 0),
        as the official transform, but for a whole batch in one ``grid_sample``: each image's three maps are
        composed into one affine map of normalised coordinates. The crop boxes come from torchvision's own
        sampler. Equal to torchvision's resized_crop + hflip + rotate except on the outermost pixels of a crop,
        which read the true neighbours instead of repeating the box's edge. One ``v2`` call per image cost as
        much as the CPU training step itself. With ``rows``, ``x`` holds those rows of a batch of ``batch``
        images: the maps are drawn for the whole batch and those rows' maps applied."""
        _, _, h_img, w_img = x.shape
        n = len(x) if batch is None else int(batch)
        r = self.recipe
        m = torch.eye(3, dtype=torch.float64).repeat(n, 1, 1)
        if r.crop_min > 0:  # output -> crop box: pixel i samples (i + 0.5) * h / S + top - 0.5, as resized_crop
            for k in range(n):
                top, left, h, w = RandomResizedCrop.get_params(x[0], (r.crop_min, 1.0), (3 / 4, 4 / 3))
                m[k] = torch.tensor([[w / w_img, 0, (2 * left + w) / w_img - 1], [0, h / h_img, (2 * top + h) / h_img - 1],
                                     [0, 0, 1]], dtype=torch.float64)
        if r.hflip > 0:
            flip = torch.rand(n) < r.hflip
            m[flip, :, 0] *= -1
        if r.rotation > 0:
            angle = torch.empty(n, dtype=torch.float64).uniform_(-r.rotation, r.rotation) * math.pi / 180
            rot = torch.eye(3, dtype=torch.float64).repeat(n, 1, 1)
            rot[:, 0, 0], rot[:, 0, 1], rot[:, 1, 0], rot[:, 1, 1] = angle.cos(), -angle.sin(), angle.sin(), angle.cos()
            m = m @ rot
        if rows is not None:
            m = m[torch.as_tensor(rows)]
        size = (len(x), x.shape[1], r.image_size, r.image_size)
        grid = F.affine_grid(m[:, :2].to(x.device, x.dtype), list(size), align_corners=False)
        # a crop alone repeats its border (as resize does); a rotation fills the corners with 0 (as RandomRotation)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros" if r.rotation > 0 else "border",
                             align_corners=False)
