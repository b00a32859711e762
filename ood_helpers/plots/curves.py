"""Training curves: Fig. 2 of paper 000 (homogeneity validation accuracy over steps)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import seaborn as sns

from .style import use_style


def plot_overfitting_curves(histories: list[dict], ranges: dict[str, str] | None = None):
    """Fig. 2: one panel per history (a variant), validation accuracy (%) over training steps for
    the seen classes and the unseen validation classes, the best unseen-class step marked.

    Each history is ``pipeline.get_homogeneity_model``'s dict (``step``, ``val_seen_acc``,
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
