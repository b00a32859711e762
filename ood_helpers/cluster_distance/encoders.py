"""The backbones compared in notebook 08: a small CNN and torchvision's ResNet-18 / ResNet-50, each
without its classification layer (images [N, C, H, W] in [0, 1] -> pooled embedding [N, D], ``out_dim`` = D)."""

from __future__ import annotations

import torch
from torch import nn

from ood_helpers.core.networks.small_cnn import SmallCNN
from ood_helpers.core.networks.resnet import build_resnet18

ARCHS = ("cnn", "resnet18", "resnet50")


def _resnet50(in_channels: int, small_stem: bool) -> nn.Module:
    from torchvision.models import resnet50

    net = resnet50(weights=None)
    if small_stem:
        net.conv1, net.maxpool = nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False), nn.Identity()
    elif in_channels != 3:
        net.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
    return net


def build_encoder(arch: str, in_channels: int, settings, seed: int) -> nn.Module:
    """A freshly initialised encoder (torch seeded with ``seed`` first) with ``out_dim``."""
    if arch not in ARCHS:
        raise ValueError(f"unknown architecture {arch!r}; expected one of {ARCHS}")
    torch.manual_seed(int(seed))
    if arch == "cnn":
        return SmallCNN(in_channels, settings.cnn_width)
    if arch == "resnet18":
        net = build_resnet18(1, in_channels, settings.resnet_width, settings.small_stem)
    else:
        net = _resnet50(in_channels, settings.small_stem)
    dim = net.fc.in_features
    net.fc = nn.Identity()
    net.out_dim = dim
    return net
