"""The networks of notebook 09: ``core.networks.small_cnn.SmallCNN`` + a linear head for the offline stand-in, and
torchvision's ImageNet ResNets for the cifar / paper profiles (the paper's "pretrained" networks).

Every network here maps images [N, C, H, W] in [0, 1] to logits and exposes ``features(x)``, the
penultimate layer (the global-average-pooled output) that kNN scoring uses (spec A8.1).
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class ImageNetEncoder(nn.Module):
    """A torchvision ImageNet ResNet without its fc: resizes [0, 1] images to ``size`` and applies the ImageNet
    mean / std (spec A8.8: the pretrained input distribution), then the pooled features."""

    def __init__(self, net: nn.Module, size: int = 224):
        super().__init__()
        self.out_dim = net.fc.in_features
        net.fc = nn.Identity()
        self.net, self.size = net, int(size)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).reshape(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).reshape(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        x = nn.functional.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return self.net((x - self.mean) / self.std)


class Classifier(nn.Module):
    """encoder + ``nn.Linear(out_dim, classes)`` (default init); ``features`` = the encoder's output."""

    def __init__(self, encoder: nn.Module, classes: int):
        super().__init__()
        self.encoder, self.head = encoder, nn.Linear(encoder.out_dim, int(classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))


def with_new_head(model: Classifier, classes: int) -> Classifier:
    """A deep copy of ``model``'s encoder with a fresh K-way head (the pretrained network's fc is dropped)."""
    return Classifier(copy.deepcopy(model.encoder), classes)


def imagenet_encoder(name: str) -> ImageNetEncoder:
    """torchvision ``resnet18`` / ``resnet152`` with ``IMAGENET1K_V1`` weights (what ``pretrained=True`` meant,
    the MSCL lineage; spec A2.8 #10). Offline this fails with a message saying what to do."""
    import torchvision

    arch = {"imagenet-resnet18": ("resnet18", "ResNet18_Weights"),
            "imagenet-resnet152": ("resnet152", "ResNet152_Weights")}
    if name not in arch:
        raise ValueError(f"unknown ImageNet backbone {name!r}; known: {', '.join(arch)}")
    fn, weights = arch[name]
    try:
        net = getattr(torchvision.models, fn)(weights=getattr(torchvision.models, weights).IMAGENET1K_V1)
    except Exception as err:  # urllib / socket / hash errors, all meaning "no weights here"
        raise RuntimeError(
            f"could not load torchvision's ImageNet weights for {fn} (IMAGENET1K_V1): {type(err).__name__}: {err}. "
            "They are downloaded once into $TORCH_HOME (default ~/.cache/torch); offline, copy the .pth file there "
            "by hand, or run the offline stand-in with --set 'extra={\"pseudo_label\": {\"pretrained\": \"source\"}}'."
        ) from err
    return ImageNetEncoder(net)


def encode(model: nn.Module, images: torch.Tensor, *, batch: int = 512, device: str = "cpu") -> torch.Tensor:
    """Penultimate features [N, D] (float32, CPU) of ``images`` in eval mode, without gradients."""
    was = model.training
    model.to(device).eval()
    feats = model.features if hasattr(model, "features") else model
    out = []
    with torch.no_grad():
        for i in range(0, len(images), batch):
            out.append(feats(images[i:i + batch].to(device)).float().cpu())
    model.train(was)
    return torch.cat(out)


def predict_proba(model: Classifier, images: torch.Tensor, *, batch: int = 512, device: str = "cpu") -> torch.Tensor:
    """Softmax outputs [N, K] in eval mode."""
    was = model.training
    model.to(device).eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(images), batch):
            out.append(torch.softmax(model(images[i:i + batch].to(device)).float(), 1).cpu())
    model.train(was)
    return torch.cat(out)
