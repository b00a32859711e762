"""Our numbers beside the paper's, cell by cell, and how well the methods' order agrees with the paper's.

Ordering agreement over methods with a value of ours and of the paper's in the same column:
the share of method pairs (the paper's ties left out) that we order as the paper does, and
Kendall's tau (``scipy.stats.kendalltau``, tau-b) between our values and the paper's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd
from scipy.stats import kendalltau

from ood_helpers.report.registry import TableSpec
from ood_helpers.report.sources import Missing, Sources, key_columns


@dataclass(frozen=True)
class Ordering:
    """Agreement of our order with the paper's: ``agree`` of ``pairs`` method pairs, Kendall ``tau``
    (NaN with fewer than two methods or no variation), over ``columns`` columns."""

    agree: int
    pairs: int
    tau: float
    columns: int

    @property
    def share(self) -> float:
        return self.agree / self.pairs if self.pairs else math.nan

    def __str__(self) -> str:
        if not self.pairs:
            return "–"
        tau = "–" if math.isnan(self.tau) else f"{self.tau:+.2f}"
        return f"{self.agree}/{self.pairs} pairs in the paper's order, Kendall tau {tau}"


def ordering(ours, paper) -> Ordering:
    """Pair agreement and Kendall tau of two equally long value sequences (one column of methods)."""
    ours, paper = np.asarray(ours, dtype=float), np.asarray(paper, dtype=float)
    if ours.shape != paper.shape or ours.ndim != 1:
        raise ValueError(f"ours and paper must be 1-d and equally long, got shapes {ours.shape} and {paper.shape}")
    keep = np.isfinite(ours) & np.isfinite(paper)
    ours, paper = ours[keep], paper[keep]
    agree = pairs = 0
    for i, j in combinations(range(len(ours)), 2):
        sign_paper = np.sign(paper[i] - paper[j])
        if sign_paper == 0:
            continue
        pairs += 1
        agree += int(np.sign(ours[i] - ours[j]) == sign_paper)
    tau = math.nan
    if len(ours) >= 2 and np.ptp(ours) > 0 and np.ptp(paper) > 0:
        tau = float(kendalltau(ours, paper).statistic)
    return Ordering(agree, pairs, tau, 1 if len(ours) >= 2 else 0)


def pooled(orderings) -> Ordering:
    """Pairs summed over columns; tau averaged over the columns where it is defined."""
    orderings = list(orderings)
    taus = [o.tau for o in orderings if not math.isnan(o.tau)]
    return Ordering(sum(o.agree for o in orderings), sum(o.pairs for o in orderings),
                    float(np.mean(taus)) if taus else math.nan, sum(o.columns for o in orderings))


def comparison(spec: TableSpec, src: Sources):
    """The summary of ``spec`` with the paper's value (from ``paper_map``), the difference ours - paper and
    the comparability marks; a :class:`Missing` when the notebook did not write it."""
    if not spec.summary:
        raise ValueError(f"table {spec.name!r} has no numeric summary; show it as written (Sources.table)")
    summary = src.summary(spec.name)
    if isinstance(summary, Missing):
        return summary
    keys = key_columns(summary)
    out = summary[keys + ["mean", "std", "n"]].copy()
    out["models"] = summary["models"] if "models" in summary.columns else 1  # older summaries: one trained model
    out["paper"] = spec.paper_of(summary) if spec.paper_of is not None else math.nan
    out["paper"] = pd.to_numeric(out["paper"], errors="coerce")
    out["diff"] = out["mean"] - out["paper"]
    out.attrs["keys"] = keys
    out.attrs["marks"] = spec.comparability(src.profile)
    return out


def table_ordering(spec: TableSpec, frame: pd.DataFrame) -> Ordering:
    """Ordering agreement of a comparison frame: one column per value of the keys other than ``spec.method``."""
    if spec.method is None or spec.method not in frame.columns:
        return Ordering(0, 0, math.nan, 0)
    group_keys = [k for k in frame.attrs.get("keys", []) if k != spec.method]
    groups = frame.groupby(group_keys, sort=False, dropna=False) if group_keys else [((), frame)]
    return pooled(ordering(g["mean"], g["paper"]) for _, g in groups)


def cell_text(mean: float, std: float, digits: int = 2) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "–"
    if std is None or math.isnan(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _n_text(n, models) -> str:
    """"5" (trials of one trained model) or "3 models x 5" (trained models x evaluation trials each)."""
    n, models = int(n), int(models) if pd.notna(models) else 1
    return str(n) if models <= 1 else f"{models} models x {n // models}"


def display(frame: pd.DataFrame, digits: int | None = None) -> pd.DataFrame:
    """A comparison frame as text for a reader: keys, "ours" (mean ± std), n (with the trained models where
    several), paper, ours - paper.
    ``digits`` defaults to 3 for fractions (every |value| <= 1), else 2."""
    keys = frame.attrs.get("keys", [])
    if digits is None:
        values = pd.concat([frame["mean"], frame["paper"]]).abs()
        digits = 3 if values.max(skipna=True) <= 1.0 else 2
    fmt = lambda v: "–" if pd.isna(v) else f"{v:.{digits}f}"  # noqa: E731
    return pd.DataFrame({
        **{k: frame[k].astype(str) for k in keys},
        "ours": [cell_text(m, s, digits) for m, s in zip(frame["mean"], frame["std"])],
        "n": [_n_text(n, m) for n, m in zip(frame["n"], frame.get("models", pd.Series(1, index=frame.index)))],
        "paper": frame["paper"].map(fmt),
        "ours − paper": frame["diff"].map(lambda v: "–" if pd.isna(v) else f"{v:+.{digits}f}"),
    })
