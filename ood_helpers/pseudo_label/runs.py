"""Notebook 09's trials: every seeded class split through ``experiment.run_trial``, what each trial's
pseudo-labelling did in words, and their records saved table by table."""

from __future__ import annotations

from ood_helpers.core.tables import save_results
from ood_helpers.pseudo_label import experiment as X
from ood_helpers.pseudo_label.report import merged


def describe_sets(data) -> str:
    """One line per set of a trial's data (``splits.trial_data``): its name and what it holds."""
    return "\n".join(f"{k}: {v}" for k, v in data.names.items())


def run_trials(profile, s, seeds, *, progress: bool = False) -> list[dict]:
    """``experiment.run_trial`` for trial t with seed ``seeds[t]``, in order (cached stages load)."""
    return [X.run_trial(profile, s, t, seed, progress=progress) for t, seed in enumerate(seeds)]


def describe_trials(results: list[dict]) -> str:
    """One line per trial: its normal and near-anomaly digits, mined-neighbour purity, the share of confident
    images after the SCAN step, self-labelling's empty batches and the pseudo-class sizes."""
    lines = []
    for t, r in enumerate(results):
        m = r["meta"]
        lines.append(
            f"trial {t}: normal digits {m['normal_classes']}, near {m['anomaly_classes']}; mined-neighbour purity "
            f"{m['neighbour_purity']:.1f} %; {100 * m['confident_share']:.1f} % of images above the 0.99 threshold after "
            f"the SCAN step; self-labelling: {m['selflabel']['empty_batches']} of {m['selflabel']['batches']} batches "
            f"had no confident sample; pseudo-class sizes {m['pseudo_label_counts']}")
    return "\n".join(lines)


def save_trial_records(results: list[dict], profile, *, config=None, seeds=None) -> list:
    """Every table's records over the trials (``report.merged``) as ``pl_<table>_trials.csv``; returns the paths."""
    written = []
    for name in X.TABLE_NAMES:
        rows = merged(results, name)
        if len(rows):  # "coverage" is the stand-in source's alone: empty for CIFAR-10 (the cifar / paper profiles)
            written += save_results(rows, f"pl_{name}", profile, config=config, seeds=seeds)
    return written
