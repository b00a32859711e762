"""Guided backpropagation maps (captum) and the Figure 1 grid of paper 000 (section 2).

``guided_backprop(model, images)`` returns one map per image for the class the model
predicts; ``figure1_grid`` lays out images (row 1), the all-classes model's maps (row 2) and
the subset models' maps (row 3), each map drawn as captum's absolute-value heat map.
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


def _show_image(ax, image: torch.Tensor) -> None:
    img = image.detach().cpu().float()
    if img.shape[0] == 1:
        ax.imshow(img[0].numpy(), cmap="gray", vmin=0, vmax=1)
    else:
        ax.imshow(img.permute(1, 2, 0).clamp(0, 1).numpy())


def show_map(ax, attribution: torch.Tensor, outlier_perc: float = 1.0) -> None:
    """Draws one map [C, H, W] on ``ax`` as captum's absolute-value heat map (channels summed)."""
    from captum.attr import visualization as viz

    attr = attribution.detach().cpu().float().permute(1, 2, 0).numpy()
    if not np.any(attr):
        ax.imshow(np.zeros(attr.shape[:2]), cmap="Blues", vmin=0, vmax=1)  # captum cannot scale an all-zero map
    else:
        viz.visualize_image_attr(
            attr, method="heat_map", sign="absolute_value", outlier_perc=outlier_perc, plt_fig_axis=(ax.figure, ax), use_pyplot=False
        )


def figure1_grid(
    images: torch.Tensor,
    reference_maps: torch.Tensor,
    subset_maps: torch.Tensor,
    *,
    column_titles: list[str],
    row_titles: tuple[str, str, str] = ("image", "all classes", "never saw the class"),
    cell_inches: float = 1.9,
):
    """Figure 1 of paper 000: a 3 x M grid (M = len(images)) of the images [M, C, H, W], the
    reference (all-classes) model's maps and, per column, the subset model's map; returns the figure."""
    import matplotlib.pyplot as plt

    from .style import use_style

    m = len(images)
    if not (len(reference_maps) == len(subset_maps) == len(column_titles) == m) or m == 0:
        raise ValueError(
            f"need as many reference maps, subset maps and column titles as images ({m} > 0), got "
            f"{len(reference_maps)}, {len(subset_maps)} and {len(column_titles)}"
        )
    for name, maps in (("reference_maps", reference_maps), ("subset_maps", subset_maps)):
        if tuple(maps.shape) != tuple(images.shape):
            raise ValueError(f"{name} must have the images' shape {tuple(images.shape)}, got {tuple(maps.shape)}")
    use_style()
    h, w = images.shape[-2:]
    fig, axes = plt.subplots(3, m, figsize=(cell_inches * m * max(w / h, 1.0), cell_inches * 3), squeeze=False)
    for j in range(m):
        _show_image(axes[0, j], images[j])
        show_map(axes[1, j], reference_maps[j])
        show_map(axes[2, j], subset_maps[j])
        axes[0, j].set_title(column_titles[j], fontsize=9)
    for i, title in enumerate(row_titles):
        axes[i, 0].set_ylabel(title)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        for spine in ax.spines.values():
            spine.set_visible(False)
    fig.tight_layout()
    return fig


def figure1(models: dict, test_set, held_out: dict, *, columns: list[tuple[str, int]], reference: str = "all", seed: int = 0, device: str = "cpu"):
    """(figure, column info) of Figure 1: ``columns`` = [(subset name, number of images), ...],
    e.g. [("random80", 2), ("minus_dog", 1), ("minus_bird", 1)]; each column shows a test image
    of a class that subset's model never saw, the ``reference`` model's map and that model's map.
    ``models``: name -> (classifier, class ids); ``held_out``: name -> held-out class ids."""
    from ..evaluate.attribution_similarity import sample_class_images

    imgs, ref_maps, sub_maps, titles, info = [], [], [], [], []
    for c, (name, count) in enumerate(columns):
        x, y = sample_class_images(test_set, held_out[name], count, seed=seed + c)
        ref, _ = guided_backprop(models[reference][0], x, device=device)
        sub, pred = guided_backprop(models[name][0], x, device=device)
        seen_ids = np.asarray(models[name][1])
        for i in range(len(x)):
            label = test_set.classes[int(y[i])]
            titles.append(f"{name}\nclass {label} (unseen)")
            info.append({"column": len(info), "model": name, "class": label, "model predicts": test_set.classes[int(seen_ids[int(pred[i])])]})
        imgs.append(x)
        ref_maps.append(ref)
        sub_maps.append(sub)
    fig = figure1_grid(torch.cat(imgs), torch.cat(ref_maps), torch.cat(sub_maps), column_titles=titles)
    return fig, info
