"""Accuracy of OOD classification as table records, and Tables 1-3 beside the paper's.

A table column (:class:`Column`) is the top-k accuracy of the queries of some classes, compared
against every candidate (Table 1, Table 3) or only against those classes (Table 2). A trial's
chunks are reduced to (correct, queries) counts per method and column (:func:`count_correct`);
their sum over chunks and ranks gives the records, one dict per method, column and trial,
that ``tables.trials_table`` turns into "mean ± std" tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from ood_helpers.core.data import class_split, range_labels, test_ranges
from ood_helpers.homogeneity.episodes import columns_of
from ood_helpers.homogeneity.paper_values import (M_ALL, M_HOM, M_SEEN, PAPER_TABLE1, PAPER_TABLE2, PAPER_TABLE3, PAPER_TABLE3_COLUMN, RANGES)
from ood_helpers.core.tables import trials_table
from ood_helpers.homogeneity.settings import homogeneity_settings

if TYPE_CHECKING:
    import pandas as pd

def topk_correct(scores: torch.Tensor, true_columns, k: int) -> np.ndarray:
    """bool [Q]: whether each query's true column is among its ``k`` highest scores."""
    scores = torch.as_tensor(scores)
    true_columns = torch.as_tensor(np.asarray(true_columns), dtype=torch.long)
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k of top-k must be a positive int, got {k!r}")
    if scores.ndim != 2 or len(true_columns) != scores.shape[0]:
        raise ValueError(f"scores must be [Q, C] with one true column per query, got {tuple(scores.shape)} "
                         f"and {len(true_columns)} columns")
    if len(true_columns) and (int(true_columns.min()) < 0 or int(true_columns.max()) >= scores.shape[1]):
        raise ValueError(f"true columns must lie in [0, {scores.shape[1]}), got {true_columns.min()}..{true_columns.max()}")
    top = scores.topk(min(int(k), scores.shape[1]), dim=1).indices
    return (top == true_columns[:, None]).any(dim=1).numpy()


def topk_accuracy(scores: torch.Tensor, true_columns, k: int = 1) -> float:
    """Top-k accuracy in [0, 1]."""
    correct = topk_correct(scores, true_columns, k)
    if len(correct) == 0:
        raise ValueError("no queries to compute an accuracy over")
    return float(correct.mean())


def restrict(scores: torch.Tensor, ts, classes) -> tuple[torch.Tensor, np.ndarray]:
    """(scores [Q', C'], true columns [Q']) of the queries of ``classes`` compared only against
    ``classes`` (Q' may be 0): a sub-problem of a larger comparison, with the same supports."""
    classes = np.asarray(classes, dtype=np.int64)
    cols = columns_of(classes, ts.candidates)
    if (cols < 0).any():
        raise ValueError(f"classes {classes[cols < 0].tolist()} were not compared against (candidates: "
                         f"{np.asarray(ts.candidates).tolist()})")
    rows = np.flatnonzero(np.isin(ts.labels, classes))
    return scores[torch.as_tensor(rows)][:, torch.as_tensor(cols)], columns_of(ts.labels[rows], classes)


@dataclass(eq=False)
class Column:
    """One accuracy column of a table: top-``k`` of the queries of ``classes``, compared against
    every candidate or, when ``restricted``, against ``classes`` only. ``fields`` go into its
    records; methods in ``skip`` are not reported in it."""

    fields: dict
    classes: np.ndarray
    restricted: bool = False
    k: int = 1
    skip: tuple = ()


def count_correct(ts, columns: list) -> np.ndarray:
    """int64 [methods, columns, 2]: (correct, queries) of each method (in ``ts.scores`` order) in
    each column; summed over chunks and ranks they give the trial's accuracies."""
    methods = list(ts.scores)
    out = np.zeros((len(methods), len(columns), 2), dtype=np.int64)
    whole = {}  # (method, k) -> bool [Q] against every candidate, computed once per chunk
    for j, col in enumerate(columns):
        rows = np.flatnonzero(np.isin(ts.labels, col.classes))
        for i, m in enumerate(methods):
            if m in col.skip or len(rows) == 0:
                continue
            if col.restricted:
                correct = topk_correct(*restrict(ts.scores[m], ts, col.classes), col.k)
            else:
                if (m, col.k) not in whole:
                    whole[m, col.k] = topk_correct(ts.scores[m], ts.true_columns, col.k)
                correct = whole[m, col.k][rows]
            out[i, j] = int(correct.sum()), len(rows)
    return out


