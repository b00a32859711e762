"""A small CNN backbone for the offline stand-ins of notebooks 08 and 09 (images too small and too few
for a full ResNet on 2 CPU cores)."""

from __future__ import annotations

import torch
from torch import nn


class SmallCNN(nn.Module):
    """3 blocks [conv3x3, BN, ReLU, max-pool 2] of widths w, 2w, 4w, global average pool -> 4w features
    (images [N, C, H, W] -> [N, 4w]; ``out_dim`` = 4w)."""

    def __init__(self, in_channels: int, width: int):
        super().__init__()
        if width < 1 or in_channels < 1:
            raise ValueError(f"width and in_channels must be >= 1, got {width}, {in_channels}")
        layers, c = [], in_channels
        for w in (width, 2 * width, 4 * width):
            layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
                       nn.MaxPool2d(2)]
            c = w
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.out_dim = c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)
