"""Confusion matrices: rows = true class, columns = predicted class."""

from __future__ import annotations

import numpy as np
from ood_helpers.core.plots.style import use_style


def confusion_figure(y_true, y_pred, labels, *, names=None, normalize: str | None = "true",
                     title: str = "", ax=None):
    """A seaborn heatmap of sklearn's confusion matrix; returns the matplotlib Figure.

    ``labels``: the class ids in display order (every one gets a row and a column);
    ``names``: their tick labels (default the ids); ``normalize``: "true" shows each row as
    fractions of that class's queries (sklearn's convention), None shows counts.
    """
    import matplotlib.pyplot as plt
    import seaborn as sns
    from sklearn.metrics import confusion_matrix

    labels = np.asarray(labels)
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if len(y_true) != len(y_pred) or len(y_true) == 0:
        raise ValueError(f"y_true and y_pred must be non-empty and of equal length, got {len(y_true)} and {len(y_pred)}")
    stray = np.setdiff1d(np.concatenate([y_true, y_pred]), labels)
    if len(stray):
        raise ValueError(f"classes {stray.tolist()} occur in y_true / y_pred but not in labels {labels.tolist()}")
    if normalize not in ("true", None):
        raise ValueError(f"normalize must be 'true' or None, got {normalize!r}")
    names = [str(c) for c in labels] if names is None else list(names)
    if len(names) != len(labels):
        raise ValueError(f"{len(names)} names for {len(labels)} labels")
    matrix = confusion_matrix(y_true, y_pred, labels=labels, normalize=normalize)
    use_style()
    if ax is None:
        side = 2.5 + 0.35 * len(labels)
        fig, ax = plt.subplots(figsize=(side + 1.2, side))
    else:
        fig = ax.figure
    sns.heatmap(matrix, ax=ax, cmap="Blues", square=True, vmin=0, vmax=1 if normalize else None,
                annot=len(labels) <= 12, fmt=".2f" if normalize else "d", xticklabels=names, yticklabels=names,
                cbar_kws={"label": "fraction of the class's queries" if normalize else "queries"})
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if title:
        ax.set_title(title)
    return fig