def records_from_counts(counts: np.ndarray, methods: list, columns: list, **extra) -> list[dict]:
    """One record per method and column: {"method", **column fields, **extra, "accuracy"} (a fraction)."""
    records = []
    for i, m in enumerate(methods):
        for j, col in enumerate(columns):
            if m in col.skip:
                continue
            correct, total = counts[i, j]
            if total == 0:
                raise ValueError(f"no query belongs to column {col.fields} (classes {np.asarray(col.classes).tolist()})")
            records.append({"method": m, **col.fields, **extra, "accuracy": float(correct / total)})
    return records


def table1_columns(split, labels: dict, ks=(1, 5)) -> list[Column]:
    """Table 1: top-k of the queries of each class range against every class; the seen-class
    classifier only on the seen range, as in the paper. ``labels``: range name -> shown label."""
    return [Column({"metric": f"top-{k}", "range": labels[name]}, split.range(name), k=k,
                   skip=() if name == "seen" else (M_SEEN,)) for k in ks for name in RANGES]


def test_range_labels(split, sizes) -> list[str]:
    """Paper-style labels of the growing test ranges, e.g. ["91-92", ..., "91-100"]."""
    first = len(split.seen) + len(split.val) + 1
    return [f"{first}-{first + int(n) - 1}" for n in sizes]


test_range_labels.__test__ = False  # not a pytest test, despite the name


def table2_columns(split, sizes) -> list[Column]:
    """Table 2: top-1 of the queries of the first n test classes against those n classes only."""
    return [Column({"range": label}, classes, restricted=True, skip=(M_SEEN,))
            for label, classes in zip(test_range_labels(split, sizes), test_ranges(split, sizes))]


def range_records(ts, split, labels: dict, trial: int, ks=(1, 5)) -> list[dict]:
    """Table 1 records of one trial's scores."""
    columns = table1_columns(split, labels, ks)
    return records_from_counts(count_correct(ts, columns), list(ts.scores), columns, trial=trial)


def growing_range_records(ts, split, sizes, trial: int) -> list[dict]:
    """Table 2 records of one trial's scores (the same supports as Table 1)."""
    columns = table2_columns(split, sizes)
    return records_from_counts(count_correct(ts, columns), list(ts.scores), columns, trial=trial)


# ===== Tables 1-3 beside the paper's =====


def paper_table1(profile) -> dict:
    """PAPER_TABLE1 with the paper's ranges renamed to ours ("1-800" sits beside "1-80")."""
    labels = range_labels(profile)
    return {m: {(metric, labels[r]): v for (metric, r), v in cells.items()} for m, cells in PAPER_TABLE1.items()}


def paper_table1_means(profile, methods) -> dict:
    """``{((method, metric), our range): the paper's mean}`` of Table 1 for ``methods``: the leading
    number of each "mean ± std" cell (the pretraining table shows the paper's means only)."""
    return {((m, metric), col): float(v.split(" ± ")[0])
            for m, cells in paper_table1(profile).items() if m in methods for (metric, col), v in cells.items()}


def pretrain_table(records, profile):
    """Notebook 02: top-1 and top-5 test accuracy (%) of the seen- and all-class ResNet-18s per class range
    (``training.classifier_accuracy`` records), the paper's Table 1 means beside; ranges in Table 1's order."""
    names = {"all": M_ALL, "seen": M_SEEN}
    long = [
        {"network": names[r["network"]], "metric": metric, "range": r["range"], "accuracy": r[key], "trial": r["trial"]}
        for r in records for metric, key in (("top-1", "top1"), ("top-5", "top5"))
    ]
    labels = range_labels(profile)
    order = [labels[k] for k in RANGES]
    long.sort(key=lambda r: order.index(r["range"]))
    paper = paper_table1_means(profile, (M_ALL, M_SEEN))
    return trials_table(long, index=["network", "metric"], columns="range", value="accuracy", paper=paper)


