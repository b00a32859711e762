"""Random resized crop + rotation of a whole batch of images in one ``affine_grid`` / ``grid_sample`` call.

Written here because torchvision's v2 transforms draw one set of parameters per call: a batch given at once
gets the same crop for every image, and the per-image loop (``v2.RandomResizedCrop`` then
``v2.RandomRotation``) cost 26 ms of a contrastive step on 2 CPU cores (64 images, two views each), more
than the small networks' forward and backward. The result follows those two transforms with three stated
differences: a crop that would exceed the image on one side is clipped to that side (torchvision redraws
up to ten times), sampling is bilinear without antialiasing (crops are enlarged, never shrunk, to the image
size), and the rotation is bilinear (v2's default is nearest). Corners rotated in from outside the crop are
zero, as in torchvision, not the image content beyond the crop.

Parameters come from a ``torch.Generator``, so a step's views depend on its seed alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class CropRotation:
    """Per-image parameters, each a float64 tensor [N]: the crop's width and height as fractions of the
    image's, its centre in normalised coordinates ([-1, 1], the image's edges at +-1), and the rotation in
    degrees (counter-clockwise, about the crop's centre)."""

    width: torch.Tensor
    height: torch.Tensor
    centre_x: torch.Tensor
    centre_y: torch.Tensor
    degrees: torch.Tensor

    def __len__(self) -> int:
        return len(self.width)


def draw_crop_rotation(n: int, generator: torch.Generator, *, scale=(0.6, 1.0), ratio=(3 / 4, 4 / 3),
                       degrees: float = 15.0) -> CropRotation:
    """``n`` draws: crop area a fraction ``scale`` of the image's, aspect ``ratio`` times the image's own
    (log-uniform, as torchvision draws it), position uniform inside the image, angle uniform in +-``degrees``."""
    if not 0 < scale[0] <= scale[1] <= 1 or not 0 < ratio[0] <= ratio[1] or degrees < 0:
        raise ValueError(f"need 0 < scale[0] <= scale[1] <= 1, 0 < ratio[0] <= ratio[1] and degrees >= 0; "
                         f"got scale={scale}, ratio={ratio}, degrees={degrees}")
    u = torch.rand(5, n, generator=generator, dtype=torch.float64)
    area = scale[0] + (scale[1] - scale[0]) * u[0]
    log_r = math.log(ratio[0]) + (math.log(ratio[1]) - math.log(ratio[0])) * u[1]
    width = (area * log_r.exp()).sqrt().clamp(max=1.0)
    height = (area / log_r.exp()).sqrt().clamp(max=1.0)
    return CropRotation(width, height, (1 - width) * (2 * u[2] - 1), (1 - height) * (2 * u[3] - 1),
                        degrees * (2 * u[4] - 1))


def crop_rotate(images: torch.Tensor, params: CropRotation) -> torch.Tensor:
    """float [N, C, H, W]: each image's crop resized to H x W, then rotated, of float ``images`` [N, C, H, W]."""
    n, _, h, w = images.shape
    if len(params) != n:
        raise ValueError(f"{n} images but {len(params)} sets of parameters")
    angle = torch.deg2rad(params.degrees)
    cos, sin = torch.cos(angle), torch.sin(angle)
    # output -> resized-crop coordinates: a rotation in pixel units (hence the aspect factors), normalised
    rot = torch.zeros(n, 2, 3, dtype=torch.float64)
    rot[:, 0, 0], rot[:, 0, 1] = cos, -sin * h / w
    rot[:, 1, 0], rot[:, 1, 1] = sin * w / h, cos
    grid = F.affine_grid(rot, [n, 1, h, w], align_corners=False)  # [N, H, W, 2] in the crop's frame
    inside = (grid.abs() <= 1).all(dim=-1, keepdim=True)
    scale = torch.stack([params.width, params.height], dim=1)[:, None, None, :]
    centre = torch.stack([params.centre_x, params.centre_y], dim=1)[:, None, None, :]
    out = F.grid_sample(images, (centre + scale * grid).to(images.dtype), mode="bilinear", padding_mode="zeros",
                        align_corners=False)
    return out * inside.permute(0, 3, 1, 2).to(images.dtype)


def random_crop_rotate(images: torch.Tensor, generator: torch.Generator, *, scale=(0.6, 1.0), ratio=(3 / 4, 4 / 3),
                       degrees: float = 15.0) -> torch.Tensor:
    """``crop_rotate`` with parameters drawn by ``draw_crop_rotation`` from ``generator``."""
    return crop_rotate(images, draw_crop_rotation(len(images), generator, scale=scale, ratio=ratio, degrees=degrees))


def random_shift(images: torch.Tensor, generator: torch.Generator, pad: int) -> torch.Tensor:
    """Each image of float ``images`` [N, C, H, W] moved by whole pixels, -``pad``..``pad`` each way (uniform),
    zeros shifted in: ``v2.RandomCrop(size, padding=pad)``'s draw for every image of the batch at once."""
    n, _, h, w = images.shape
    dx, dy = (torch.randint(-pad, pad + 1, (2, n), generator=generator)).to(torch.float64)
    ones, zeros = torch.ones(n, dtype=torch.float64), torch.zeros(n, dtype=torch.float64)
    return crop_rotate(images, CropRotation(ones, ones, 2 * dx / w, 2 * dy / h, zeros))
