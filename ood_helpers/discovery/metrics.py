"""What a finished discovery stream scores. All percentages in [0, 100]; ``pred`` labels as
``rule.discover`` gives them (known class ids >= 0, created classes < 0).

- known accuracy: share of the known classes' stream images given their own class;
- new-class clustering accuracy: eq. 2 over the unseen classes' images, where only *created* classes
  can be matched to an unseen class (Hungarian, ``core.metrics.clustering``); an unseen image put into
  a known class counts as wrong: the rule has not discovered its class;
- created vs true: classes opened against the number of unseen classes in the stream;
- purity: share of the images in created classes that belong to their class's majority true class;
- split: unseen classes whose images went into more than one created class; merged: created classes
  holding images of more than one true class (known or unseen);
- missed new: % of unseen images assigned to a known class; false new: % of known images put into a
  created class (opening one or joining one);
- accuracy along the stream: per stretch of the stream, the share of images labelled right, a created
  class counting as right for the unseen class it is matched to at the end.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics.cluster import contingency_matrix

from ood_helpers.core.metrics.clustering import clustering_accuracy, matched_clusters

COLUMNS = {"known_acc": "known accuracy %", "new_acc": "new-class clustering accuracy %",
           "created": "classes created", "true_new": "true new classes", "purity": "purity %",
           "split": "split classes", "merged": "merged classes", "missed_new": "missed new %",
           "false_new": "false new %"}


def _check(labels, pred, is_known):
    labels, pred, is_known = np.asarray(labels), np.asarray(pred), np.asarray(is_known, bool)
    if not labels.shape == pred.shape == is_known.shape or labels.ndim != 1 or labels.size == 0:
        raise ValueError(f"labels, pred and is_known must be 1-D of one non-zero length, got shapes "
                         f"{labels.shape}, {pred.shape}, {is_known.shape}")
    if (labels < 0).any():
        raise ValueError("true labels must be class ids >= 0 (negative labels are the rule's created classes)")
    return labels, pred, is_known


def new_class_accuracy(labels, pred, is_known) -> float:
    """Eq. 2 over the unseen images, created classes only matchable (see the module docstring)."""
    labels, pred, is_known = _check(labels, pred, is_known)
    unseen = ~is_known
    if not unseen.any():
        return float("nan")
    found = unseen & (pred < 0)
    if not found.any():
        return 0.0
    # the matched count over the created classes, as a share of every unseen image
    return clustering_accuracy(labels[found], pred[found]) * found.sum() / unseen.sum()


def stream_metrics(labels, pred, is_known) -> dict:
    """Every per-stream number of the module docstring, as a dict keyed by :data:`COLUMNS`."""
    labels, pred, is_known = _check(labels, pred, is_known)
    unseen, created = ~is_known, pred < 0
    out = {"known_acc": 100.0 * np.mean(pred[is_known] == labels[is_known]) if is_known.any() else float("nan"),
           "new_acc": new_class_accuracy(labels, pred, is_known),
           "created": int(np.unique(pred[created]).size), "true_new": int(np.unique(labels[unseen]).size)}
    if created.any():
        table = contingency_matrix(labels[created], pred[created])  # [true classes, created classes]
        out["purity"] = 100.0 * table.max(0).sum() / created.sum()
        out["merged"] = int(((table > 0).sum(0) > 1).sum())
    else:
        out["purity"], out["merged"] = float("nan"), 0
    in_new = unseen & created
    out["split"] = int(sum(np.unique(pred[in_new & (labels == c)]).size > 1 for c in np.unique(labels[unseen])))
    out["missed_new"] = 100.0 * np.mean(pred[unseen] >= 0) if unseen.any() else float("nan")
    out["false_new"] = 100.0 * np.mean(pred[is_known] < 0) if is_known.any() else float("nan")
    return out


def correct_along(labels, pred, is_known) -> np.ndarray:
    """[T] bool: known images given their class; unseen images in the created class matched (eq. 2,
    created classes only) to their class."""
    labels, pred, is_known = _check(labels, pred, is_known)
    ok = is_known & (pred == labels)
    found = ~is_known & (pred < 0)
    if found.any():
        match = matched_clusters(labels[found], pred[found])  # created class -> true class
        ok |= found & np.array([match.get(int(p), -1) == int(y) for p, y in zip(pred, labels)])
    return ok


def accuracy_along(labels, pred, is_known, bins: int) -> list[dict]:
    """Accuracy per stretch: ``bins`` equal stretches of the stream, each with its known, new and
    overall accuracy (%, NaN where a stretch holds no image of that kind) and its end position (0-1]."""
    labels, pred, is_known = _check(labels, pred, is_known)
    ok = correct_along(labels, pred, is_known)
    edges = np.linspace(0, len(labels), bins + 1).round().astype(int)
    out = []
    for i in range(bins):
        sl = slice(edges[i], edges[i + 1])
        k, o = is_known[sl], ok[sl]
        out.append({"bin": i, "position": edges[i + 1] / len(labels),
                    "all": 100.0 * o.mean() if o.size else float("nan"),
                    "known": 100.0 * o[k].mean() if k.any() else float("nan"),
                    "new": 100.0 * o[~k].mean() if (~k).any() else float("nan")})
    return out


def criterion_value(known_acc: float, new_acc: float, criterion: str) -> float:
    """The threshold-choice criterion: "mean" or "min" of known and new-class accuracy."""
    if criterion == "mean":
        return (known_acc + new_acc) / 2
    if criterion == "min":
        return min(known_acc, new_acc)
    raise ValueError(f"criterion must be 'mean' or 'min', got {criterion!r}")
