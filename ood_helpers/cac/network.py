"""The networks: the OSRCI encoder of Neal et al. [18] as the official CAC code builds it, and an MLP
for scikit-learn's 8x8 digits (the 3-stride-2 CNN does not fit 8x8 inputs; spec 7.1).

Both end in a Linear layer to N logits (no softmax); CAC and the CE baseline share them.
"""

from __future__ import annotations

import torch
from torch import nn

BASE_CHANNELS = (64, 128)  # the first two convs, then every other conv, at width 1 (~1.01 M parameters at 32 px)


def _conv(cin: int, cout: int, stride: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2)]


class OSRCIEncoder(nn.Module):
    """Three blocks [conv3x3 -> BN -> LReLU(0.2)] x 3 (the third with stride 2), each followed by
    Dropout2d(p); flattened without global pooling, then Linear to ``num_classes`` logits.

    ``width`` scales the channels (0.25 gives 16-16-32 / 32 / 32, for CPU profiles). Initialisation
    as the official code: Kaiming-normal convs (fan_out), BN 1/0, Linear N(0, 0.01) with bias 0."""

    def __init__(self, num_classes: int, in_channels: int = 3, image_size: int = 32, width: float = 1.0,
                 dropout: float = 0.2):
        super().__init__()
        if image_size % 8:
            raise ValueError(f"image_size must be a multiple of 8 (three stride-2 convs), got {image_size}")
        if not width > 0:
            raise ValueError(f"width must be > 0, got {width}")
        first, c = (max(1, round(ch * width)) for ch in BASE_CHANNELS)
        layers = [*_conv(in_channels, first, 1), *_conv(first, first, 1), *_conv(first, c, 2), nn.Dropout2d(dropout),
                  *_conv(c, c, 1), *_conv(c, c, 1), *_conv(c, c, 2), nn.Dropout2d(dropout),
                  *_conv(c, c, 1), *_conv(c, c, 1), *_conv(c, c, 2), nn.Dropout2d(dropout)]
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(c * (image_size // 8) ** 2, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.normal_(self.fc.weight, 0.0, 0.01)
        nn.init.zeros_(self.fc.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).flatten(1))


class DigitsMLP(nn.Module):
    """64 -> 256 -> 256 -> N with BN, LeakyReLU(0.2) and dropout 0.2 (spec 7.1's digits stand-in)."""

    def __init__(self, num_classes: int, in_features: int = 64, hidden: int = 256, dropout: float = 0.2):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(in_features, hidden), nn.BatchNorm1d(hidden), nn.LeakyReLU(0.2), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden), nn.LeakyReLU(0.2), nn.Dropout(dropout),
            nn.Linear(hidden, num_classes))
        nn.init.normal_(self.net[-1].weight, 0.0, 0.01)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ToyMLP(nn.Module):
    """2 -> hidden -> hidden -> 2 for the toy problem of Fig. 1."""

    def __init__(self, hidden: int = 64, num_classes: int = 2):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
                                 nn.Linear(hidden, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