def paper_table2(split, sizes) -> dict:
    """PAPER_TABLE2 keyed by our growing ranges, matched by position (ours i-th = paper's i-th)."""
    ours = test_range_labels(split, sizes)
    return {m: dict(zip(ours, vals)) for m, vals in PAPER_TABLE2.items()}


def paper_table3(datasets) -> dict:
    """PAPER_TABLE3 keyed by our dataset names (only those standing for a paper column)."""
    return {m: {d: cells[PAPER_TABLE3_COLUMN[d]] for d in datasets if d in PAPER_TABLE3_COLUMN}
            for m, cells in PAPER_TABLE3.items()}


def ordering_agreement(summary, column_keys, focus: str = M_HOM) -> "pd.DataFrame":
    """Per table column: how our ordering of the methods compares with the paper's.

    ``summary``: the numeric summary of ``tables.trials_table`` (``table.attrs["summary"]``:
    a "method" column, ``column_keys``, "mean" and "paper"); methods without a paper value are
    left out. Columns of the result: Kendall's tau between the two orderings, the number of
    method pairs in the paper's order, the best method of each, and the rank of ``focus``.
    """
    import pandas as pd
    from scipy.stats import kendalltau, rankdata

    column_keys = [column_keys] if isinstance(column_keys, str) else list(column_keys)
    rows = []
    for key, group in summary.dropna(subset=["paper"]).groupby(column_keys, sort=False):
        if len(group) < 2:
            continue
        ours, paper = group["mean"].to_numpy(), group["paper"].to_numpy()
        methods = group["method"].tolist()
        pairs = [(i, j) for i in range(len(methods)) for j in range(i + 1, len(methods))]
        same = sum(np.sign(ours[i] - ours[j]) == np.sign(paper[i] - paper[j]) for i, j in pairs)
        rank_ours, rank_paper = rankdata(-ours, method="min"), rankdata(-paper, method="min")
        at = methods.index(focus) if focus in methods else None
        key = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip(column_keys, key)),
                     "kendall_tau": float(kendalltau(ours, paper).statistic),
                     "pairs in the paper's order": f"{same} of {len(pairs)}",
                     "best (ours)": methods[int(np.argmax(ours))],
                     "best (paper)": methods[int(np.argmax(paper))],
                     f"rank of {focus} (ours / paper)": "–" if at is None else f"{int(rank_ours[at])} / {int(rank_paper[at])}"})
    return pd.DataFrame(rows)


def describe_agreement(agreement, column_keys, focus: str = M_HOM) -> str:
    """Markdown sentences (one bullet per column) saying where our ordering of the methods
    agrees with the paper's: from :func:`ordering_agreement`'s result."""
    column_keys = [column_keys] if isinstance(column_keys, str) else list(column_keys)
    rank_col, pairs_col = f"rank of {focus} (ours / paper)", "pairs in the paper's order"
    lines = []
    for row in agreement.to_dict("records"):
        where = " ".join(str(row[k]) for k in column_keys)
        agree = "agrees with" if row["best (ours)"] == row["best (paper)"] else "differs from"
        lines.append(
            f"- **{where}**: {row[pairs_col]} method pairs are in the paper's order "
            f"(Kendall's tau {row['kendall_tau']:.2f}); our best method, {row['best (ours)']}, {agree} the paper's "
            f"({row['best (paper)']}); {focus} ranks {row[rank_col]} (ours / paper)."
        )
    return "\n".join(lines) if lines else "- no column has paper values to compare with."


def table1(result, profile):
    """Table 1 (top-1 and top-5 per class range, %, mean ± std) with the paper's values beside."""
    return trials_table(result.table1, "method", ["metric", "range"], "accuracy", paper=paper_table1(profile), scale=100)


def table2(result, profile):
    """Table 2 (top-1 on the growing test ranges, %) with the paper's i-th range beside our i-th."""
    paper = paper_table2(class_split(profile), homogeneity_settings(profile).eval_ranges)
    return trials_table(result.table2, "method", "range", "accuracy", paper=paper, scale=100)


def table3(records: list, profile):
    """Table 3 (top-1 on datasets never trained on, %) with the paper's column beside ours."""
    datasets = list(dict.fromkeys(r["dataset"] for r in records))
    return trials_table(records, "method", "dataset", "accuracy", paper=paper_table3(datasets), scale=100)
