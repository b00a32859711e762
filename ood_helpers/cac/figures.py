"""Figures 1-5 of paper 004 (analogues on the stand-ins where the profile has no TinyImageNet / CIFAR-10)."""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import numpy as np

from ood_helpers.core.metrics.ood import accept_threshold
from ood_helpers.cac.toy import ToyResult, grid_scores, logits
from ood_helpers.cac.scoring import cac_scores


def fig1_toy(result: ToyResult, extent: float = 3.0, n: int = 150):
    """(a) the data; (b) CE: input plane by MSP confidence and the logit space; (c) CAC: input and logit
    planes by the rejection score with the rejected region (s > theta) grey, anchors marked."""
    g = np.linspace(-extent, extent, n)
    gx, gy = np.meshgrid(g, g)
    grid = np.c_[gx.ravel(), gy.ravel()]
    fig, axes = plt.subplots(1, 5, figsize=(20, 4))
    cols = np.array(["tab:blue", "tab:orange"])
    axes[0].scatter(*result.x.T, c=cols[result.y], s=6)
    axes[0].set_title("(a) training data (input space)")
    s_ce, p_ce = grid_scores(result, "ce", grid)
    axes[1].contourf(gx, gy, (-s_ce).reshape(gx.shape), levels=20, cmap="viridis")
    axes[1].contour(gx, gy, s_ce.reshape(gx.shape), levels=[result.theta["ce"]], colors="red")
    axes[1].scatter(*result.x.T, c=cols[result.y], s=4)
    axes[1].set_title("(b) CE: max softmax, input space\n(red: theta accepting 95 % of train)")
    z = logits(result, "ce", result.x)
    axes[2].scatter(*z.T, c=cols[result.y], s=6)
    axes[2].set_title("(b) CE: training points\nin logit space")
    s_cac, _ = grid_scores(result, "cac", grid)
    axes[3].contourf(gx, gy, (s_cac > result.theta["cac"]).reshape(gx.shape), levels=[0.5, 1.5], colors="grey", alpha=0.6)
    axes[3].scatter(*result.x.T, c=cols[result.y], s=4)
    axes[3].set_title("(c) CAC: input space,\nrejected (s_min > theta) grey")
    zc = logits(result, "cac", result.x)
    lo, hi = min(zc.min(), -2) - 2, max(zc.max(), 12) + 2
    lg = np.linspace(lo, hi, n)
    lx, ly = np.meshgrid(lg, lg)

    s_logit = cac_scores(np.c_[lx.ravel(), ly.ravel()], result.centres)[0]
    axes[4].contourf(lx, ly, (s_logit > result.theta["cac"]).reshape(lx.shape), levels=[0.5, 1.5], colors="grey", alpha=0.6)
    axes[4].scatter(*zc.T, c=cols[result.y], s=6)
    c = result.centres.numpy()
    axes[4].scatter(*c.T, marker="*", s=250, c="black", label="recomputed anchors")
    axes[4].legend(loc="lower left")
    axes[4].set_title("(c) CAC: logit space,\nrejected region grey")
    for ax in axes:
        ax.set_aspect("equal")
    return fig


def fig2_sweep(records: list[dict]):
    """Accuracy and AUROC against lambda (at alpha 10) and alpha (at lambda 0.1), log x."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    for ax, param, sym in zip(axes, ("lambda", "alpha"), ("λ (anchor-term weight)", "α (anchor magnitude)")):
        rows = sorted((r for r in records if r["swept"] == param), key=lambda r: r["value"])
        x = [r["value"] for r in rows]
        for metric in ("accuracy", "auroc"):
            ax.plot(x, [r[metric] for r in rows], marker="o", label=metric)
        ax.set_xscale("log")
        ax.set_xticks(x, [f"{v:g}" for v in x])
        ax.minorticks_off()
        ax.set_xlabel(sym)
    axes[0].legend()
    return fig


def fig3_ablation(records: list[dict], order: list[str]):
    """Bars: mean over trials, error bars: std; (a) accuracy, (b) AUROC."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, metric in zip(axes, ("accuracy", "auroc")):
        vals = [[r[metric] for r in records if r["method"] == m] for m in order]
        means, stds = [np.mean(v) for v in vals], [np.std(v, ddof=1) if len(v) > 1 else 0 for v in vals]
        ax.bar(range(len(order)), means, yerr=stds, capsize=4, color=[f"C{i}" for i in range(len(order))])
        ax.set_xticks(range(len(order)), [textwrap.fill(m, 14) for m in order], fontsize=7)
        low = min(m - s for m, s in zip(means, stds))
        ax.set_ylim(max(0, low - 0.05), 1.0)
        ax.set_title(f"({'ab'[metric == 'auroc']}) {metric}")
    return fig


