"""ResNet-18 from torchvision, with the stem and channel width adapted for small images.

``width=64, small_stem=False`` is torchvision's ``resnet18`` layer for layer (the paper's
network); a narrower width scales every stage (width, 2w, 4w, 8w) and the small stem
(3x3 stride-1 convolution, no max-pool) keeps 28-32 px inputs from shrinking to 1 px.
Inputs are images in [0, 1]; a network trained with the ImageNet recipe carries its mean /
std normalisation as buffers, so every caller feeds it the same [0, 1] images.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, ResNet


class SmallResNet(ResNet):
    """torchvision's ResNet with stages of width w, 2w, 4w, 8w instead of 64..512."""

    def __init__(self, num_classes: int, in_channels: int, width: int, small_stem: bool, normalize=None):
        self._width = int(width)
        super().__init__(BasicBlock, [2, 2, 2, 2], num_classes=num_classes)
        self.normalize = normalize is not None
        if self.normalize:
            mean, std = (torch.tensor(v, dtype=torch.float32).reshape(1, -1, 1, 1) for v in normalize)
            if mean.shape[1] not in (1, in_channels) or std.shape[1] not in (1, in_channels) or (std <= 0).any():
                raise ValueError(f"normalize must be (mean, std) of 1 or {in_channels} values, std > 0; got {normalize!r}")
            self.register_buffer("input_mean", mean)
            self.register_buffer("input_std", std)
        if small_stem:
            self.conv1 = nn.Conv2d(in_channels, width, kernel_size=3, stride=1, padding=1, bias=False)
            self.maxpool = nn.Identity()
        else:
            self.conv1 = nn.Conv2d(in_channels, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        nn.init.kaiming_normal_(self.conv1.weight, mode="fan_out", nonlinearity="relu")
        self.fc = nn.Linear(8 * width, num_classes)

    def _forward_impl(self, x: torch.Tensor) -> torch.Tensor:
        if self.normalize:
            x = (x - self.input_mean) / self.input_std
        return super()._forward_impl(x)

    def _make_layer(self, block, planes, blocks, stride=1, dilate=False):
        if planes == 64:  # first stage: its input is the stem's output, ``width`` channels
            self.inplanes = self._width
        return super()._make_layer(block, planes * self._width // 64, blocks, stride, dilate)


def build_resnet18(num_classes: int, in_channels: int = 3, width: int = 64, small_stem: bool = False,
                   normalize=None) -> nn.Module:
    """A ResNet-18 classifier (logits [N, num_classes]) for ``in_channels``-channel images in [0, 1];
    ``normalize`` = (mean, std) per channel is applied to the input first (None: no normalisation)."""
    for name, value, low in (("num_classes", num_classes, 1), ("in_channels", in_channels, 1), ("width", width, 1)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return SmallResNet(num_classes, in_channels, width, bool(small_stem), normalize)


def feature_dim(model: nn.Module) -> int:
    """Size D of the embedding the ResNet feeds its classification layer (8 * width)."""
    if isinstance(model.fc, nn.Linear):
        return model.fc.in_features
    return model.layer4[-1].bn2.num_features


def encoder_from_classifier(model: nn.Module) -> nn.Module:
    """A copy of the ResNet without its classification layer: images [N, C, H, W] -> [N, D].

    A copy, so fine-tuning the encoder leaves the classifier's weights as they were.
    """
    dim = feature_dim(model)
    encoder = copy.deepcopy(model)
    encoder.fc = nn.Identity()
    encoder.out_dim = dim
    return encoder
