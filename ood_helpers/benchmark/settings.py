"""Per-profile settings of notebook 11 (the open-set benchmark), read with
``core.settings.settings_for(profile, "benchmark", BENCHMARK)``; override a field with
``--set 'extra={"benchmark": {"trials": 5}}'``.

The benchmark's data are those of notebook 06 (CAC): the dataset's images cut per class by ``cac.data`` with
``cac_settings(profile).per_class`` and ``split_version``, so CAC's and CE's networks come from notebook 06's
cache. Each other row trains with its own notebook's settings for the profile (``embedding_ood``,
``cluster_distance``, ``pseudo_label``, the profile's homogeneity fields), changed only where a row module says
so in its ``CHANGES`` table.
"""

from __future__ import annotations

from dataclasses import dataclass

from ood_helpers.core.dry_run import AtMost, declare_dry_run
from ood_helpers.core.settings import settings_for

KEY = "benchmark"
DATASETS = ("mnist5k", "mnist", "svhn", "cifar10")  # ten-class sets with the CAC paper's 6-of-10 splits


@dataclass(frozen=True)
class BenchmarkSettings:
    dataset: str = "mnist5k"  # mnist5k (MNIST-5000 stand-in for MNIST) | mnist | svhn | cifar10
    trials: int = 5  # the first n of the CAC paper's five splits
    rows: tuple[str, ...] = ()  # row keys to run (benchmark.registry.ROW_KEYS); () = every row
    roc_trial: int = 0  # the trial whose ROC curves are overlaid
    significance: float = 0.05  # level of the paired tests between rows
    eq1_draws: int = 3  # class homogeneity: exemplar draws averaged per (image, class)


BENCHMARK = {
    "smoke": BenchmarkSettings(trials=2, eq1_draws=1),
    # quick: the 3 trials notebook 06 trains in quick (its CAC / CE networks are reused); 5 with
    # --set 'extra={"benchmark": {"trials": 5}, "cac": {"trials": 5}}'
    "quick": BenchmarkSettings(trials=3),
    "cifar": BenchmarkSettings(dataset="cifar10"),
    "paper": BenchmarkSettings(dataset="cifar10"),
}


# what a dry run (core/dry_run.py) cuts: one trial, one short epoch or a couple of steps, small batches
DRY_RUN = declare_dry_run(KEY, BENCHMARK, {
    "trials": AtMost(1), "eq1_draws": AtMost(1),
})


def benchmark_settings(profile) -> BenchmarkSettings:
    s = settings_for(profile, KEY, BENCHMARK)
    if s.dataset not in DATASETS:
        raise ValueError(f"benchmark dataset must be one of {DATASETS} (ten classes, the CAC paper's 6-of-10 "
                         f"splits), got {s.dataset!r}")
    if not 1 <= s.trials <= 5:
        raise ValueError(f"benchmark trials must be 1..5 (the CAC paper has five splits), got {s.trials}")
    if not 0 <= s.roc_trial < s.trials:
        raise ValueError(f"benchmark roc_trial must be one of the trials run (0..{s.trials - 1}), got {s.roc_trial}")
    if not 0 < s.significance < 1:
        raise ValueError(f"benchmark significance must be in (0, 1), got {s.significance}")
    if s.eq1_draws < 1:
        raise ValueError(f"benchmark eq1_draws must be >= 1, got {s.eq1_draws}")
    return s
