"""Rows from notebook 06 (paper 004): cross-entropy + maximum softmax probability, CAC as we reproduce it, and
CAC as pytorch-ood 0.4 ships it. Each trains (or loads from notebook 06's cache: same data, recipe, seed and
code give the same key) through ``cac.trials.run_trial`` with notebook 06's recipe for the profile."""

from __future__ import annotations

import time

from ood_helpers.cac.experiment import recipe
from ood_helpers.cac.settings import cac_settings
from ood_helpers.cac.trials import run_trial
from ood_helpers.core.seeding import seed_everything
from ood_helpers.benchmark.rows import Row
from ood_helpers.benchmark.trial import BenchmarkTrial, RowScores



CODE = (__name__,)  # this module and its import closure (artifacts.code_fingerprint)


def _run(loss: str):
    def run(t: BenchmarkTrial) -> RowScores:
        s = cac_settings(t.profile)
        seed_everything(t.seed)
        start = time.perf_counter()
        out = run_trial(t.data, loss, recipe(t.data.name, s), profile=t.profile, seed=t.seed, device=t.device)
        total = time.perf_counter() - start
        trained = out.record["train_seconds"]
        note = "" if trained > 0.05 else "network loaded from notebook 06's cache"  # a load takes milliseconds
        return RowScores(out.s_known, out.s_unknown, out.pred_known, train_seconds=trained,
                         score_seconds=max(total - trained, 0.0), note=note)
    return run


ROWS = [
    Row("ce_msp", "CE + MSP", "004 (baseline)", "06", True, _run("ce"), CODE, settings=("cac",)),
    Row("cac", "CAC (ours)", "004", "06", True, _run("cac"), CODE, settings=("cac",)),
    Row("cac_peer", "CAC (pytorch-ood 0.4)", "004 (peer library)", "06", True, _run("peer"), CODE, settings=("cac",)),
]
