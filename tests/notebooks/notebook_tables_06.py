"""Table checks of notebook 06 (Class Anchor Clustering) on its smoke run."""

import pandas as pd

from tests.support import check_means_of_trials, check_summary, in_range, one_row_each

NOTEBOOK = "06_class_anchor_clustering"


def check(p, table):
    from ood_helpers.cac.experiment import dataset_label
    from ood_helpers.cac.settings import cac_settings

    s = cac_settings(p)
    trials = table("cac_trials_trials")
    main = [dataset_label(n, s) for n in s.datasets]
    digits = dataset_label("digits", s)
    cac, ce, peer = "CAC (ours)", "CE + MSP (ours, same recipe)", "CAC as implemented in pytorch-ood"
    expected = [(cac, d) for d in main + [digits]] + [(ce, d) for d in main + [digits]] + [(peer, digits)]
    for value, name in (("auroc", "cac_table2_auroc_summary"), ("accuracy", "cac_table3_accuracy_summary")):
        summary = table(name)
        rows = expected if value == "auroc" else [e for e in expected if e[0] != peer]
        for key_set, n in ((main, s.trials), ([digits], s.digits_trials)):
            part = summary[summary["dataset"].isin(key_set)]
            check_summary(part, ["method", "dataset"], [r for r in rows if r[1] in key_set], n, 0.0, 1.0, name)
        check_means_of_trials(summary, trials, ["method", "dataset"], value, 1.0, name)
    # the paper's CAC values sit beside ours, unchanged; quoted rows are marked quoted
    t2 = table("cac_table2_auroc")
    assert any(str(m).endswith("(quoted)") for m in t2["method"]), "quoted baselines missing from Table 2"
    quoted = t2[t2["method"] == "OSRCI [18] (quoted)"].iloc[0]
    assert all(quoted[c] == "quoted, not re-run" for c in t2.columns if c != "method" and not c.endswith("(paper)"))
    summary = table("cac_table2_auroc_summary")
    assert set(summary.loc[summary["method"] == cac, "paper"]) == {0.985}
    # every record: metrics from the one ood_metrics module, in range; openness of the MNIST splits
    for col in ("accuracy", "auroc", "aupr_in", "aupr_out", "fpr95"):
        in_range(trials, col, 0.0, 1.0, "cac_trials")
    assert (trials["openness"].round(5) == 0.13397).all()
    t1 = table("cac_table1_openness")
    assert list(t1["openness (%)"].round(1)) == list(t1["paper (%)"])
    abl = table("cac_fig3_ablation_summary")
    one_row_each(abl, ["method", "metric"], [(m, k) for m in ("anchor term only (L_A)", "tuplet term only (L_T)", cac, ce)
                                             for k in ("accuracy", "auroc")], "cac_fig3_ablation")
    sweep = table("cac_fig2_sweep_trials")
    assert len(sweep) == len(s.lambdas) + len(s.alphas) and set(sweep["swept"]) == {"lambda", "alpha"}
    metrics = table("cac_ood_metrics_summary")
    in_range(metrics, "mean", 0.0, 100.0, "cac_ood_metrics")
    assert pd.notna(metrics["mean"]).all()
    # the paired CAC - CE gap equals the per-trial differences of the records
    gaps = table("cac_gap_auroc")
    wide = trials[trials["loss"].isin(["cac", "ce"])].pivot_table(index=["dataset", "trial"], columns="loss", values="auroc")
    recomputed = (wide["cac"] - wide["ce"]).groupby(level="dataset").mean()
    for _, row in gaps.iterrows():
        assert abs(row["mean gap"] - recomputed.loc[row["dataset"]]) < 1e-4, row["dataset"]
