"""Figures of notebook 10 (open-world discovery): accuracy along the stream, and the threshold sweep."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from ood_helpers.core.plots.style import use_style


def stream_accuracy_figure(curves, *, title: str = ""):
    """Accuracy (%) along the test streams: one column per stream order, rows known classes / new
    classes; one line per method, the mean over that order's streams, ± one std shaded.
    ``curves``: ``DiscoveryResult.curves`` (records with method, order, stream, position, known, new)."""
    df = pd.DataFrame(curves)
    if df.empty:
        raise ValueError("stream_accuracy_figure needs the curve records of at least one stream")
    use_style()
    orders = list(dict.fromkeys(df["order"]))
    methods = list(dict.fromkeys(df["method"]))
    colors = dict(zip(methods, sns.color_palette(n_colors=len(methods))))
    fig, axes = plt.subplots(2, len(orders), figsize=(4.8 * len(orders), 6.2), sharex=True, sharey=True,
                             squeeze=False)
    for col, order in enumerate(orders):
        for row, (key, what) in enumerate((("known", "known classes"), ("new", "new classes (matched)"))):
            ax = axes[row][col]
            for m in methods:
                g = df[(df.order == order) & (df.method == m)].groupby("position")[key]
                mean, std = g.mean(), g.std().fillna(0)
                ax.plot(100 * mean.index, mean.values, marker="o", markersize=3, color=colors[m], label=m)
                ax.fill_between(100 * mean.index, mean - std, mean + std, color=colors[m], alpha=0.12, linewidth=0)
            ax.set_title(f"{order} order: {what}")
            ax.set_ylim(-2, 102)
            if row == 1:
                ax.set_xlabel("stream position (% of images seen)")
            if col == 0:
                ax.set_ylabel("accuracy in that stretch (%)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(3, len(methods)), bbox_to_anchor=(0.5, -0.01))
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def threshold_sweep_figure(sweep, chosen: dict, test=None, *, criterion: str = "mean"):
    """Known accuracy against new-class clustering accuracy (%) for every threshold of the grid, mean
    over the validation streams, one line per method; the chosen threshold circled; the test streams'
    mean at that threshold as a star (``test``: ``DiscoveryResult.test``)."""
    df = pd.DataFrame(sweep)
    if df.empty:
        raise ValueError("threshold_sweep_figure needs the validation sweep records")
    use_style()
    methods = list(dict.fromkeys(df["method"]))
    colors = dict(zip(methods, sns.color_palette(n_colors=len(methods))))
    fig, ax = plt.subplots(figsize=(6.6, 5.0))
    for m in methods:
        g = df[df.method == m].groupby("threshold")[["known_acc", "new_acc"]].mean().sort_index()
        ax.plot(g["known_acc"], g["new_acc"], marker="o", markersize=3, color=colors[m], label=m)
        t = chosen[m][0] if isinstance(chosen[m], (tuple, list)) else chosen[m]
        ax.plot(g.loc[t, "known_acc"], g.loc[t, "new_acc"], marker="o", markersize=11, markerfacecolor="none",
                markeredgecolor=colors[m], linestyle="none")
        if test:
            tm = pd.DataFrame(test)
            tm = tm[tm.method == m][["known_acc", "new_acc"]].mean()
            ax.plot(tm["known_acc"], tm["new_acc"], marker="*", markersize=13, color=colors[m], linestyle="none")
    ax.plot([], [], marker="o", markerfacecolor="none", markeredgecolor="0.3", linestyle="none", markersize=11,
            label=f"chosen on validation ({criterion} criterion)")
    if test:
        ax.plot([], [], marker="*", color="0.3", linestyle="none", markersize=13,
                label="test streams at that threshold")
    ax.set_xlabel("known-class accuracy (%)")
    ax.set_ylabel("new-class clustering accuracy (%, eq. 2)")
    ax.set_xlim(-2, 102)
    ax.set_ylim(-2, 102)
    ax.set_title("Threshold sweep on the validation streams (low threshold: right, high: left)")
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    return fig
