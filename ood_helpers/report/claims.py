"""A claim "A beats B" (or "A loses at most a margin to B") as cells: one paired interval per range, table or
dataset the paper's sentence covers, each read by a ``paired.Rule``, the claim's verdict their aggregate
(``paired.aggregate``: reproduced only when every cell is, not reproduced when any cell is on the other side,
otherwise inconclusive). Beside ours, each cell carries the paper's own printed numbers as an interval
(``units.paper_interval``) read by the same rule, so the reader sees what the rule makes of the paper itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from ood_helpers.report.compare import Ordering
from ood_helpers.report.paired import Interval, Rule, aggregate, welch_t
from ood_helpers.report.sources import Missing
from ood_helpers.report.units import paired_interval

VERDICTS = ("reproduced", "not reproduced", "inconclusive", "not testable here", "missing")
NONE = Ordering(0, 0, math.nan, 0)


@dataclass(frozen=True)
class Cell:
    """One comparison of a claim: ``label`` (the range / table / dataset), ``vs`` (row B), our interval, the paper's
    (None where it prints no numbers) and the rule reading both."""

    label: str
    ours: Interval
    paper: Interval | None = None
    rule: Rule = field(default_factory=Rule)
    vs: str = ""
    digits: int = 1

    @property
    def verdict(self) -> str:
        return self.rule.verdict(self.ours)

    @property
    def paper_verdict(self) -> str:
        return "" if self.paper is None else self.rule.verdict(self.paper)

    def text(self, units: bool = True) -> str:
        vs = f" vs {self.vs}" if self.vs else ""
        paper = "" if self.paper is None else (
            f"; paper {self.rule.text(self.paper, self.digits, units)}: {self.paper_verdict}")
        return f"{self.label}{vs}: {self.rule.text(self.ours, self.digits, units)}: {self.verdict}{paper}"


@dataclass(frozen=True)
class Claim:
    paper: str
    claim: str
    sources: str  # the files the verdict reads
    verdict: str
    evidence: str
    ordering: Ordering = NONE
    deviations: tuple[str, ...] = ()  # where this profile departs from the paper's recipe (deviations.marks)
    paper_verdict: str = ""  # the same rule on the paper's own printed numbers ("" where it prints none)
    cells: tuple[Cell, ...] = ()


def missing(paper, claim, sources, *found) -> Claim | None:
    gone = [str(f) for f in found if isinstance(f, Missing)]
    return Claim(paper, claim, sources, "missing", "; ".join(gone)) if gone else None


def pick(frame: pd.DataFrame, **keys) -> pd.DataFrame:
    for k, v in keys.items():
        frame = frame[frame[k].astype(str) == str(v)]
    return frame


def interval(trials, summary, key: str, a: str, b: str, value: str, select: dict, *, summary_select: dict | None = None,
             scale: float = 1.0, trained_per_trial: bool = False) -> Interval | None:
    """Our A - B in the cell ``select`` picks: paired over the per-trial file's units when it is there, else Welch's
    unpaired interval from the summary's mean ± std (n) in the cell ``summary_select`` (default ``select``) picks;
    None when a side has no row."""
    if not isinstance(trials, Missing):
        return paired_interval(trials, key, a, b, value, scale=scale, trained_per_trial=trained_per_trial, **select)
    if isinstance(summary, Missing):
        return None
    where = select if summary_select is None else summary_select
    x, y = pick(summary, **{key: a}, **where), pick(summary, **{key: b}, **where)
    if x.empty or y.empty:
        return None
    x, y = x.iloc[0], y.iloc[0]
    return welch_t(x["mean"], x["std"], int(x["n"]), y["mean"], y["std"], int(y["n"]),
                   f"summary only (no per-trial file): Welch, unpaired, n = {int(x['n'])} and {int(y['n'])}")


def from_cells(paper: str, claim: str, sources: str, cells, prefix: str = "", ordering: Ordering = NONE,
               deviations: tuple[str, ...] = (), shown=None) -> Claim:
    """The claim's verdict and evidence from its cells; ``shown`` (default all) are the cells whose intervals the
    evidence prints."""
    cells = tuple(cells)
    if not cells:
        return Claim(paper, claim, sources, "not testable here", prefix + "no cell with both rows", ordering,
                     deviations)
    verdict = aggregate(c.verdict for c in cells)
    with_paper = [c.paper_verdict for c in cells if c.paper is not None]
    paper_verdict = aggregate(with_paper) if with_paper else ""
    rules = "; ".join(dict.fromkeys(str(c.rule) for c in cells))
    units = {c.ours.units for c in cells} | {c.paper.units for c in cells if c.paper is not None}
    once = len({c.ours.units for c in cells}) == 1 and len(units - {cells[0].ours.units}) <= 1
    text = prefix + "; ".join(c.text(units=not once) for c in (cells if shown is None else shown))
    if once:
        paper_units = units - {cells[0].ours.units}
        text += f" (ours {cells[0].ours.units}" + (f"; {paper_units.pop()}" if paper_units else "") + ")"
    text += f" (rule: {rules}; every cell must agree)"
    if paper_verdict:
        text += f"; the paper's own numbers under this rule: {paper_verdict}"
    return Claim(paper, claim, sources, verdict, text, ordering, deviations, paper_verdict, cells)
