"""Figures of notebook 11 (the open-set benchmark): ROC curves of every row on one trial, overlaid, and the rows
ranked by AUROC with error bars over trials."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from sklearn.metrics import roc_curve

from ood_helpers.core.plots.style import use_style
from ood_helpers.core.metrics.ood import auroc


def roc_curves(rows, scores: dict, trial: int) -> dict:
    """``{row name: (scores of the known, of the unknown test images)}`` of every row that has a result for
    ``trial`` (``scores``: the runner's ``{(row key, trial): scores}``), in the rows' order: :func:`roc_figure`'s input."""
    return {r.name: (scores[(r.key, trial)].s_known, scores[(r.key, trial)].s_unknown)
            for r in rows if (r.key, trial) in scores}


def roc_figure(curves: dict, *, title: str = ""):
    """``curves``: {row name: (scores of known images, scores of unknown images)}, larger = more unknown;
    one ROC curve per row (unknown = positive), its AUROC in the legend, the chance diagonal dashed."""
    if not curves:
        raise ValueError("roc_figure needs the scores of at least one row")

    use_style()
    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    colors = sns.color_palette("colorblind", n_colors=len(curves))
    styles = ["-", "--", "-.", ":"]
    for i, (name, (s_known, s_unknown)) in enumerate(curves.items()):
        y = np.r_[np.zeros(len(s_known)), np.ones(len(s_unknown))]
        fpr, tpr, _ = roc_curve(y, np.r_[s_known, s_unknown])
        ax.plot(100 * fpr, 100 * tpr, styles[i // 10 % 4], color=colors[i], linewidth=1.5,
                label=f"{name} ({100 * auroc(s_known, s_unknown):.1f})")
    ax.plot([0, 100], [0, 100], color="0.6", linewidth=0.8, linestyle="--")
    ax.set_xlabel("known test images flagged unknown (FPR, %)")
    ax.set_ylabel("unknown test images flagged (TPR, %)")
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100.5)
    ax.legend(title="row (AUROC %)", loc="lower right", fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def ranked_bar_figure(records, metric: str = "auroc", *, label: str = "AUROC (%)", title: str = ""):
    """Rows sorted by mean ``metric`` (percent), bars at the mean, error bars one std over trials, each trial
    a dot; bars coloured by the paper a row comes from."""
    df = pd.DataFrame(records)
    if df.empty:
        raise ValueError("ranked_bar_figure needs the benchmark's records")
    df = df.assign(value=100 * df[metric])
    stats = df.groupby("method", sort=False)["value"].agg(["mean", "std"]).fillna(0.0)
    order = stats["mean"].sort_values(ascending=metric == "fpr95", kind="stable").index.tolist()
    papers = df.drop_duplicates("method").set_index("method")["paper"].str[:3]
    palette = dict(zip(sorted(papers.unique()), sns.color_palette("colorblind", n_colors=papers.nunique())))
    use_style()
    fig, ax = plt.subplots(figsize=(7.2, 0.42 * len(order) + 1.4))
    y = np.arange(len(order))
    ax.barh(y, stats.loc[order, "mean"], xerr=stats.loc[order, "std"], color=[palette[papers[m]] for m in order],
            alpha=0.85, capsize=3, error_kw={"linewidth": 1})
    for i, m in enumerate(order):
        vals = df.loc[df["method"] == m, "value"].to_numpy()
        ax.scatter(vals, np.full(len(vals), i), color="black", s=10, zorder=3)
    ax.set_yticks(y, order)
    ax.invert_yaxis()
    ax.set_xlabel(f"{label}: mean ± std over trials, dots = trials")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in palette.values()]
    ax.legend(handles, [f"paper {p}" for p in palette], loc="lower right", fontsize=8)
    if metric in ("auroc",):
        ax.axvline(50, color="0.6", linewidth=0.8, linestyle="--")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
