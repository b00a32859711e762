"""Verdicts from paired statistics: the mean difference A - B with a Student-t interval, and the rules that
turn intervals into "reproduced", "not reproduced" or "inconclusive".

Intervals:
- ``paired_t``: per-unit values of A and B paired by unit (a trained model, else an evaluation trial); the
  interval of the mean difference is mean(d) ± t(n-1) · sd(d) / sqrt(n), as ``scipy.stats.ttest_rel`` gives.
- ``welch_t``: two summaries without pairing (a paper's "mean ± std over n runs"): Welch's interval, standard
  error sqrt(sa²/na + sb²/nb), Welch-Satterthwaite degrees of freedom.
- ``unknown``: one value each, or a side without a spread: no interval, so never "not reproduced".

Why t and not a bootstrap: our units number 2 to 5 (trained models or trials); a percentile bootstrap of the mean
of n = 3 values has at most 10 distinct resample means, ignores the uncertainty in the spread and covers far
less than its nominal 95 %, while the t interval is exact for normal differences and stays honest (wide) at
small n.

Rules (``LEVEL`` = 95 % two-sided for directions, ``EQUIVALENCE_LEVEL`` = 90 % for margins, i.e. TOST with
5 % a side):
- "A beats B" (``direction``): reproduced when the interval lies above zero, not reproduced when it lies below
  zero, inconclusive when it holds zero or is unknown.
- "A loses at most ``margin`` to B" (``non_inferior``, one-sided TOST): reproduced when the 90 % interval's lower
  end is above -margin, not reproduced when its upper end is below -margin, else inconclusive.
- "A matches B within ± ``margin``" (``equivalent``, TOST): reproduced when the 90 % interval lies inside
  ±margin, not reproduced when it lies wholly outside, else inconclusive.
- A claim over several cells (ranges, tables, datasets; ``aggregate``): reproduced only when every cell is
  reproduced, not reproduced when any cell is on the other side, otherwise inconclusive.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

LEVEL = 0.95
EQUIVALENCE_LEVEL = 0.90
REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"


@dataclass(frozen=True)
class Interval:
    """Mean difference ``diff`` = A - B with its standard error ``se`` and degrees of freedom ``df`` (NaN when no
    spread is known); ``units`` says what the interval is over (printed beside it)."""

    diff: float
    se: float
    df: float
    units: str

    @property
    def known(self) -> bool:
        return math.isfinite(self.se) and math.isfinite(self.df) and self.df > 0

    def bounds(self, level: float = LEVEL) -> tuple[float, float]:
        """The two-sided ``level`` interval (NaN, NaN when unknown)."""
        if not self.known:
            return math.nan, math.nan
        half = float(stats.t.ppf(0.5 + level / 2, self.df)) * self.se
        return self.diff - half, self.diff + half

    def text(self, digits: int = 1, level: float = LEVEL, units: bool = True) -> str:
        """"+1.2 [+0.3, +2.1] (95 %, <units>)" or "+1.2, interval unknown (<units>)"; ``units=False`` leaves the
        units out (printed once for several intervals)."""
        if not self.known:
            return f"{self.diff:+.{digits}f}, interval unknown" + (f" ({self.units})" if units else "")
        lo, hi = self.bounds(level)
        tail = f" ({level * 100:.0f} %, {self.units})" if units else f" ({level * 100:.0f} %)"
        return f"{self.diff:+.{digits}f} [{lo:+.{digits}f}, {hi:+.{digits}f}]" + tail


def paired_t(a, b, units: str) -> Interval:
    """The interval of mean(a - b) over paired units (Student t, n - 1 degrees of freedom); unknown below 2 pairs."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired values must be 1-d and equally long, got shapes {a.shape} and {b.shape}")
    d = a - b
    if len(d) == 0:
        return Interval(math.nan, math.nan, math.nan, units)
    if len(d) < 2:
        return Interval(float(d.mean()), math.nan, math.nan, units)
    return Interval(float(d.mean()), float(d.std(ddof=1) / math.sqrt(len(d))), float(len(d) - 1), units)


