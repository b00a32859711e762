"""Paper 000's figures: training curves (Fig. 2, homogeneity validation accuracy over steps, and its numbers)
and the embedding maps of Fig. 3."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from ood_helpers.core.plots.embedding import cluster_map_figure
from ood_helpers.core.plots.style import use_style
from ood_helpers.homogeneity.clustering import GREEDY_ROW, range_label
from ood_helpers.homogeneity.training import overfitting_summary


def plot_overfitting_curves(histories: list[dict], ranges: dict[str, str] | None = None):
    """Fig. 2: one panel per history (a variant), validation accuracy (%) over training steps for
    the seen classes and the unseen validation classes, the best unseen-class step marked.

    Each history is ``homogeneity.training.get_homogeneity_model``'s dict (``step``, ``val_seen_acc``,
    ``val_unseen_acc`` as fractions, ``best_step``, ``variant``); ``ranges`` names the class
    ranges, e.g. {"seen": "1-80", "val": "81-90"}. Returns the matplotlib Figure.
    """
    if not histories:
        raise ValueError("plot_overfitting_curves needs at least one history dict")
    ranges = ranges or {"seen": "seen", "val": "unseen"}
    use_style()
    colors = sns.color_palette()
    fig, axes = plt.subplots(1, len(histories), figsize=(4.6 * len(histories), 3.4), sharey=True, squeeze=False)
    for ax, hist in zip(axes[0], histories):
        for key, label, color in (
            ("val_seen_acc", f"seen classes ({ranges['seen']})", colors[0]),
            ("val_unseen_acc", f"unseen classes ({ranges['val']})", colors[1]),
        ):
            ax.plot(hist["step"], [100 * v for v in hist[key]], marker="o", markersize=3, color=color, label=label)
        best = hist["best_step"]
        best_acc = 100 * hist["val_unseen_acc"][hist["step"].index(best)]
        ax.axvline(best, color="0.4", linestyle="--", linewidth=1, label="best unseen-class step (checkpoint kept)")
        ax.plot([best], [best_acc], marker="*", markersize=12, color=colors[1], linestyle="none")
        ax.set_title(f"variant {hist.get('variant', '?')}: best step {best} ({best_acc:.1f}%)")
        ax.set_xlabel("training step")
    axes[0][0].set_ylabel("homogeneity validation accuracy (%)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, bbox_to_anchor=(0.5, -0.02))
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def plot_eq1_learning_curve(history: dict, *, head_sets: int, joint_sets: int, nn_reference: dict[str, float],
                            val_range: str = "unseen"):
    """Eq. 1 top-1 (%) over the validation classes against the sets seen in training, for the head
    stage on cached embeddings (when there was one) and the joint stage after it.

    ``history``: ``homogeneity.training.get_homogeneity_model``'s dict (``head_history`` and ``val_unseen_eq1``);
    ``head_sets`` / ``joint_sets``: sets a step of each stage; ``nn_reference``: label -> top-1
    (fraction) of a nearest-neighbour baseline on the same episodes, drawn as horizontal lines.
    """
    use_style()
    colors = sns.color_palette()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    head = history.get("head_history") or []
    offset = head[-1]["step"] * head_sets if head else 0
    if head:
        ax.plot([r["step"] * head_sets for r in head], [100 * r["val_unseen_eq1"] for r in head], marker="o",
                markersize=3, color=colors[2], label="Transformer alone, frozen encoder (cached embeddings)")
    ax.plot([offset + s * joint_sets for s in history["step"]], [100 * v for v in history["val_unseen_eq1"]],
            marker="o", markersize=3, color=colors[1], label="joint training through the ResNet")
    best = history["best_step"]
    ax.axvline(offset + best * joint_sets, color="0.4", linestyle="--", linewidth=1, label="checkpoint kept")
    for (label, value), style in zip(nn_reference.items(), (":", "-.", "--")):
        ax.axhline(100 * value, color="0.2", linestyle=style, linewidth=1, label=label)
    ax.set_xscale("symlog", linthresh=max(joint_sets, 1))
    ax.set_xlabel("training sets seen")
    ax.set_ylabel(f"eq. 1 top-1 on {val_range} (%)")
    ax.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    return fig


def overfitting_table(histories: list[dict]) -> pd.DataFrame:
    """The numbers behind Fig. 2 (``training.overfitting_summary``), one row per history, indexed by variant."""
    return pd.DataFrame([overfitting_summary(h) for h in histories]).set_index("variant")


def replicates_table(histories: list[dict]) -> pd.DataFrame:
    """Fig. 2's numbers of each training replicate (``trained_models.train_replicates``), indexed by model: how
    far apart independently trained models of one recipe end (best step, unseen-class accuracy at its peak)."""
    rows = [{"model": h["trial"], "seed": h["config"]["seed"], "key": h["key"], **overfitting_summary(h)} for h in histories]
    return pd.DataFrame(rows).drop(columns="variant").set_index("model")


def describe_overfitting(summary: pd.DataFrame) -> str:
    """One sentence per variant of :func:`overfitting_table`: the unseen-class curve's start, peak and end,
    the seen-class accuracy over the same steps, and whether the run shows the paper's pattern."""
    lines = []
    for variant, row in summary.iterrows():
        verdict = "shows" if row.paper_pattern else "does not show"
        lines.append(
            f"variant {variant}: unseen-class accuracy {row.unseen_start:.1f}% at step 0, peak {row.unseen_best:.1f}% "
            f"at step {row.best_step}, {row.unseen_end:.1f}% at step {row.last_step} (drop {row.unseen_drop_after_best:.1f} "
            f"points); seen classes {row.seen_at_best:.1f}% -> {row.seen_end:.1f}% over the same steps. "
            f"This run {verdict} the paper's pattern.")
    return "\n".join(lines)


def figure3_maps(inputs, predictions: dict, seed: int) -> dict:
    """Fig. 3 (appendix A.3): the fine-tuned embeddings of the first range's test samples mapped by t-SNE and
    by UMAP, coloured by true class and by the greedy clustering of the first trial (``predictions`` of
    ``clustering.clustering_trials``). ``{"fig3_tsne_clusters": Figure, "fig3_umap_clusters": Figure}``."""
    first = inputs.ranges[0]
    idx = np.flatnonzero(np.isin(inputs.labels, first))
    greedy = predictions[(GREEDY_ROW, len(first), 0)]
    figures = {}
    for method, name in (("tsne", "fig3_tsne_clusters"), ("umap", "fig3_umap_clusters")):
        figures[name] = cluster_map_figure(
            inputs.features["fine-tuned"][idx], inputs.labels[idx], greedy, method, seed=seed,
            class_names=inputs.class_names, title=f"First range ({range_label(len(first))}), greedy class-homogeneity clustering",
        )
    return figures
