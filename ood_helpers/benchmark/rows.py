"""The row type of the open-set benchmark: one method, the paper and notebook it comes from, and the
function that runs it on a trial. Row modules (``rows_<method>.py``) each define ``ROWS``, a list of
:class:`Row`; ``registry`` gathers them in table order."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ood_helpers.benchmark.trial import BenchmarkTrial, RowScores


@dataclass(frozen=True)
class Row:
    """``key``: a short id used in settings and caches; ``name``: the table's row label; ``paper``: the paper
    id (000-004) and the role ("004, baseline"); ``notebook``: where the method is reproduced; ``classifies``:
    whether it predicts a known class (closed-set accuracy); ``run``: trains (or loads) and scores one trial;
    ``code``: the ``ood_helpers`` modules whose code determines its result, with their import closure
    (``artifacts.code_fingerprint``); ``unavailable``: given a trial, the reason the row cannot run there (None
    when it can); ``settings``: the keys of ``profile.extra`` (papers' settings) the row reads, so that its
    cached result is keyed by those and not by another paper's (``runner``)."""

    key: str
    name: str
    paper: str
    notebook: str
    classifies: bool
    run: Callable[[BenchmarkTrial], RowScores]
    code: tuple[str, ...]
    unavailable: Callable[[BenchmarkTrial], str | None] | None = None
    settings: tuple[str, ...] = ()

    def why_not(self, trial: BenchmarkTrial) -> str | None:
        return self.unavailable(trial) if self.unavailable is not None else None
