"""Random resized crop + rotation of a whole batch of images in one ``affine_grid`` / ``grid_sample`` call.

Written here because torchvision's v2 transforms draw one set of parameters per call: a batch given at once
gets the same crop for every image, and the per-image loop (``v2.RandomResizedCrop`` then
``v2.RandomRotation``) cost 26 ms of a contrastive step on 2 CPU cores (64 images, two views each), more
than the small networks' forward and backward. The result follows those two transforms with three stated
differences: a crop that would exceed the image on one side is clipped to that side (torchvision redraws
up to ten times), sampling is bilinear without antialiasing (crops are enlarged, never shrunk, to the image
size), and the rotation is bilinear (v2's default is nearest). Corners rotated in from outside the crop are
zero, as in torchvision, not the image content beyond the crop.

Parameters come from a ``torch.Generator`` on the CPU, so a step's views depend on its seed alone; the images
stay on their device. Every draw is for a whole batch, and a ``subset`` of it transforms a share of the batch
(a rank's) exactly as those rows of the whole batch.

Beside them, torchvision's own semantics batched: ``RandomResizedCrop`` boxes (``draw_boxes``, its ten tries
and central fallback) resized as ``resized_crop`` does (``resized_crop_flip``), and ``RandomCrop`` with
padding (``padded_crop_flip``), each with a per-image horizontal flip.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

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

    def subset(self, rows) -> "CropRotation":
        rows = torch.as_tensor(rows, dtype=torch.long)
        return CropRotation(*[getattr(self, f.name)[rows] for f in fields(self)])


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
    device = images.device
    params = CropRotation(*[getattr(params, f.name).to(device) for f in fields(params)])
    angle = torch.deg2rad(params.degrees)
    cos, sin = torch.cos(angle), torch.sin(angle)
    # output -> resized-crop coordinates: a rotation in pixel units (hence the aspect factors), normalised
    rot = torch.zeros(n, 2, 3, dtype=torch.float64, device=device)
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


def draw_shift(n: int, size: tuple[int, int], generator: torch.Generator, pad: int) -> CropRotation:
    """``n`` moves by whole pixels, -``pad``..``pad`` each way (uniform), of images of ``size`` (H, W)."""
    h, w = size
    dx, dy = (torch.randint(-pad, pad + 1, (2, n), generator=generator)).to(torch.float64)
    ones, zeros = torch.ones(n, dtype=torch.float64), torch.zeros(n, dtype=torch.float64)
    return CropRotation(ones, ones, 2 * dx / w, 2 * dy / h, zeros)


def random_shift(images: torch.Tensor, generator: torch.Generator, pad: int) -> torch.Tensor:
    """Each image of float ``images`` [N, C, H, W] moved by whole pixels, -``pad``..``pad`` each way (uniform),
    zeros shifted in: ``v2.RandomCrop(size, padding=pad)``'s draw for every image of the batch at once."""
    return crop_rotate(images, draw_shift(len(images), tuple(images.shape[-2:]), generator, pad))


@dataclass
class Boxes:
    """Per-image crop boxes in pixels (int64 tensors [N]: top, left, height, width) and horizontal flips (bool [N])."""

    top: torch.Tensor
    left: torch.Tensor
    height: torch.Tensor
    width: torch.Tensor
    flip: torch.Tensor

    def __len__(self) -> int:
        return len(self.top)

    def subset(self, rows) -> "Boxes":
        rows = torch.as_tensor(rows, dtype=torch.long)
        return Boxes(*[getattr(self, f.name)[rows] for f in fields(self)])


