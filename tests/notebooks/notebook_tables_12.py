"""Table checks of notebook 12 (the reproduction report) on its smoke run: every number it reports equals
the source summary's, an absent source is reported missing (no numbers), and the exports are written."""

import math

import pandas as pd

from tests.support import one_row_each

NOTEBOOK = "12_report"


def check(p, table):
    from ood_helpers.report.registry import TABLES
    from ood_helpers.report.scorecard import VERDICTS

    cells = table("report_cells")
    card = table("report_scorecard")
    assert set(card["verdict"]) <= set(VERDICTS), f"unknown verdicts {set(card['verdict']) - set(VERDICTS)}"
    assert set(card["paper"].astype(str).str.zfill(3)) == {"000", "001", "002", "003", "004"}

    folder = table.folder
    for spec in (s for s in TABLES if s.summary):
        rows = cells[cells["table"] == spec.name]
        source = folder / f"{spec.name}_summary.csv"
        if not source.is_file():  # not written by this session's runs: reported missing, never as numbers
            one_row_each(rows, ["status"], ["missing"], f"report_cells of {spec.name}")
            assert rows[["mean", "std", "n"]].isna().all().all(), f"{spec.name} is missing but has numbers"
            continue
        src = pd.read_csv(source, keep_default_na=False, na_values=[""])
        keys = [c for c in src.columns if c not in ("mean", "std", "n", "models", "paper")]
        src_key = src[keys].astype(str).agg(" | ".join, axis=1)
        assert list(rows["key"]) == list(src_key), f"{spec.name}: the report's cells are not the source's"
        for col in ("mean", "std", "n"):
            a, b = rows[col].to_numpy(dtype=float), src[col].to_numpy(dtype=float)
            same = [(math.isnan(x) and math.isnan(y)) or x == y for x, y in zip(a, b)]
            assert all(same), f"{spec.name}: {col} differs from {source.name}"

    for name in ("report.md", "report.html"):
        path = folder / name
        assert path.is_file() and path.stat().st_mtime_ns >= table.started_ns - 10**9, f"{name} not written by this run"
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert "<table>" in html and "Scorecard" in html