def welch_t(mean_a: float, sd_a: float, n_a: int, mean_b: float, sd_b: float, n_b: int, units: str) -> Interval:
    """Welch's interval of mean_a - mean_b from two summaries (sd with ddof = 1); unknown when a side lacks a spread
    or has fewer than 2 values."""
    diff = float(mean_a) - float(mean_b)
    if any(not math.isfinite(float(x)) for x in (sd_a, sd_b)) or min(n_a, n_b) < 2:
        return Interval(diff, math.nan, math.nan, units)
    va, vb = float(sd_a) ** 2 / n_a, float(sd_b) ** 2 / n_b
    if va + vb == 0:
        return Interval(diff, 0.0, float(n_a + n_b - 2), units)
    df = (va + vb) ** 2 / (va ** 2 / (n_a - 1) + vb ** 2 / (n_b - 1))
    return Interval(diff, math.sqrt(va + vb), df, units)


def unknown(a: float, b: float, units: str = "one value each") -> Interval:
    return Interval(float(a) - float(b), math.nan, math.nan, units)


def direction(iv: Interval, sign: int = 1) -> str:
    """"A beats B" (``sign`` = +1) or "A is below B" (-1) from the 95 % interval."""
    if not iv.known:
        return INCONCLUSIVE
    lo, hi = (sign * x for x in iv.bounds(LEVEL))
    lo, hi = min(lo, hi), max(lo, hi)
    return REPRODUCED if lo > 0 else NOT_REPRODUCED if hi < 0 else INCONCLUSIVE


def non_inferior(iv: Interval, margin: float) -> str:
    """"A loses at most ``margin`` to B", one-sided TOST on the 90 % interval."""
    if not iv.known:
        return INCONCLUSIVE
    lo, hi = iv.bounds(EQUIVALENCE_LEVEL)
    return REPRODUCED if lo > -margin else NOT_REPRODUCED if hi < -margin else INCONCLUSIVE


def equivalent(iv: Interval, margin: float) -> str:
    """"A matches B within ± ``margin``", TOST on the 90 % interval."""
    if not iv.known:
        return INCONCLUSIVE
    lo, hi = iv.bounds(EQUIVALENCE_LEVEL)
    if -margin < lo and hi < margin:
        return REPRODUCED
    return NOT_REPRODUCED if lo > margin or hi < -margin else INCONCLUSIVE


def aggregate(verdicts) -> str:
    """One verdict for a claim over several cells: reproduced only when every cell is, not reproduced when any cell
    is on the other side, otherwise inconclusive (also with no cell)."""
    verdicts = list(verdicts)
    if verdicts and all(v == REPRODUCED for v in verdicts):
        return REPRODUCED
    return NOT_REPRODUCED if NOT_REPRODUCED in verdicts else INCONCLUSIVE


@dataclass(frozen=True)
class Rule:
    """How one cell's interval becomes a verdict: ``kind`` "beats" (``direction``), "non-inferior" or "equivalent"
    (with the claim's named ``margin``, in the table's unit, and where it comes from: ``why``)."""

    kind: str = "beats"
    margin: float = 0.0
    why: str = ""

    def verdict(self, iv: Interval) -> str:
        if self.kind == "beats":
            return direction(iv)
        if self.kind == "non-inferior":
            return non_inferior(iv, self.margin)
        if self.kind == "equivalent":
            return equivalent(iv, self.margin)
        raise ValueError(f"unknown rule kind {self.kind!r}; expected beats, non-inferior or equivalent")

    def text(self, iv: Interval, digits: int = 1, units: bool = True) -> str:
        """The interval the rule reads, printed."""
        level = LEVEL if self.kind == "beats" else EQUIVALENCE_LEVEL
        return iv.text(digits, level, units)

    def __str__(self) -> str:
        if self.kind == "beats":
            return "A beats B: the 95 % interval of A - B lies above 0"
        sign = "-" if self.kind == "non-inferior" else "±"
        return f"A - B within {sign}{self.margin:g} ({self.why}): 90 % interval, TOST"
