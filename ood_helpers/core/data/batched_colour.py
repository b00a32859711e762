"""torchvision's ColorJitter (with RandomApply) and RandomGrayscale for a whole batch, each image its own draw.

Written here because torchvision's v2 transforms draw one set of parameters per call (a batch given at once
gets one jitter for every image), and kornia's ColorJitter draws the order of its four operations once per
call, where torchvision draws it per image; kornia would also be one more dependency. The operations follow
``torchvision.transforms.v2.functional``'s formulas for float images in [0, 1] (``tests/unit/test_batched_colour.py``
compares them image by image): brightness scales, contrast blends with the mean of the image's luma,
saturation blends with the luma, hue shifts H in HSV space, grayscale keeps the luma on all three channels.
Parameters stay on the CPU (a ``torch.Generator`` draws them); only the images go to their device.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch

LUMA = (0.2989, 0.587, 0.114)  # torchvision's rgb_to_grayscale weights


@dataclass
class Jitter:
    """Per-image draws (tensors [N]; ``order`` [N, 4]): whether the jitter applies, the order of its operations
    (0 brightness, 1 contrast, 2 saturation, 3 hue), their factors, and whether the image turns grayscale."""

    apply: torch.Tensor
    order: torch.Tensor
    brightness: torch.Tensor
    contrast: torch.Tensor
    saturation: torch.Tensor
    hue: torch.Tensor
    grayscale: torch.Tensor

    def __len__(self) -> int:
        return len(self.apply)

    def subset(self, rows) -> "Jitter":
        rows = torch.as_tensor(rows, dtype=torch.long)
        return Jitter(*[getattr(self, f.name)[rows] for f in fields(self)])


def draw_jitter(n: int, generator: torch.Generator, *, brightness: float = 0.4, contrast: float = 0.4,
                saturation: float = 0.4, hue: float = 0.1, p: float = 0.8, p_gray: float = 0.2) -> Jitter:
    """``n`` draws of RandomApply([ColorJitter(brightness, contrast, saturation, hue)], p) then RandomGrayscale(p_gray):
    factors uniform in [1 - x, 1 + x] (hue in [-hue, hue]), the order a uniform permutation."""
    if not 0 <= hue <= 0.5 or min(brightness, contrast, saturation) < 0 or not (0 <= p <= 1 and 0 <= p_gray <= 1):
        raise ValueError(f"need jitter strengths >= 0, hue in [0, 0.5] and probabilities in [0, 1]; got "
                         f"{(brightness, contrast, saturation, hue)}, p={p}, p_gray={p_gray}")
    u = torch.rand(6, n, generator=generator, dtype=torch.float64)
    order = torch.rand(n, 4, generator=generator).argsort(dim=1)

    def around_one(x, v):
        return max(0.0, 1 - x) + (1 + x - max(0.0, 1 - x)) * v

    return Jitter(u[0] < p, order, around_one(brightness, u[1]), around_one(contrast, u[2]),
                  around_one(saturation, u[3]), hue * (2 * u[4] - 1), u[5] < p_gray)


def luma(x: torch.Tensor) -> torch.Tensor:
    """[N, 1, H, W] luma of float RGB images [N, 3, H, W]."""
    r, g, b = x.unbind(dim=1)
    return (LUMA[0] * r + LUMA[1] * g + LUMA[2] * b).unsqueeze(1)


def _blend(x: torch.Tensor, other: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    f = factor.to(x.device, x.dtype).view(-1, 1, 1, 1)
    return (f * x + (1 - f) * other).clamp_(0, 1)


def adjust_brightness(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    return (x * factor.to(x.device, x.dtype).view(-1, 1, 1, 1)).clamp_(0, 1)


def adjust_contrast(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    return _blend(x, luma(x).mean(dim=(1, 2, 3), keepdim=True), factor)


def adjust_saturation(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    return _blend(x, luma(x), factor)


def adjust_hue(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """H of HSV shifted by ``factor`` (turns, per image), as torchvision's adjust_hue."""
    maxc, minc = x.amax(dim=1), x.amin(dim=1)
    span = maxc - minc
    grey = span == 0
    s = span / torch.where(grey, torch.ones_like(maxc), maxc)
    rc, gc, bc = ((maxc.unsqueeze(1) - x) / torch.where(grey, torch.ones_like(span), span).unsqueeze(1)).unbind(dim=1)
    r, g, _ = x.unbind(dim=1)
    h = torch.where(maxc == r, bc - gc, torch.where(maxc == g, 2.0 + rc - bc, 4.0 + gc - rc))
    h = (h / 6.0 + 1.0).fmod(1.0)
    h = (h + factor.to(x.device, x.dtype).view(-1, 1, 1)).remainder(1.0)
    return _hsv_to_rgb(h, s, maxc)


def _hsv_to_rgb(h: torch.Tensor, s: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    h6 = h * 6
    sector = torch.floor(h6)
    f = h6 - sector
    p = (v * (1 - s)).clamp(0, 1)
    q = (v * (1 - s * f)).clamp(0, 1)
    t = (v * (1 - s * (1 - f))).clamp(0, 1)
    vpqt = torch.stack((v, p, q, t), dim=1)
    # which of v, p, q, t each channel takes in each of the six sectors of the hue circle
    select = torch.tensor([[0, 2, 1, 1, 3, 0], [3, 0, 0, 2, 1, 1], [1, 1, 3, 0, 0, 2]], device=h.device)
    index = select[:, sector.long().remainder(6)].moveaxis(0, 1)
    return vpqt.gather(1, index)


OPERATIONS = (("brightness", adjust_brightness), ("contrast", adjust_contrast), ("saturation", adjust_saturation),
              ("hue", adjust_hue))


def colour_jitter(x: torch.Tensor, params: Jitter) -> torch.Tensor:
    """float RGB images [N, 3, H, W] in [0, 1] jittered by ``params`` (drawn for them, e.g. ``draw_jitter(N)`` or its
    ``subset``): each image's operations in its own order, then grayscale where drawn."""
    if len(params) != len(x):
        raise ValueError(f"{len(x)} images but {len(params)} sets of parameters")
    if x.shape[1] != 3:
        raise ValueError(f"colour jitter needs RGB images [N, 3, H, W], got {tuple(x.shape)}")
    out = x.clone()
    for position in range(4):  # four passes, each image through the operation at this position of its order
        for op, (name, fn) in enumerate(OPERATIONS):
            rows = (params.apply & (params.order[:, position] == op)).nonzero().squeeze(1)
            if len(rows):
                out[rows.to(x.device)] = fn(out[rows.to(x.device)], getattr(params, name)[rows])
    gray = params.grayscale.nonzero().squeeze(1)
    if len(gray):
        out[gray.to(x.device)] = luma(out[gray.to(x.device)]).expand(-1, 3, -1, -1)
    return out
