"""Table checks of notebook 10 (online open-world discovery) on its smoke run."""

import numpy as np
import pytest

from tests.support import check_summary, in_range, one_row_each

NOTEBOOK = "10_open_world_discovery"


def check(p, table):
    from ood_helpers.core.data import class_split
    from ood_helpers.discovery.metrics import COLUMNS, criterion_value
    from ood_helpers.discovery.settings import discovery_settings

    s = discovery_settings(p)
    n_test = len(class_split(p).test)
    trials = table("discovery_test_trials")
    one_row_each(trials, ["method", "order", "stream"],
                 [(m, o, i) for m in s.methods for o_i, o in enumerate(s.orders)
                  for i in range(o_i * s.streams, (o_i + 1) * s.streams)], "discovery_test_trials")
    for col in ("known_acc", "new_acc", "purity", "missed_new", "false_new"):
        in_range(trials, col, 0, 100, "discovery_test_trials")
    assert (trials["true_new"] == n_test).all(), "every test stream holds every test class as its new classes"
    assert (trials["split"] <= trials["true_new"]).all() and (trials["merged"] <= trials["created"]).all()

    # the summary: one mean per (method, order, metric) over the streams, equal to the per-stream records
    summary = table("discovery_test_summary")
    percent = [v for k, v in COLUMNS.items() if k not in ("created", "true_new", "split", "merged")]
    for metrics, high in ((percent, 100), ([COLUMNS[k] for k in ("created", "true_new", "split", "merged")], 10**6)):
        part = summary[summary["metric"].isin(metrics)]
        check_summary(part, ["method", "order", "metric"], [(m, o, c) for m in s.methods for o in s.orders
                                                            for c in metrics], s.streams, 0, high, "discovery_test")
    by_label = {v: k for k, v in COLUMNS.items()}
    for r in summary.itertuples():
        rows = trials[(trials["method"] == r.method) & (trials["order"] == r.order)]
        assert r.mean == pytest.approx(rows[by_label[r.metric]].mean(), abs=1e-6), (r.method, r.order, r.metric)

    # the threshold of each test run is the one chosen on validation, and it maximises the mean
    # criterion averaged over the validation streams (recomputed from every validation run)
    chosen = table("discovery_thresholds").set_index("method")
    sweep = table("discovery_val_sweep_trials")
    assert set(sweep["stream"]) == set(range(len(s.orders) * s.streams))
    for m in s.methods:
        t = chosen.loc[m, "threshold"]
        assert np.allclose(trials.loc[trials["method"] == m, "threshold"], t, atol=1e-4)
        rows = sweep[sweep["method"] == m]
        crit = rows.apply(lambda r: criterion_value(r["known_acc"], r["new_acc"], s.criterion), axis=1) \
            .groupby(rows["threshold"]).mean()
        assert crit.max() == pytest.approx(crit.loc[crit.index[np.argmin(np.abs(crit.index - t))]], abs=1e-6)
        assert chosen.loc[m, f"validation criterion ({s.criterion}) %"] == pytest.approx(crit.max(), abs=1e-3)

    # accuracy along the stream: one record per method, stream and bin
    curves = table("discovery_curves_trials")
    one_row_each(curves, ["method", "stream", "bin"], [(m, i, b) for m in s.methods
                                                       for i in range(len(s.orders) * s.streams)
                                                       for b in range(s.curve_bins)], "discovery_curves")
    in_range(curves, "all", 0, 100, "discovery_curves")
