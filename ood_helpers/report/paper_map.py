"""The paper's value of each cell of our summaries, taken from the per-paper ``paper_values`` modules.

This is the one place that maps the printed numbers to our files' rows: each function takes a
summary (``tables.trials_table``'s long frame, read from ``<name>_summary.csv``) and returns one
number per row, NaN where the paper prints none. Our rows stand for the paper's by position
(growing class ranges), by range role (seen / val / test / all) or by name, as each notebook states.
"""

from __future__ import annotations

import math
import re

import pandas as pd

from ood_helpers.cac import paper_values as CAC
from ood_helpers.embedding_ood import paper_values as EMB
from ood_helpers.homogeneity import paper_values as MAIN
from ood_helpers.pseudo_label import paper_values as PL
from ood_helpers.core.tables import _paper_number
from ood_helpers.embedding_ood.report import TABLE1_ROWS

# notebook 07's detector names (embedding_ood.experiments) -> index in the paper's (Hendrycks et al., ours) pair
EMB_DETECTORS = {"J_r, full model (ours)": 1, "H&G abnormality module (our reimplementation)": 0}


def _number(value) -> float:
    return float("nan") if value is None else _paper_number(value)


def _range_roles(labels) -> dict:
    """{"1-80": "seen", "81-90": "val", "91-100": "test", "1-100": "all"}: the role of each class range
    "a-b", from where it starts and ends among ``labels`` (the last class is the largest end)."""
    spans = {}
    for label in dict.fromkeys(map(str, labels)):
        m = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", label)
        if m:
            spans[label] = (int(m.group(1)), int(m.group(2)))
    if not spans:
        return {}
    last = max(b for _, b in spans.values())
    roles = {}
    for label, (a, b) in spans.items():
        roles[label] = "all" if a == 1 and b == last else "seen" if a == 1 else "test" if b == last else "val"
    return roles


def _by_position(values) -> dict:
    """{our label: position} in order of first appearance (growing ranges match the paper's by position)."""
    return {v: i for i, v in enumerate(dict.fromkeys(map(str, values)))}


def main_table1(s: pd.DataFrame) -> list[float]:
    roles = _range_roles(s["range"])
    return [_number(MAIN.PAPER_TABLE1.get(r.method, {}).get((r.metric, roles.get(str(r.range)))))
            for r in s.itertuples()]


def main_pretrain(s: pd.DataFrame) -> list[float]:
    roles = _range_roles(s["range"])
    return [_number(MAIN.PAPER_TABLE1.get(r.network, {}).get((r.metric, roles.get(str(r.range)))))
            for r in s.itertuples()]


def _by_range_position(s: pd.DataFrame, column: str, table: dict, value) -> list[float]:
    """Per row, ``value(table[method][i])`` where the row's ``column`` is the i-th range of the summary (the
    paper's tables list one value per growing range), NaN where the paper has none."""
    pos = _by_position(s[column])
    out = []
    for method, key in zip(s["method"], s[column]):
        vals, i = table.get(method), pos[str(key)]
        out.append(value(vals[i]) if vals is not None and i < len(vals) else math.nan)
    return out


def main_table2(s: pd.DataFrame) -> list[float]:
    return _by_range_position(s, "range", MAIN.PAPER_TABLE2, _number)


def main_table3(s: pd.DataFrame) -> list[float]:
    return [_number(MAIN.PAPER_TABLE3.get(r.method, {}).get(MAIN.PAPER_TABLE3_COLUMN.get(str(r.dataset))))
            for r in s.itertuples()]


def main_table4(s: pd.DataFrame) -> list[float]:
    return _by_range_position(s, "classes", MAIN.PAPER_TABLE4, lambda cell: float(cell[0]))


def _cac_column(label: str) -> str | None:
    """The paper column a notebook-06 dataset label stands for ("... stand-in for MNIST (...)" -> "MNIST")."""
    m = re.search(r"stand-in for (\S+)", label)
    name = m.group(1) if m else label.strip()
    return name if name in CAC.COLUMNS else None


CAC_ROWS = {"table2": {"CAC (ours)": "CAC (Ours) *"},
            "table3": {"CAC (ours)": "CAC (Ours)", "CE + MSP (ours, same recipe)": "Cross-Entropy"}}


def _cac(s: pd.DataFrame, table: dict, rows: dict) -> list[float]:
    out = []
    for r in s.itertuples():
        col, row = _cac_column(str(r.dataset)), rows.get(r.method)
        value = table[row][CAC.COLUMNS.index(col)] if row in table and col else None
        out.append(_number(value))
    return out


def cac_table2(s: pd.DataFrame) -> list[float]:
    return _cac(s, CAC.TABLE2_AUROC, CAC_ROWS["table2"])


def cac_table3(s: pd.DataFrame) -> list[float]:
    return _cac(s, CAC.TABLE3_ACCURACY, CAC_ROWS["table3"])


def emb_table2(s: pd.DataFrame) -> list[float]:
    pairs = {EMB.pair_name(p): p for p in EMB.TABLE2}
    out = []
    for r in s.itertuples():
        pair, which = pairs.get(str(r.split)), EMB_DETECTORS.get(r.detector)
        ok = pair is not None and which is not None and r.metric in EMB.METRICS
        out.append(float(EMB.TABLE2[pair][r.metric][which]) if ok else math.nan)
    return out


def emb_table1(s: pd.DataFrame) -> list[float]:
    out = []
    for r in s.itertuples():
        row, which = TABLE1_ROWS.get(str(r.ood_set)), EMB_DETECTORS.get(r.detector)
        ok = row is not None and which is not None and r.metric in EMB.METRICS
        out.append(float(EMB.TABLE1[row][r.metric][which]) if ok else math.nan)
    return out


def _lookup(table: dict, *cols: str):
    def lookup(s: pd.DataFrame) -> list[float]:
        return [_number(table.get(tuple(str(getattr(r, c)) for c in cols))) for r in s.itertuples()]
    return lookup


pl_table2 = _lookup(PL.PAPER_TABLE2, "method", "anomaly")
pl_table4 = _lookup(PL.PAPER_TABLE4, "anomaly", "column")
pl_averaging = _lookup(PL.PAPER_AVERAGING, "anomaly", "column")
pl_quality = _lookup(PL.PAPER_CLUSTERING, "labelling", "metric")


def pl_table6(s: pd.DataFrame) -> list[float]:
    return [_number(PL.table6_paper(str(r.column))) if r.anomaly == "near" else math.nan for r in s.itertuples()]
