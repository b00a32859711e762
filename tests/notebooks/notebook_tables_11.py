"""Table checks of notebook 11 (the open-set benchmark) on its smoke run: one record per (row, trial), the same
split digest for every row of a trial (recomputed here from the data), metrics in range, the summary equal to the
per-trial records, the ranking sorted, and the paired differences recomputed from the records."""

import numpy as np
import pytest

from tests.support import check_summary, in_range, one_row_each

NOTEBOOK = "11_open_set_benchmark"


def check(p, table):
    from ood_helpers.benchmark.registry import select_rows
    from ood_helpers.benchmark.report import METRICS
    from ood_helpers.benchmark.runner import load_trials
    from ood_helpers.benchmark.settings import benchmark_settings
    from ood_helpers.benchmark.trial import split_fingerprint

    s = benchmark_settings(p)
    rows = select_rows(s.rows)
    skipped = table("bench_skipped")
    ran = [r for r in rows if r.key not in set(skipped["key"])]
    trials = table("bench_open_set_trials")
    one_row_each(trials, ["key", "trial"], [(r.key, t) for r in ran for t in range(s.trials)], "bench_open_set_trials")

    # identical splits across rows: one digest per trial, equal to the digest of the data loaded independently
    digests = {t.trial: split_fingerprint(t.data) for t in load_trials(p, s)}
    for t, group in trials.groupby("trial"):
        assert set(group["split"]) == {digests[t]}, f"trial {t}: rows saw different splits {set(group['split'])}"
    splits = table("bench_splits").set_index("trial")
    assert splits["digest"].to_dict() == digests

    for col in ("auroc", "aupr_in", "aupr_out", "fpr95"):
        in_range(trials, col, 0, 1, "bench_open_set_trials")
    classifies = {r.name: r.classifies for r in ran}
    for name, group in trials.groupby("method"):
        assert group["accuracy"].notna().all() == classifies[name], f"{name}: accuracy only where the row classifies"

    summary = table("bench_open_set_summary")
    expected = [(r.name, METRICS[m]) for r in ran for m in METRICS if m != "accuracy" or r.classifies]
    check_summary(summary, ["method", "metric"], expected, s.trials, 0, 100, "bench_open_set")
    label = {v: k for k, v in METRICS.items()}
    for r in summary.itertuples():
        values = trials.loc[trials["method"] == r.method, label[r.metric]]
        assert r.mean == pytest.approx(100 * values.mean(), abs=1e-6), (r.method, r.metric)

    ranking = table("bench_ranking")
    assert list(ranking["mean"]) == sorted(ranking["mean"], reverse=True)
    means = trials.groupby("method")["auroc"].mean() * 100
    for r in ranking.itertuples():
        assert r.mean == pytest.approx(means[r.method], abs=1e-3)

    sig = table("bench_significance")
    wide = trials.pivot(index="trial", columns="method", values="auroc") * 100
    for _, r in sig.iterrows():
        assert r["mean difference"] == pytest.approx((wide[r["a"]] - wide[r["b"]]).mean(), abs=0.01), (r["a"], r["b"])
    assert set(sig["verdict"]) <= {"exceeds the trial spread", "within the trial spread",
                                   "one trial: no spread to compare with"}
    timing = table("bench_timing")
    assert set(timing["method"]) == {r.name for r in ran}
    assert (timing["train s / trial"] >= 0).all() and (timing["score s / trial"] >= 0).all()
    assert np.all(timing["test images / trial"] > 0)
