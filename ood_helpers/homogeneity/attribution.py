"""Guided backpropagation (captum) on ResNets, and the test images it explains (paper 000, section 2).

``guided_backprop(model, images)`` returns one map per image for the class the model predicts
(or a given one); ``sample_class_images`` draws the images of chosen classes. The Figure 1 grid
lives in ``homogeneity.attribution_figures``, the map-similarity measure in ``homogeneity.attribution_similarity``.
"""

from __future__ import annotations

import copy
import types
from collections import Counter

import numpy as np
import torch
from torch import nn


def _basic_block_forward(self, x):
    # torchvision's BasicBlock.forward, with the second ReLU a module of its own
    identity = x if self.downsample is None else self.downsample(x)
    out = self.relu(self.bn1(self.conv1(x)))
    out = self.bn2(self.conv2(out))
    return self.relu_out(out + identity)


def _bottleneck_forward(self, x):
    # torchvision's Bottleneck.forward, with each of its three ReLUs a module of its own
    identity = x if self.downsample is None else self.downsample(x)
    out = self.relu(self.bn1(self.conv1(x)))
    out = self.relu_mid(self.bn2(self.conv2(out)))
    out = self.bn3(self.conv3(out))
    return self.relu_out(out + identity)


def guided_backprop_model(model: nn.Module, example: torch.Tensor | None = None) -> nn.Module:
    """An eval-mode copy of ``model`` in which every ReLU call has its own non-inplace nn.ReLU.

    captum's GuidedBackprop overrides gradients through hooks on nn.ReLU modules and keeps one
    gradient slot per module; torchvision's BasicBlock / Bottleneck call ``self.relu`` two or
    three times (and in place), which its docs warn against. The copy gives each call its own
    module, so the caller's model is never touched. With ``example`` (a batch of inputs), a
    forward pass checks that no ReLU module is called twice and raises if one still is.
    """
    from torchvision.models.resnet import BasicBlock, Bottleneck

    if not isinstance(model, nn.Module):
        raise TypeError(f"guided backprop needs an nn.Module, got {type(model).__name__}")
    model = copy.deepcopy(model).eval()
    for module in model.modules():
        if isinstance(module, BasicBlock):
            module.relu, module.relu_out = nn.ReLU(), nn.ReLU()
            module.forward = types.MethodType(_basic_block_forward, module)
        elif isinstance(module, Bottleneck):
            module.relu, module.relu_mid, module.relu_out = nn.ReLU(), nn.ReLU(), nn.ReLU()
            module.forward = types.MethodType(_bottleneck_forward, module)
    for module in model.modules():
        if isinstance(module, nn.ReLU):
            module.inplace = False
    if example is not None:
        reused = relu_reuse(model, example)
        if reused:
            raise ValueError(
                f"ReLU module(s) {reused} are called more than once per forward pass; guided backprop "
                "needs one nn.ReLU per use (give each call its own module)"
            )
    return model


def relu_reuse(model: nn.Module, example: torch.Tensor) -> list[str]:
    """Names of the nn.ReLU modules that one forward pass of ``example`` calls more than once."""
    calls: Counter = Counter()
    names = {m: n for n, m in model.named_modules()}
    hooks = [
        m.register_forward_hook(lambda mod, inp, out: calls.update([names[mod]]))
        for m in model.modules()
        if isinstance(m, nn.ReLU)
    ]
    try:
        with torch.no_grad():
            model(example)
    finally:
        for h in hooks:
            h.remove()
    return sorted(name for name, count in calls.items() if count > 1)


def guided_backprop(
    model: nn.Module,
    images: torch.Tensor,
    target: torch.Tensor | int | None = None,
    *,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """(maps, targets): guided-backprop maps float32 [N, C, H, W] (same shape as ``images``,
    d logit / d pixel with ReLU gradients clipped at zero) and the int64 [N] class each map
    explains, the model's predicted class unless ``target`` is given.
    """
    from captum.attr import GuidedBackprop

    if not torch.is_tensor(images) or images.ndim != 4:
        shape = tuple(images.shape) if torch.is_tensor(images) else type(images).__name__
        raise ValueError(f"images must be a float tensor [N, C, H, W], got {shape}")
    if not images.is_floating_point():
        raise ValueError(f"images must be floats in [0, 1], got dtype {images.dtype}; use ImageSet.float_images()")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    net = guided_backprop_model(model, images[:2].to(device)).to(device)
    gbp = GuidedBackprop(net)
    maps, targets = [], []
    for start in range(0, len(images), batch_size):
        x = images[start : start + batch_size].to(device)
        if target is None:
            with torch.no_grad():
                t = net(x).argmax(dim=1)
        elif isinstance(target, int):
            t = torch.full((len(x),), target, dtype=torch.long, device=device)
        else:
            t = torch.as_tensor(target)[start : start + batch_size].to(device)
        maps.append(gbp.attribute(x, target=t).detach().float().cpu())
        targets.append(t.cpu())
    return torch.cat(maps), torch.cat(targets).long()


def sample_class_images(imageset, class_ids, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(images float [n', C, H, W] in [0, 1], original labels int64 [n']): up to ``n`` images drawn
    without replacement, evenly over ``class_ids``, from ``imageset`` (an ImageSet)."""
    ids = np.asarray(class_ids, dtype=np.int64).ravel()
    if len(ids) == 0:
        raise ValueError("class_ids is empty; expected the ids of the classes to draw images from")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    targets = imageset.targets.numpy()
    missing = [int(c) for c in ids if not (targets == c).any()]
    if missing:
        raise ValueError(f"{imageset.name}: no image of class(es) {missing}")
    rng = np.random.default_rng(seed)
    # Round-robin over shuffled per-class pools, so every class is represented as evenly as n allows.
    pools = [list(rng.permutation(np.flatnonzero(targets == c))) for c in ids]
    picked = []
    while len(picked) < n and any(pools):
        for pool in pools:
            if pool and len(picked) < n:
                picked.append(pool.pop())
    chosen = imageset.subset(np.sort(np.array(picked, dtype=np.int64)))
    return chosen.float_images(), chosen.targets.clone()
