"""The units a paired interval runs over, read from a per-trial table (``<name>_trials.csv``), and the paper's own
printed numbers as intervals.

Units: when the trials carry a ``model`` column (an integer replicate index of the trained model) with at least
2 models, the evaluation trials within each model are averaged and A and B are paired by model: the interval then
covers training variance. Otherwise A and B are paired by ``trial``: each trial is either an evaluation trial of
one trained model (paper 000's tables: ``trained_per_trial=False``, so the interval does not cover training
variance and says so) or a model trained anew for that trial (papers 002-004: ``trained_per_trial=True``).
Every interval's label prints N (models) x M (evaluation trials a model).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ood_helpers.report.paired import Interval, paired_t, unknown, welch_t

REPLICATE = "model"


def _pick(frame: pd.DataFrame, **keys) -> pd.DataFrame:
    for k, v in keys.items():
        frame = frame[frame[k].astype(str) == str(v)]
    return frame


def _is_replicate(frame: pd.DataFrame, key: str) -> bool:
    """``model`` names replicates only as integers and only when it is not the column naming the methods."""
    if REPLICATE not in frame.columns or key == REPLICATE:
        return False
    values = pd.to_numeric(frame[REPLICATE], errors="coerce")
    return bool(values.notna().all() and (values == values.round()).all())


def label(models: int, trials: int) -> str:
    """What an interval is over: N (trained models) x M (evaluation trials a model)."""
    if models == 1:
        return f"1 trained model x {trials} evaluation trials: over evaluation trials of one trained model"
    return f"over {models} trained models x {trials} evaluation trial{'s' if trials != 1 else ''} each"


def paired_interval(trials: pd.DataFrame, key: str, a: str, b: str, value: str, *, scale: float = 1.0,
                    trained_per_trial: bool = False, **select) -> Interval | None:
    """The interval of A - B (rows ``key`` == ``a`` / ``b`` among the rows matching ``select``) over paired units,
    ``value`` times ``scale``; None when either side has no row."""
    rows = _pick(trials, **select)
    x, y = rows[rows[key].astype(str) == str(a)], rows[rows[key].astype(str) == str(b)]
    if x.empty or y.empty:
        return None
    by_model = _is_replicate(rows, key) and rows[REPLICATE].nunique() >= 2
    unit = REPLICATE if by_model else "trial" if "trial" in rows.columns else None
    if unit is None:
        return unknown(scale * x[value].mean(), scale * y[value].mean(), "no trial column")
    xa, yb = x.groupby(unit)[value].mean() * scale, y.groupby(unit)[value].mean() * scale
    common = xa.index.intersection(yb.index)
    n = len(common)
    if by_model:
        text = label(n, int(x.groupby(unit).size().max()))
    else:
        text = label(n, 1) if trained_per_trial else label(1, n)
    return paired_t(xa.loc[common].to_numpy(), yb.loc[common].to_numpy(), text)


def printed(text) -> tuple[float, float]:
    """A paper cell "54.59 ± 1.15" -> (54.59, 1.15); a bare number -> (value, NaN)."""
    if text is None:
        return math.nan, math.nan
    if isinstance(text, (int, float, np.floating)):
        return float(text), math.nan
    parts = str(text).split("±")
    head = parts[0].strip().split()[0] if parts[0].strip() else "nan"
    spread = float(parts[1].strip().split()[0]) if len(parts) > 1 else math.nan
    return float(head), spread


def paper_interval(a, b, n: int) -> Interval | None:
    """The paper's own A - B as an interval: Welch's from its "mean ± std over ``n`` runs" cells, unknown where a
    side prints no spread (one value each); None when either value is absent."""
    (ma, sa), (mb, sb) = printed(a), printed(b)
    if math.isnan(ma) or math.isnan(mb):
        return None
    if math.isnan(sa) or math.isnan(sb):
        return unknown(ma, mb, "paper: one value each, no spread printed")
    return welch_t(ma, sa, n, mb, sb, n, f"paper: mean ± std over {n} runs each, Welch")