def draw_boxes(n: int, size: tuple[int, int], generator: torch.Generator, *, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3),
               flip: float = 0.5) -> Boxes:
    """``n`` draws of ``v2.RandomResizedCrop(scale, ratio)``'s box on images of ``size`` (H, W), its ten tries at
    once (the first that fits is kept; none fits: its central crop), then of ``RandomHorizontalFlip(flip)``."""
    if not 0 < scale[0] <= scale[1] or not 0 < ratio[0] <= ratio[1]:
        raise ValueError(f"need 0 < scale[0] <= scale[1] and 0 < ratio[0] <= ratio[1]; got {scale}, {ratio}")
    h_img, w_img = int(size[0]), int(size[1])
    u = torch.rand(2, 10, n, generator=generator, dtype=torch.float64)
    where_flip = torch.rand(3, n, generator=generator, dtype=torch.float64)
    area = h_img * w_img * (scale[0] + (scale[1] - scale[0]) * u[0])
    aspect = (math.log(ratio[0]) + (math.log(ratio[1]) - math.log(ratio[0])) * u[1]).exp()
    w, h = (area * aspect).sqrt().round(), (area / aspect).sqrt().round()  # half to even, as Python's round
    fits = (w > 0) & (w <= w_img) & (h > 0) & (h <= h_img)
    first = fits.to(torch.int8).argmax(dim=0, keepdim=True)  # the first try that fits
    w, h, found = w.gather(0, first)[0], h.gather(0, first)[0], fits.any(dim=0)
    fw, fh = _central_box((h_img, w_img), ratio)
    w, h = torch.where(found, w, fw), torch.where(found, h, fh)
    top = torch.where(found, (where_flip[0] * (h_img - h + 1)).floor(), (h_img - h) // 2)
    left = torch.where(found, (where_flip[1] * (w_img - w + 1)).floor(), (w_img - w) // 2)
    return Boxes(top.long(), left.long(), h.long(), w.long(), where_flip[2] < flip)


def _central_box(size: tuple[int, int], ratio) -> tuple[float, float]:
    """(width, height) of RandomResizedCrop's fallback: the largest central box whose aspect lies in ``ratio``."""
    h_img, w_img = size
    if w_img / h_img < min(ratio):
        return float(w_img), float(round(w_img / min(ratio)))
    if w_img / h_img > max(ratio):
        return float(round(h_img * max(ratio))), float(h_img)
    return float(w_img), float(h_img)


def resized_crop_flip(images: torch.Tensor, boxes: Boxes, size: tuple[int, int]) -> torch.Tensor:
    """float [N, C, *size]: each image's box resized bilinearly to ``size`` as ``resized_crop`` does (samples
    clamped to the box's edge pixels; a box is never larger than the image, so antialiasing changes nothing),
    flipped where drawn, of float ``images`` [N, C, H, W]."""
    n, _, h_in, w_in = images.shape
    if len(boxes) != n:
        raise ValueError(f"{n} images but {len(boxes)} boxes")
    device = images.device
    top, left, height, width = (getattr(boxes, k).to(device, torch.float64)[:, None]
                                for k in ("top", "left", "height", "width"))
    h_out, w_out = int(size[0]), int(size[1])
    ys = (torch.arange(h_out, dtype=torch.float64, device=device) + 0.5) * height / h_out + top - 0.5
    xs = (torch.arange(w_out, dtype=torch.float64, device=device) + 0.5) * width / w_out + left - 0.5
    ys = torch.minimum(torch.maximum(ys, top), top + height - 1)
    xs = torch.minimum(torch.maximum(xs, left), left + width - 1)
    xs = torch.where(boxes.flip.to(device)[:, None], xs.flip(1), xs)
    gx, gy = (2 * xs + 1) / w_in - 1, (2 * ys + 1) / h_in - 1  # pixel centres -> grid_sample's [-1, 1]
    grid = torch.stack([gx[:, None, :].expand(n, h_out, w_out), gy[:, :, None].expand(n, h_out, w_out)], dim=-1)
    return F.grid_sample(images, grid.to(images.dtype), mode="bilinear", padding_mode="border", align_corners=False)


def draw_padded_crops(n: int, size: tuple[int, int], generator: torch.Generator, pad: int,
                      flip: float = 0.5) -> Boxes:
    """``n`` draws of ``v2.RandomCrop(size, padding=pad)``'s box (in the padded image) and of a horizontal flip."""
    corner = torch.randint(0, 2 * pad + 1, (2, n), generator=generator)
    flips = torch.rand(n, generator=generator, dtype=torch.float64) < flip
    h, w = (torch.full((n,), int(v), dtype=torch.long) for v in size)
    return Boxes(corner[0], corner[1], h, w, flips)


def padded_crop_flip(images: torch.Tensor, boxes: Boxes, pad: int, mode: str = "reflect") -> torch.Tensor:
    """float ``images`` [N, C, H, W] padded by ``pad`` (``mode`` as ``F.pad``), each cropped to its H x W box and
    flipped where drawn: ``RandomCrop(padding=pad, padding_mode=mode)`` + ``RandomHorizontalFlip``, pixel for pixel."""
    n, _, h, w = images.shape
    if len(boxes) != n:
        raise ValueError(f"{n} images but {len(boxes)} boxes")
    device = images.device
    padded = F.pad(images, (pad, pad, pad, pad), mode=mode)
    rows = boxes.top.to(device)[:, None] + torch.arange(h, device=device)
    cols = boxes.left.to(device)[:, None] + torch.arange(w, device=device)
    cols = torch.where(boxes.flip.to(device)[:, None], cols.flip(1), cols)
    picked = padded[torch.arange(n, device=device)[:, None, None], :, rows[:, :, None], cols[:, None, :]]
    return picked.permute(0, 3, 1, 2).contiguous()  # advanced indices first: [N, H, W, C]