def unknown_confusion(outcomes, keep: float = 0.95, num_classes: int = 10, accepted_only: bool = True):
    """[num_classes, num_classes] counts, rows = true unknown class, columns = known class assigned (argmin s),
    over the outcomes (trials); with ``accepted_only`` only unknowns with s_min <= theta, theta accepting ``keep``
    of that trial's known test images. Returns (counts, co-occurrence mask, thetas)."""
    counts = np.zeros((num_classes, num_classes))
    seen = np.zeros((num_classes, num_classes), dtype=bool)
    thetas = []
    for o in outcomes:
        known, unknown = np.asarray(o.data.split.known), np.asarray(o.data.split.unknown)
        seen[np.ix_(unknown, known)] = True
        theta = accept_threshold(o.s_known, keep)
        thetas.append(theta)
        take = o.s_unknown <= theta if accepted_only else np.ones(len(o.s_unknown), dtype=bool)
        np.add.at(counts, (o.data.y_unknown.numpy()[take], known[o.pred_unknown[take]]), 1)
    return counts, seen, thetas


def run_class_names(outcomes) -> list[str]:
    """Class id -> name over the known and unknown classes of every trial of ``outcomes`` (the id itself where
    no trial names it): the labels of Figs. 4 and 5."""
    names = {}
    for o in outcomes:
        names.update({**dict(zip(o.data.split.known, o.data.names_known)), **o.data.names_unknown})
    return [names.get(i, str(i)) for i in range(max(names) + 1)]


def fig4_confusion(outcomes, class_names: list[str], keep: float = 0.95):
    """Row-normalised unknown -> known confusion of falsely accepted unknowns, and of all unknowns."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    for ax, accepted in zip(axes, (True, False)):
        counts, seen, thetas = unknown_confusion(outcomes, keep, len(class_names), accepted)
        pct = np.where(seen, 100 * counts / np.maximum(counts.sum(1, keepdims=True), 1), np.nan)
        im = ax.imshow(pct, cmap="Blues", vmin=0, vmax=100)
        for i, j in zip(*np.nonzero(seen)):
            ax.text(j, i, f"{pct[i, j]:.0f}", ha="center", va="center", fontsize=7)
        ax.set_xticks(range(len(class_names)), class_names, rotation=90)
        ax.set_yticks(range(len(class_names)), class_names)
        ax.set_xlabel("known class assigned (argmin s)")
        ax.set_ylabel("true unknown class")
        what = (f"accepted unknowns (s_min <= theta; theta accepts {keep:.0%} of known test images, "
                f"per trial: {', '.join(f'{t:.3g}' for t in thetas)})" if accepted else "every unknown (threshold-free)")
        ax.set_title(f"{what}\n{int(counts.sum())} images over {len(outcomes)} trial(s); % of row", fontsize=8)
        ax.grid(False)
    fig.colorbar(im, ax=axes, shrink=0.7)
    return fig


def extreme_unknowns(outcome, n: int = 6):
    """Indices of the ``n`` unknown test images with the highest s_min and of the ``n`` with the lowest."""
    order = np.argsort(outcome.s_unknown, kind="stable")
    return order[::-1][:n], order[:n]


def fig5_extremes(outcome, class_names: list[str], n: int = 6):
    """The most confidently rejected (top) and least (bottom) unknowns: true class, predicted class, score."""
    hi, lo = extreme_unknowns(outcome, n)
    fig, axes = plt.subplots(2, n, figsize=(1.9 * n, 4.6))
    known = np.asarray(outcome.data.split.known)
    for row, (idx, title) in enumerate(((hi, "(a) rejected: highest s_min"), (lo, "(b) accepted: lowest s_min"))):
        for ax, i in zip(axes[row], idx):
            img = outcome.data.x_unknown[i].permute(1, 2, 0).numpy().squeeze()
            ax.imshow(img, cmap="gray" if img.ndim == 2 else None)
            ax.set_title(f"{class_names[int(outcome.data.y_unknown[i])]} -> "
                         f"{class_names[int(known[outcome.pred_unknown[i]])]}\ns = {outcome.s_unknown[i]:.3g}", fontsize=8)
            ax.axis("off")
        axes[row][0].text(-0.15, 0.5, title.replace(": ", ":\n"), transform=axes[row][0].transAxes, rotation=90,
                          va="center", ha="right", fontsize=9)
    return fig
