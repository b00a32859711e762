"""The report of one profile gathered in one object: every registered table beside the paper's values,
the scorecard, the figure index, the wall times and the provenance, all read from the profile's files."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from ood_helpers.report import compare, figures, scorecard
from ood_helpers.report.registry import PAPERS, TABLES, TableSpec
from ood_helpers.report.sources import Missing, Sources


@dataclass
class TableEntry:
    spec: TableSpec
    frame: object  # a comparison frame (summary tables), the CSV as written, or Missing
    ordering: compare.Ordering = field(default_factory=lambda: compare.Ordering(0, 0, math.nan, 0))
    marks: tuple[str, ...] = ()

    @property
    def missing(self) -> bool:
        return isinstance(self.frame, Missing)


@dataclass
class Report:
    profile: str
    tables: list[TableEntry]
    claims: list[scorecard.Claim]
    figures: pd.DataFrame
    wall_times: pd.DataFrame
    provenance: dict
    sources: Sources

    def by_paper(self) -> dict[str, list[TableEntry]]:
        out: dict[str, list[TableEntry]] = {p: [] for p in PAPERS}
        for entry in self.tables:
            out[entry.spec.paper].append(entry)
        return out

    def cells(self) -> pd.DataFrame:
        """Every numeric cell the report shows, long: table, key (the key columns joined by " | "), mean, std,
        n, models (trained models among the n values), paper, diff and the deviations from the paper's recipe that affect it (its table's marks); a missing
        table gives one row with status "missing"."""
        rows = []
        for e in self.tables:
            if not e.spec.summary:
                continue
            if e.missing:
                rows.append({"table": e.spec.name, "status": "missing"})
                continue
            keys = e.frame.attrs["keys"]
            for r in e.frame.to_dict("records"):
                rows.append({"table": e.spec.name, "status": "present", "key": " | ".join(str(r[k]) for k in keys),
                             **{c: r[c] for c in ("mean", "std", "n", "models", "paper", "diff")},
                             "deviations": "; ".join(e.marks) or "–"})
        return pd.DataFrame(rows, columns=["table", "status", "key", "mean", "std", "n", "models", "paper", "diff",
                                           "deviations"])

    def missing(self) -> list[str]:
        return [e.spec.name for e in self.tables if e.missing]


def build(profile: str, folder: str | None = None) -> Report:
    """Reads every file of ``figures/<folder>/`` (default ``<profile>``; a dry run's ``<profile>-dry-run``) the
    registry names; nothing is recomputed."""
    src = Sources(profile, folder)
    entries = []
    for spec in TABLES:
        if spec.summary:
            frame = compare.comparison(spec, src)
            order = compare.table_ordering(spec, frame) if not isinstance(frame, Missing) else compare.Ordering(
                0, 0, math.nan, 0)
        else:
            frame, order = src.table(spec.name), compare.Ordering(0, 0, math.nan, 0)
        entries.append(TableEntry(spec, frame, order, spec.comparability(profile)))
    return Report(profile, entries, scorecard.scorecard(src), figures.figure_index(src), figures.wall_times(src),
                  figures.provenance(src), src)
