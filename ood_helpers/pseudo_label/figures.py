"""Figures of notebook 09 (paper 003): the Fig. 1 toy (Mahalanobis ellipses vs 1-NN under noisy pseudo-labels),
the Fig. 2 retrieval grid (top-5 training neighbours of anomalies, raw vs fine-tuned features) and the
weight-averaging bars (each epoch against the average)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Ellipse
from ood_helpers.pseudo_label.toy import mahalanobis_fit



def _ellipse(ax, mean, cov, sigmas=2.0, **kw):
    vals, vecs = np.linalg.eigh(cov)
    angle = np.degrees(np.arctan2(vecs[1, -1], vecs[0, -1]))
    ax.add_patch(Ellipse(mean, 2 * sigmas * np.sqrt(vals[-1]), 2 * sigmas * np.sqrt(vals[0]), angle=angle,
                         fill=False, **kw))


def toy_figure(toy, aurocs: dict):
    """Three panels as the paper's Fig. 1: the data with true labels; the noisy pseudo-labels with the fitted
    2-sigma Mahalanobis ellipses; 1-NN lines from each anomaly to its nearest normal training point."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 4), sharex=True, sharey=True)
    colours = np.array(["tab:blue", "tab:green"])
    panels = (("normal data, true classes", toy.true_labels), ("noisy pseudo-labels + Mahalanobis", toy.noisy_labels),
              ("1-NN distance", toy.true_labels))
    for ax, (title, labels) in zip(axes, panels):
        ax.scatter(*toy.train.T, c=colours[labels], s=6, alpha=0.5)
        ax.scatter(*toy.anomalies.T, c="tab:red", s=10, marker="x", label="anomalies")
        ax.set_title(title, fontsize=10)
        ax.set_aspect("equal")
    means, prec = mahalanobis_fit(toy.train, toy.noisy_labels)
    for m in means:
        _ellipse(axes[1], m, np.linalg.inv(prec), color="k", lw=1.2)
    nearest = np.argmin(((toy.anomalies[:, None] - toy.train[None]) ** 2).sum(-1), axis=1)
    for a, j in zip(toy.anomalies, nearest):
        axes[2].plot([a[0], toy.train[j, 0]], [a[1], toy.train[j, 1]], "k--", lw=0.6)
    axes[1].set_xlabel(f"AUROC {aurocs['Mahalanobis, noisy pseudo-labels']:.1f}%")
    axes[2].set_xlabel(f"AUROC {aurocs['1-NN distance (labels unused)']:.1f}%")
    axes[0].set_xlabel(f"Mahalanobis with true labels: {aurocs['Mahalanobis, true labels']:.1f}%")
    axes[0].legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig


def retrieval_figure(train_images, queries, neighbours: dict, names=("Raw (DN2)", "FT (Ours)"), purity=None):
    """Rows = anomaly queries; for each feature space the query's top-5 training neighbours, nearest first."""
    q = len(queries)
    fig, axes = plt.subplots(q, 1 + 5 * len(names), figsize=(1.0 * (1 + 5 * len(names)), 1.1 * q + 0.4),
                             squeeze=False)
    for r in range(q):
        axes[r, 0].imshow(queries[r].permute(1, 2, 0).squeeze(-1).numpy(), cmap="gray", vmin=0, vmax=1)
        for b, name in enumerate(names):
            for j, idx in enumerate(neighbours[name][r]):
                axes[r, 1 + 5 * b + j].imshow(train_images[idx].permute(1, 2, 0).squeeze(-1).numpy(), cmap="gray",
                                              vmin=0, vmax=1)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_title("anomaly", fontsize=8)
    for b, name in enumerate(names):
        label = name if purity is None else f"{name}: top-5 purity {purity[name]:.0f}%"
        axes[0, 1 + 5 * b + 2].set_title(label, fontsize=8)
    fig.tight_layout()
    return fig


def averaging_figure(summary, anomalies=("near", "far")):
    """Bars of AUROC per fine-tuning epoch and for the averaged weights (mean +- std over trials)."""
    fig, axes = plt.subplots(1, len(anomalies), figsize=(4.5 * len(anomalies), 3.2), squeeze=False)
    for ax, name in zip(axes[0], anomalies):
        rows = summary[summary["anomaly"] == name]
        colours = ["tab:orange" if c == "average" else "tab:gray" for c in rows["column"]]
        ax.bar(rows["column"], rows["mean"], yerr=rows["std"].fillna(0), color=colours, capsize=3)
        low = float((rows["mean"] - rows["std"].fillna(0)).min())
        ax.set_ylim(max(0.0, low - 3), min(100.0, float((rows["mean"] + rows["std"].fillna(0)).max()) + 2))
        ax.set_title(f"{name} anomalies", fontsize=10)
        ax.set_ylabel("AUROC (%)")
        ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    return fig


