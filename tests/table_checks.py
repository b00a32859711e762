"""Assertions shared by the notebook table checks: ``tests/test_notebooks.py`` (notebooks 00-05) and one
``tests/notebook_tables_<NN>.py`` per later notebook, which defines ``NOTEBOOK`` (the notebook's stem) and
``check(profile, table)``; ``table(name)`` reads ``figures/smoke/<name>.csv`` written by this run."""

import importlib
from collections import Counter

import pandas as pd
import pytest


def _constants(names, modules):
    """The named constants from the first of ``modules`` defining all of them (method names are
    moving between modules; any home will do)."""
    for module in modules:
        try:
            found = importlib.import_module(module)
        except ImportError:
            continue
        if all(hasattr(found, n) for n in names):
            return [getattr(found, n) for n in names]
    pytest.fail(f"none of {modules} defines {names}; update the table checks of tests/test_notebooks.py")


class Tables:
    """The CSV tables one notebook run wrote, each checked to come from this run."""

    def __init__(self, folder, started_ns, notebook):
        self.folder, self.started_ns, self.notebook = folder, started_ns, notebook

    def __call__(self, name: str) -> pd.DataFrame:
        path = self.folder / f"{name}.csv"
        assert path.is_file(), f"{self.notebook}: {name}.csv was not written to {self.folder}"
        # 1 s of slack for the file system's coarse clock; an older file is a leftover, not this run's
        assert path.stat().st_mtime_ns >= self.started_ns - 10**9, f"{path} is older than the run of {self.notebook}"
        # a trials_table summary (<table>_summary.csv) shares its table's sidecar
        sidecars = [self.folder / f"{name}.json", self.folder / f"{name.removesuffix('_summary')}.json"]
        assert any(f.is_file() for f in sidecars), f"{self.notebook}: {name}.csv has no JSON sidecar"
        return pd.read_csv(path)


def one_row_each(df, keys, expected, where):
    """``df`` has exactly one row per tuple of ``expected`` in its ``keys`` columns, and no other row."""
    keys = [keys] if isinstance(keys, str) else list(keys)
    got = Counter(tuple(str(v) for v in row) for row in df[keys].itertuples(index=False))
    want = Counter(tuple(str(v) for v in (e if isinstance(e, tuple) else (e,))) for e in expected)
    missing, extra = sorted(want - got), sorted(got - want)
    assert not missing and not extra, f"{where}: rows by {keys} missing {missing}, unexpected or repeated {extra}"


def in_range(df, column, low, high, where):
    """Every value of ``column`` is a number (no NaN) within [low, high]."""
    values = pd.to_numeric(df[column], errors="coerce")
    bad = df[values.isna() | (values < low) | (values > high)]
    assert bad.empty, f"{where}: {column!r} not a number in [{low}, {high}]:\n{bad.to_string()}"


def positive_ints(df, column, where):
    values = pd.to_numeric(df[column], errors="coerce")
    ok = values.notna() & (values >= 1) & (values == values.round())
    assert ok.all(), f"{where}: {column!r} must hold positive counts:\n{df[~ok].to_string()}"


def check_summary(summary, keys, expected, trials, low, high, where):
    """A ``tables.trials_table`` summary: one row per expected key, means within [low, high], ``n`` =
    the trials behind each mean and a finite std >= 0 when there are several."""
    one_row_each(summary, keys, expected, where)
    in_range(summary, "mean", low, high, where)
    assert (summary["n"] == trials).all(), f"{where}: every mean should average {trials} trial(s):\n{summary}"
    if trials > 1:
        in_range(summary, "std", 0, high - low, where)


def check_means_of_trials(summary, trials_df, keys, value, scale, where):
    """Each summary mean equals ``scale`` x the mean of its rows in the raw per-trial records."""
    recomputed = trials_df.groupby(keys)[value].mean() * scale
    for _, row in summary.iterrows():
        key = tuple(row[k] for k in keys) if len(keys) > 1 else row[keys[0]]
        assert row["mean"] == pytest.approx(recomputed.loc[key], abs=1e-6), f"{where}: mean of {key}"
