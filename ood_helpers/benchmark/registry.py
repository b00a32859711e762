"""Every row of the benchmark, in table order: notebook 06's (paper 004), 07's (002), 08's (001), 09's (003),
then class homogeneity (000). Each ``rows_<method>`` module holds its paper's rows; this one only orders them."""

from __future__ import annotations

import importlib

from ood_helpers.benchmark.rows import Row

ROW_MODULES = ("rows_cac", "rows_autoencoder", "rows_cluster_distance", "rows_pseudo_label", "rows_homogeneity")


def all_rows() -> list[Row]:
    rows = [row for name in ROW_MODULES for row in importlib.import_module(f"{__package__}.{name}").ROWS]
    keys = [r.key for r in rows]
    if len(set(keys)) != len(keys):
        raise RuntimeError(f"benchmark row keys must be unique, got {keys}")
    return rows


def select_rows(keys=()) -> list[Row]:
    """The rows named by ``keys`` (settings' ``rows``), in table order; () = every row."""
    rows = all_rows()
    if not keys:
        return rows
    known = {r.key: r for r in rows}
    unknown = [k for k in keys if k not in known]
    if unknown:
        raise ValueError(f"unknown benchmark row(s) {unknown}; known rows: {', '.join(known)}")
    return [r for r in rows if r.key in set(keys)]
