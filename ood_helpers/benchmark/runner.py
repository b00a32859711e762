"""Every row on every trial: the same ``TrialData`` object per trial for all rows, the metrics of
``core.metrics.ood`` computed here (never by a row), results cached per (row, trial) so an interrupted run
resumes and a rerun scores nothing twice.

A cached result is keyed by the row, the trial's split fingerprint (its classes and every image), the profile
(every field, ``extra`` included) and a fingerprint of the code named by the row; its timings are those of the
run that computed it.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from ood_helpers.core import artifacts
from ood_helpers.cac.data import load_trial
from ood_helpers.cac.settings import cac_settings
from ood_helpers.core.metrics.ood import ood_metrics
from ood_helpers.core.seeding import seed_everything, trial_seed
from ood_helpers.benchmark.rows import Row
from ood_helpers.benchmark.settings import BenchmarkSettings
from ood_helpers.benchmark.trial import BenchmarkTrial, RowScores, split_fingerprint

RUNNER_CODE = (__name__,)  # this module and its import closure


def load_trials(profile, s: BenchmarkSettings, device: str = "cpu") -> list[BenchmarkTrial]:
    """The first ``s.trials`` splits of ``s.dataset``, cut as notebook 06 cuts them (``cac_settings``)."""
    c = cac_settings(profile)
    return [BenchmarkTrial(load_trial(s.dataset, t, per_class=c.per_class, version=c.split_version,
                                      download=c.download), t, trial_seed(profile.seed, t), profile, device)
            for t in range(s.trials)]


def _profile_part(row: Row, profile) -> dict:
    """What of the profile a row's result depends on: the run size and data (every field but ``extra``) and
    only the papers' settings it reads (``row.settings`` and the benchmark's own)."""
    fields = {k: v for k, v in profile.to_dict().items() if k != "extra"}
    extra = profile.extra or {}
    fields["extra"] = {k: extra[k] for k in sorted({*row.settings, "benchmark"}) if k in extra}
    return fields


def _key(row: Row, t: BenchmarkTrial, fingerprint: str) -> tuple[dict, str]:
    config = {"row": row.key, "trial": t.trial, "split": fingerprint, "seed": t.seed,
              "profile": _profile_part(row, t.profile), "device": t.device,
              "code": artifacts.code_fingerprint(*row.code, *RUNNER_CODE)}
    return config, artifacts.config_hash(config)


def compute(row: Row, t: BenchmarkTrial, data=None) -> RowScores:
    """``row`` run on trial ``t`` now, without the result cache: seeded by the trial, its output checked against
    ``data`` (default ``t.data``; a test hiding the labels from the row passes the real data here)."""
    seed_everything(t.seed)
    return row.run(t).check(data if data is not None else t.data, row.key)


def run_row(row: Row, t: BenchmarkTrial, fingerprint: str | None = None) -> RowScores:
    """``row`` on trial ``t``: from the cache, else run (seeded by the trial), checked and cached atomically."""
    fingerprint = fingerprint or split_fingerprint(t.data)
    config, key = _key(row, t, fingerprint)
    path = artifacts.cache_path(t.profile, "benchmark", key)
    if path.is_file():
        stored = artifacts.load_torch(path, expect_config=config)
        return RowScores(**stored["scores"])
    scores = compute(row, t)
    artifacts.atomic_save_torch({"scores": dataclasses.asdict(scores)}, path, config=config)
    return scores


@dataclass
class BenchmarkResult:
    """``records``: one dict per (row, trial) with the metrics (fractions), accuracy (NaN where the row does
    not classify), timings, split fingerprint and note; ``scores``: {(row key, trial): RowScores};
    ``skipped``: one dict per row that could not run, with the reason."""

    records: list[dict] = field(default_factory=list)
    scores: dict = field(default_factory=dict)
    skipped: list[dict] = field(default_factory=list)


def record_of(row: Row, t: BenchmarkTrial, fingerprint: str, sc: RowScores) -> dict:
    acc = float(np.mean(sc.pred_known == t.data.y_test.numpy())) if sc.pred_known is not None else float("nan")
    return {"method": row.name, "key": row.key, "paper": row.paper, "notebook": row.notebook, "trial": t.trial,
            "seed": t.seed, "split": fingerprint, "known": " ".join(map(str, t.data.split.known)),
            **ood_metrics(sc.s_known, sc.s_unknown), "accuracy": acc,
            "train_seconds": round(float(sc.train_seconds), 2), "score_seconds": round(float(sc.score_seconds), 3),
            "n_known": len(sc.s_known), "n_unknown": len(sc.s_unknown), "note": sc.note}


def run_benchmark(rows: list[Row], trials: list[BenchmarkTrial], *, progress: bool = True) -> BenchmarkResult:
    """Every row on every trial, trial by trial (a trial's data are loaded once and shared by its rows)."""
    out = BenchmarkResult()
    fingerprints = {t.trial: split_fingerprint(t.data) for t in trials}
    reasons = {r.key: r.why_not(trials[0]) for r in rows}
    out.skipped = [{"method": r.name, "key": r.key, "paper": r.paper, "notebook": r.notebook, "reason": reasons[r.key]}
                   for r in rows if reasons[r.key]]
    todo = [(r, t) for t in trials for r in rows if not reasons[r.key]]
    for row, t in tqdm(todo, desc="benchmark", disable=not progress):
        start = time.perf_counter()
        sc = run_row(row, t, fingerprints[t.trial])
        if progress:
            tqdm.write(f"{row.name}, trial {t.trial}: {time.perf_counter() - start:.1f} s")
        out.scores[(row.key, t.trial)] = sc
        out.records.append(record_of(row, t, fingerprints[t.trial], sc))
    return out
