"""The Figure 1 grid of paper 000 (section 2): images and their guided-backpropagation maps.

``figure1_grid`` lays out images (row 1), the all-classes model's maps (row 2) and the subset
models' maps (row 3), each map drawn as captum's absolute-value heat map; the maps come from
``ood_helpers.homogeneity.attribution.guided_backprop``.
"""

from __future__ import annotations

import numpy as np
import torch

from ood_helpers.homogeneity.attribution import guided_backprop, sample_class_images
from ood_helpers.core.plots.style import use_style


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
