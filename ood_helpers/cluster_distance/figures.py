"""Figures of notebook 08: the AUROC heat map per (ID set, architecture) with winners marked, and the
t-SNE scatter of the separation diagnostic (claim C1)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.patches import Rectangle

from ood_helpers.core.plots.style import use_style
from ood_helpers.core.plots.embedding import embed_2d
from ood_helpers.cluster_distance.datasets import STAND_INS

SCATTER_TRAININGS = ("CE", "SupCon", "SimCLR")  # the panels of the separation t-SNE, in order


def auroc_heatmap(means: pd.DataFrame, *, title: str):
    """One panel per OOD set: rows = training x clustering, columns = distance, cells = mean AUROC (%) over
    trials (``report.trial_means`` of one ID set and architecture). The best cell of each column is
    outlined in black, the panel's overall winner in red; diagnostic rows (SimCLR clustered with labels)
    are marked with a dagger and never win. Mahalanobis has no value for kNN (S4): blank."""
    use_style()
    oods = list(dict.fromkeys(means["ood_set"]))
    rows = list(dict.fromkeys(zip(means["training"], means["clustering"])))
    cols = list(dict.fromkeys(means["distance"]))
    diag = {(t, c) for t, c, d in zip(means["training"], means["clustering"], means["diagnostic"]) if d}
    fig, axes = plt.subplots(1, len(oods), figsize=(3.0 + 1.0 * len(cols) * len(oods), 1.2 + 0.24 * len(rows)),
                             squeeze=False)
    for ax, ood in zip(axes[0], oods):
        part = means[means["ood_set"] == ood]
        grid = part.pivot_table(index=["training", "clustering"], columns="distance", values="mean").reindex(
            index=pd.MultiIndex.from_tuples(rows), columns=cols)
        labels = [f"{t} | {c}" + (" †" if (t, c) in diag else "") for t, c in rows]
        sns.heatmap(grid.to_numpy(), ax=ax, annot=True, fmt=".1f", cmap="viridis", vmin=np.nanmin(means["mean"]),
                    vmax=100, cbar=ax is axes[0][-1], annot_kws={"fontsize": 7}, xticklabels=cols, yticklabels=labels)
        if ax is not axes[0][0]:
            ax.set_yticklabels([])
        masked = grid.copy()
        masked.loc[[r in diag for r in rows], :] = np.nan
        for j, col in enumerate(cols):
            if masked[col].notna().any():
                i = int(np.nanargmax(masked[col].to_numpy()))
                ax.add_patch(Rectangle((j, i), 1, 1, fill=False, edgecolor="black", lw=1.2))
        if masked.notna().any().any():
            i, j = np.unravel_index(np.nanargmax(masked.to_numpy()), masked.shape)
            ax.add_patch(Rectangle((j, i), 1, 1, fill=False, edgecolor="red", lw=2.5))
        ax.set_title(ood, fontsize=9)
        ax.set_xlabel("distance")
        ax.set_ylabel("")
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
        ax.tick_params(axis="y", labelsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def separation_scatter(panels: dict, *, title: str, seed: int = 0, max_points: int = 2000):
    """One t-SNE panel per training method: ID test embeddings coloured by class, near-OOD in grey.
    ``panels``: name -> (ID embeddings, ID labels, OOD embeddings, OOD name, silhouette or None)."""
    use_style()
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.6), squeeze=False)
    rng = np.random.default_rng(seed)
    for ax, (name, (x, y, ood, ood_name, sil)) in zip(axes[0], panels.items()):
        n_ood = min(len(ood), max_points // 4)
        n_id = min(len(x), max_points - n_ood)
        ii = np.sort(rng.choice(len(x), n_id, replace=False))
        oo = np.sort(rng.choice(len(ood), n_ood, replace=False))
        xy = embed_2d(np.concatenate([x[ii], ood[oo]]), "tsne", seed=seed)
        ax.scatter(xy[n_id:, 0], xy[n_id:, 1], s=4, c="0.75", label=ood_name, rasterized=True)
        classes = np.unique(y)
        palette = sns.color_palette("husl" if len(classes) > 10 else "colorblind", len(classes))
        colours = np.array(palette)[np.searchsorted(classes, y[ii])]
        ax.scatter(xy[:n_id, 0], xy[:n_id, 1], s=4, c=colours, rasterized=True)
        ax.set_title(name + (f" (silhouette {sil:.2f})" if sil is not None else ""), fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.legend(loc="lower right", fontsize=7, markerscale=3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def auroc_heatmaps(means: pd.DataFrame, trials: int) -> dict:
    """``{"cg_auroc_heatmap_<id set>_<arch>": auroc_heatmap}`` for every (ID set, architecture) of ``means``
    (``report.trial_means``), in order of appearance."""
    figures = {}
    for (id_set, arch), part in means.groupby(["id_set", "arch"], sort=False):
        figures[f"cg_auroc_heatmap_{id_set}_{arch}"] = auroc_heatmap(
            part, title=f"AUROC (%) · ID = {STAND_INS[id_set]} · {arch} · mean of {trials} trial(s)")
    return figures


def separation_panels(scatter: dict, sep: pd.DataFrame, id_set: str, arch: str) -> dict:
    """The panels of :func:`separation_scatter` for one ID set and architecture: each training method of
    ``scatter`` (``grid.GridResults.scatter``, trial 0) with its trial-0 silhouette from ``sep``."""
    panels = {}
    for training in SCATTER_TRAININGS:
        if (id_set, arch, training) in scatter:
            x, y, ood, ood_name = scatter[(id_set, arch, training)]
            sil = sep[(sep.id_set == id_set) & (sep.arch == arch) & (sep.training == training) & (sep.trial == 0)]
            panels[training] = (x, y, ood, ood_name, float(sil["silhouette"].iloc[0]))
    return panels


def separation_figures(scatter: dict, sep: pd.DataFrame, id_sets, arch: str, *, seed: int, max_points: int) -> dict:
    """``{"cg_separation_tsne_<id set>_<arch>": separation_scatter}`` for each of ``id_sets`` on ``arch``."""
    return {f"cg_separation_tsne_{id_set}_{arch}": separation_scatter(
                separation_panels(scatter, sep, id_set, arch),
                title=f"t-SNE of ID test embeddings · {STAND_INS[id_set]} · {arch}", seed=seed, max_points=max_points)
            for id_set in id_sets}
