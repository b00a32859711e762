"""Sample-image grids: a few images of a dataset, each titled with its class name."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ood_helpers.core.plots.style import use_style


def pick_samples(ds, n: int, *, class_ids=None, seed: int = 0) -> np.ndarray:
    """Indices of up to ``n`` images: one random image for each of ``class_ids`` (default: the
    first ``n`` classes present), or ``n`` random images when the set has a single class."""
    if n < 1:
        raise ValueError(f"n must be a positive number of images, got {n!r}")
    rng = np.random.default_rng(seed)
    targets = ds.targets.numpy()
    present = np.unique(targets)
    if class_ids is None and len(present) == 1:
        return np.sort(rng.choice(len(ds), size=min(n, len(ds)), replace=False))
    ids = present[:n] if class_ids is None else np.asarray(class_ids)[:n]
    out = []
    for c in ids:
        members = np.flatnonzero(targets == c)
        if len(members) == 0:
            raise ValueError(f"{ds.name}: class {int(c)} has no images in this split")
        out.append(rng.choice(members))
    return np.asarray(out, dtype=np.int64)


def _show(ax, image, title: str) -> None:
    img = image.numpy()
    if img.shape[0] == 1:
        ax.imshow(img[0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    else:
        ax.imshow(img.transpose(1, 2, 0), interpolation="nearest")
    ax.set_title(title, fontsize=8, pad=2)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)


def _figure(nrows: int, ncols: int, aspect: float):
    cell = 1.1
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * cell * max(aspect, 0.5), nrows * (cell + 0.25)), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    return fig, axes


def sample_grid(ds, n: int = 16, *, ncols: int = 8, class_ids=None, seed: int = 0, title: str | None = None):
    """A Figure of up to ``n`` images of ``ds`` (see ``pick_samples``), titled by class name."""
    use_style()
    idx = pick_samples(ds, n, class_ids=class_ids, seed=seed)
    ncols = min(ncols, len(idx))
    nrows = -(-len(idx) // ncols)
    images = [ds[int(i)][0].mul(255).round().byte() for i in idx]
    c, h, w = images[0].shape
    fig, axes = _figure(nrows, ncols, w / h)
    for ax, i, img in zip(axes.ravel(), idx, images):
        ax.axis("on")
        _show(ax, img, ds.classes[int(ds.targets[int(i)])])
    fig.suptitle(title or f"{ds.name}: {len(idx)} samples", fontsize=10)
    fig.tight_layout()
    return fig


def split_grid(ds, split, per_range: int = 8, *, seed: int = 0, title: str | None = None):
    """A Figure with one row per class range (seen / val / test classes of a ``ClassSplit``),
    ``per_range`` classes a row in shuffled order, one image each, titled by class name."""
    use_style()
    rows = [("seen", split.seen), ("val", split.val), ("test", split.test)]
    ncols = min(per_range, max(len(ids) for _, ids in rows))
    first = ds[0][0]
    fig, axes = _figure(len(rows), ncols, first.shape[2] / first.shape[1])
    for r, (label, ids) in enumerate(rows):
        idx = pick_samples(ds, ncols, class_ids=ids, seed=seed + r)
        for c, i in enumerate(idx):
            ax = axes[r, c]
            ax.axis("on")
            _show(ax, ds[int(i)][0].mul(255).round().byte(), ds.classes[int(ds.targets[int(i)])])
            if c == 0:
                ax.set_ylabel(f"{label}\nclasses", fontsize=9)
    fig.suptitle(title or f"{ds.name}: seen, validation and test classes", fontsize=10)
    fig.tight_layout()
    return fig


def sample_grids(sets: dict, names, n: int, *, seed: int = 0, prefix: str = "data_samples_") -> dict:
    """``{prefix + name: sample_grid(test split of name)}`` for each of ``names``, in order: ``n`` images a
    row (``sets`` is keyed by ``(name, split)``, as ``data.summary.load_profile_datasets`` returns it)."""
    return {f"{prefix}{name}": sample_grid(sets[(name, "test")], n, ncols=n, seed=seed) for name in names}
