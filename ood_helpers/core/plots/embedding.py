"""2-D maps of embeddings (t-SNE, UMAP) drawn as a pair: coloured by true class and by predicted cluster."""

from __future__ import annotations

import warnings

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
import torch
from matplotlib.ticker import MaxNLocator

from ood_helpers.core.metrics.clustering import matched_clusters
from ood_helpers.core.metrics.embedding_clustering import tsne_2020
from ood_helpers.core.plots.style import PALETTE, use_style

METHODS = ("tsne", "umap")
METHOD_NAMES = {"tsne": "t-SNE", "umap": "UMAP"}
MAX_LEGEND = 20  # more labels than this and the legend would hide the points


def embed_2d(x, method: str, *, seed: int) -> np.ndarray:
    """[N, 2] coordinates of rows of ``x`` by t-SNE (``core.metrics.embedding_clustering.tsne_2020``: the
    paper's 2020 scikit-learn defaults, perplexity min(30, N - 1)) or UMAP (n_neighbors min(15, N - 1))."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().float().numpy()
    n = len(x)
    if n < 3:
        raise ValueError(f"a 2-D map needs at least 3 samples, got {n}")
    if method == "tsne":
        return tsne_2020(x, seed=seed)  # in float64, as Table 4's t-SNE: the map depends on the dtype
    import umap

    x = np.asarray(x, dtype=np.float32).reshape(n, -1)

    # spectral initialisation needs more points than neighbours; tiny sets start at random
    init = "spectral" if n > 20 else "random"
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*n_jobs value.*")  # random_state forces one thread, as intended
        reducer = umap.UMAP(n_components=2, n_neighbors=min(15, n - 1), init=init, random_state=seed)
        return reducer.fit_transform(x)


def cluster_scatter_pair(
    coords,
    true_labels,
    pred_labels,
    *,
    method: str = "tsne",
    class_names=None,
    title: str | None = None,
):
    """Figure with two scatter plots of ``coords`` [N, 2]: left coloured by true class, right by
    predicted cluster, as in paper 000 Figure 3."""
    coords = np.asarray(coords, dtype=float)
    true_labels = np.asarray(true_labels)
    pred_labels = np.asarray(pred_labels)
    if coords.ndim != 2 or coords.shape[1] != 2:
        raise ValueError(f"coords must be [N, 2], got shape {coords.shape}")
    if not len(coords) == len(true_labels) == len(pred_labels):
        raise ValueError(
            f"coords, true_labels and pred_labels must have one row per sample, got "
            f"{len(coords)}, {len(true_labels)} and {len(pred_labels)}"
        )
    name = METHOD_NAMES.get(method, method)
    use_style()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.6), sharex=True, sharey=True)

    classes = list(dict.fromkeys(sorted(true_labels.tolist())))
    names = [str(class_names[c]) if class_names is not None else str(c) for c in classes]
    palette = sns.color_palette(PALETTE if len(classes) <= 10 else "husl", len(classes))
    for color, c, label in zip(palette, classes, names):
        pts = coords[true_labels == c]
        left.scatter(pts[:, 0], pts[:, 1], s=14, color=color, label=label, linewidths=0)
    left.set_title("Ground truth")

    # each predicted cluster takes the colour of the class it is matched to (eq. 2's matching),
    # so the two panels read side by side; unmatched clusters get triangles, singletons crosses
    colour_of = dict(zip(classes, palette))
    match = matched_clusters(true_labels, pred_labels)
    ids, counts = np.unique(pred_labels, return_counts=True)
    order = np.argsort(-counts, kind="stable")
    clusters = ids[order][counts[order] > 1]
    rank = {c: classes.index(match[c]) if c in match else len(classes) for c in clusters}
    clusters = sorted(clusters, key=lambda c: rank[c])  # legend in class order, unmatched last
    singletons = np.isin(pred_labels, ids[counts == 1])
    spare = iter(sns.color_palette("dark", 10) * (len(clusters) // 10 + 1))
    for c in clusters:
        pts = coords[pred_labels == c]
        if c in match:
            cls = match[c]
            label = f"cluster ~ {names[classes.index(cls)]}"
            right.scatter(pts[:, 0], pts[:, 1], s=14, color=colour_of[cls], label=label, linewidths=0)
        else:
            right.scatter(pts[:, 0], pts[:, 1], s=18, color=next(spare), marker="^", label="unmatched cluster",
                          linewidths=0)
    if singletons.any():
        pts = coords[singletons]
        right.scatter(pts[:, 0], pts[:, 1], s=16, color="black", marker="x", linewidths=0.8,
                      label=f"singletons ({len(pts)})")
    right.set_title(f"Prediction: {len(clusters)} clusters of 2+ samples, {int(singletons.sum())} singletons")

    for ax in (left, right):
        ax.xaxis.set_major_locator(MaxNLocator(5))
        ax.yaxis.set_major_locator(MaxNLocator(5))
        ax.set_xlabel(f"{name} 1")
        handles, labels = ax.get_legend_handles_labels()
        unique = dict(zip(labels, handles))  # one entry for all unmatched clusters
        if len(unique) <= MAX_LEGEND:
            ax.legend(unique.values(), unique.keys(), loc="center left", bbox_to_anchor=(1.0, 0.5), markerscale=1.5)
    left.set_ylabel(f"{name} 2")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def cluster_map_figure(x, true_labels, pred_labels, method: str, *, seed: int, class_names=None,
                       title: str | None = None):
    """``cluster_scatter_pair`` of the ``method`` ("tsne" | "umap") map of rows of ``x``."""
    coords = embed_2d(x, method, seed=seed)
    return cluster_scatter_pair(coords, true_labels, pred_labels, method=method, class_names=class_names,
                                title=title)
