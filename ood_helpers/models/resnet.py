"""ResNet-18 from torchvision, with the stem and channel width adapted for small images.

``width=64, small_stem=False`` is torchvision's ``resnet18`` layer for layer (the paper's
network); a narrower width scales every stage (width, 2w, 4w, 8w) and the small stem
(3x3 stride-1 convolution, no max-pool) keeps 28-32 px inputs from shrinking to 1 px.
"""

from __future__ import annotations

import copy

from torch import nn
from torchvision.models.resnet import BasicBlock, ResNet


class SmallResNet(ResNet):
    """torchvision's ResNet with stages of width w, 2w, 4w, 8w instead of 64..512."""

    def __init__(self, num_classes: int, in_channels: int, width: int, small_stem: bool):
        self._width = int(width)
        super().__init__(BasicBlock, [2, 2, 2, 2], num_classes=num_classes)
        if small_stem:
            self.conv1 = nn.Conv2d(in_channels, width, kernel_size=3, stride=1, padding=1, bias=False)
            self.maxpool = nn.Identity()
        else:
            self.conv1 = nn.Conv2d(in_channels, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        nn.init.kaiming_normal_(self.conv1.weight, mode="fan_out", nonlinearity="relu")
        self.fc = nn.Linear(8 * width, num_classes)

    def _make_layer(self, block, planes, blocks, stride=1, dilate=False):
        if planes == 64:  # first stage: its input is the stem's output, ``width`` channels
            self.inplanes = self._width
        return super()._make_layer(block, planes * self._width // 64, blocks, stride, dilate)


def build_resnet18(num_classes: int, in_channels: int = 3, width: int = 64, small_stem: bool = False) -> nn.Module:
    """A ResNet-18 classifier (logits [N, num_classes]) for ``in_channels``-channel images."""
    for name, value, low in (("num_classes", num_classes, 1), ("in_channels", in_channels, 1), ("width", width, 1)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return SmallResNet(num_classes, in_channels, width, bool(small_stem))


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
