"""Results over trials: mean ± std, with the paper's number beside ours.

Every results notebook collects *long records*, one dict per (method, column, trial),
e.g. ``{"method": "homogeneity", "classes": 10, "trial": 0, "accuracy": 0.93}``, and turns
them into a table with :func:`trials_table`. The returned table shows ``"mean ± std"``
strings; its numeric summary (mean, std, n, paper per cell) rides along in
``table.attrs["summary"]`` and is what ``artifacts.save_table`` writes as ``<name>_summary.csv``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from ood_helpers.core import artifacts, paths

PAPER_SUFFIX = " (paper)"
MISSING = "–"


def mean_std(values) -> tuple[float, float]:
    """(mean, sample standard deviation with ddof=1) of ``values``; std is NaN for one value."""
    arr = np.asarray(list(values) if not hasattr(values, "__array__") else values, dtype=float).ravel()
    if arr.size == 0:
        raise ValueError("mean_std needs at least one value, got an empty sequence")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ValueError(f"mean_std got non-finite values {arr[bad].tolist()} at positions {bad.tolist()}")
    std = float(np.std(arr, ddof=1)) if arr.size > 1 else float("nan")
    return float(np.mean(arr)), std


def format_mean_std(mean: float, std: float, digits: int = 2) -> str:
    """``"12.34 ± 0.56"``; just ``"12.34"`` when std is NaN (a single trial)."""
    if digits < 0:
        raise ValueError(f"digits must be >= 0, got {digits}")
    if std is None or (isinstance(std, float) and math.isnan(std)):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _as_list(keys: str | Sequence[str], what: str) -> list[str]:
    keys = [keys] if isinstance(keys, str) else list(keys)
    if not keys or not all(isinstance(k, str) for k in keys):
        raise ValueError(f"{what} must be a column name or a list of column names, got {keys!r}")
    return keys


def _label(key: Any) -> Any:
    return key[0] if isinstance(key, tuple) and len(key) == 1 else key


def _column_label(key: Any) -> str:
    return " / ".join(map(str, key)) if isinstance(key, tuple) else str(key)


def _paper_lookup(paper: Any) -> dict:
    """``{(row, column): value}`` from a nested dict, a (row, column)-keyed dict or a DataFrame."""
    if paper is None:
        return {}
    if isinstance(paper, pd.DataFrame):
        return {(r, c): v for r, row in paper.iterrows() for c, v in row.items() if not pd.isna(v)}
    if not isinstance(paper, Mapping):
        raise TypeError(
            "paper must be None, a DataFrame, {row: {column: value}} or {(row, column): value}, "
            f"got {type(paper).__name__}"
        )
    out = {}
    for key, val in paper.items():
        if isinstance(val, Mapping):
            out.update({(key, col): v for col, v in val.items()})
        elif isinstance(key, tuple) and len(key) == 2:
            out[key] = val
        else:
            raise ValueError(
                f"paper entry {key!r}: {val!r} is neither {{row: {{column: value}}}} nor {{(row, column): value}}"
            )
    return out


def _paper_get(lookup: dict, row: Any, col: Any) -> Any:
    """The paper's value of a cell, its column named by key (``("svhn", "auroc")``) or label ("svhn / auroc")."""
    if (row, col) in lookup:
        return lookup[(row, col)]
    return lookup.get((row, _column_label(col)))


def records_frame(records, required: Sequence[str]) -> pd.DataFrame:
    """``records`` (a DataFrame or a list of dicts) as a DataFrame holding the ``required`` columns."""
    df = records.copy() if isinstance(records, pd.DataFrame) else pd.DataFrame(list(records))
    if df.empty:
        raise ValueError("no records: expected one dict per (method, column, trial) with the value to average")
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(f"records lack the column(s) {missing}; they have {list(df.columns)}")
    return df


def summarize_trials(records, index, columns, value: str, *, paper=None, scale: float = 1.0) -> pd.DataFrame:
    """Long numeric summary, one row per (index, columns) cell in order of first appearance:
    the key columns, then ``mean``, ``std`` (ddof=1, NaN for one trial), ``n`` (values), ``models`` (trained
    models among them: records with a ``model`` key, the training replicate, pool N models x M trials; 1
    without) and ``paper`` (the paper's value as a number, NaN where it has none). ``scale`` multiplies our
    values (100 for percent)."""
    index, columns = _as_list(index, "index"), _as_list(columns, "columns")
    df = records_frame(records, index + columns + [value])
    if "model" not in df:
        df = df.assign(model=0)
    lookup = _paper_lookup(paper)
    rows = []
    for key, group in df.groupby(index + columns, sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        try:
            mean, std = mean_std(group[value].to_numpy(dtype=float) * scale)
        except ValueError as err:
            raise ValueError(f"{value!r} of cell {dict(zip(index + columns, key))}: {err}") from None
        row_key, col_key = _label(key[: len(index)]), _label(key[len(index) :])
        paper_val = _paper_number(_paper_get(lookup, row_key, col_key))
        rows.append({**dict(zip(index + columns, key)), "mean": mean, "std": std, "n": len(group),
                     "models": group["model"].nunique(), "paper": paper_val})
    return pd.DataFrame(rows)


def spread_note(summary: pd.DataFrame) -> str:
    """What a table's ± covers, from its summary: "mean ± std over 3 trained models x 5 evaluation trials"."""
    models, n = max(1, int(summary["models"].max())), int(summary["n"].max())
    trials = n // models
    if models == 1:
        return f"mean ± std over {trials} evaluation trial(s) of one trained model (training variance not covered)"
    return f"mean ± std over {models} trained models x {trials} evaluation trials"


def trials_table(
    records,
    index: str | Sequence[str],
    columns: str | Sequence[str],
    value: str,
    paper=None,
    *,
    digits: int = 2,
    scale: float = 1.0,
) -> pd.DataFrame:
    """Wide table of ``"mean ± std"`` strings: rows = ``index`` values, one column per
    ``columns`` value (order of first appearance), each followed by ``"<column> (paper)"``
    when ``paper`` is given.

    ``paper``: ``{row: {column: value}}``, ``{(row, column): value}`` or a DataFrame; numbers
    are printed with ``digits``, strings verbatim, cells the paper lacks as "–". Paper entries
    for rows/columns absent from the records are ignored, so one paper dict serves every
    profile. ``scale`` multiplies our values (e.g. 100 to show fractions as percent).
    The numeric summary (see :func:`summarize_trials`) is kept in ``table.attrs["summary"]``.
    """
    index_keys, column_keys = _as_list(index, "index"), _as_list(columns, "columns")
    summary = summarize_trials(records, index_keys, column_keys, value, paper=paper, scale=scale)
    lookup = _paper_lookup(paper)
    row_order = list(dict.fromkeys(_label(tuple(r)) for r in summary[index_keys].itertuples(index=False)))
    col_order = list(dict.fromkeys(_label(tuple(r)) for r in summary[column_keys].itertuples(index=False)))
    cells: dict[tuple, dict] = {}
    for rec in summary.to_dict("records"):
        row = _label(tuple(rec[k] for k in index_keys))
        col = _label(tuple(rec[k] for k in column_keys))
        cells[(row, col)] = rec
    out_cols = []
    for col in col_order:
        out_cols.append(_column_label(col))
        if paper is not None:
            out_cols.append(_column_label(col) + PAPER_SUFFIX)
    data = []
    for row in row_order:
        line = []
        for col in col_order:
            rec = cells.get((row, col))
            line.append(MISSING if rec is None else format_mean_std(rec["mean"], rec["std"], digits))
            if paper is not None:
                line.append(_format_paper(_paper_get(lookup, row, col), digits))
        data.append(line)
    if len(index_keys) == 1:
        row_index = pd.Index(row_order, name=index_keys[0])
    else:
        row_index = pd.MultiIndex.from_tuples(row_order, names=index_keys)
    table = pd.DataFrame(data, index=row_index, columns=out_cols)
    table.attrs["summary"] = summary
    table.attrs["spread"] = spread_note(summary)
    return table


def _paper_number(val: Any) -> float:
    """The paper's value as a float (the leading number of a string like "80.1 ± 0.3"), else NaN."""
    if val is None:
        return float("nan")
    if isinstance(val, str):
        match = re.match(r"\s*([-+]?\d+(?:\.\d*)?)", val)
        return float(match.group(1)) if match else float("nan")
    return float(val)


def _format_paper(val: Any, digits: int) -> str:
    if val is None or (isinstance(val, float) and math.isnan(val)):
        return MISSING
    if isinstance(val, str):
        return val
    return f"{float(val):.{digits}f}"


def record_seeds(records) -> list[int]:
    """The distinct ``"seed"`` values of ``records`` (dicts), sorted: the seeds a table was computed with."""
    return sorted({r["seed"] for r in records})


def save_results(records, name: str, profile, *, config: Any = None, seeds: Any = None) -> list:
    """Writes the raw per-trial ``records`` as ``figures/<profile>/<name>_trials.csv`` plus its
    JSON sidecar; returns the paths."""
    df = records_frame(records, [])
    artifacts._check_name(name, "results name")
    folder = paths.figures_dir(artifacts._profile_name(profile))
    csv = artifacts.atomic_write_text(folder / f"{name}_trials.csv", df.to_csv(index=False, lineterminator="\n"))
    return [csv, artifacts._write_sidecar(folder, f"{name}_trials", profile, config, seeds, [csv])]


def load_table(name: str, profile, which: str = "summary") -> pd.DataFrame:
    """A saved table read back: ``which`` = "summary" (numeric, from trials_table), "table"
    (as shown) or "trials" (raw records from save_results)."""
    suffix = {"summary": "_summary.csv", "table": ".csv", "trials": "_trials.csv"}
    if which not in suffix:
        raise ValueError(f"which must be one of {sorted(suffix)}, got {which!r}")
    path = artifacts.output_path(name, profile, suffix[which])
    if not path.is_file():
        raise FileNotFoundError(f"no saved {which} for table {name!r} at {path}; run the notebook that writes it first")
    return pd.read_csv(path)
