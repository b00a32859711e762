"""Table checks of notebook 09 (paper 003, pseudo-label OOD) after its smoke run."""

import pytest

from tests.support import check_means_of_trials, check_summary, in_range, one_row_each

NOTEBOOK = "09_pseudo_label_ood"


def check(p, table):
    from ood_helpers.core.settings import settings_for
    from ood_helpers.pseudo_label import experiment as X
    from ood_helpers.pseudo_label.settings import PSEUDO_LABEL

    s = settings_for(p, "pseudo_label", PSEUDO_LABEL)
    sets = ["near", "far"]
    t2 = table("pl_table2_ood_without_labels_summary")
    check_summary(t2, ["method", "anomaly"], [(m, a) for m in X.TABLE2_METHODS for a in sets], s.trials, 0, 100, "Table 2")
    check_means_of_trials(t2, table("pl_table2_trials"), ["method", "anomaly"], "auroc", 1.0, "Table 2")
    # the paper's value stands beside ours where it has one (Ours vs CIFAR-100: 93.3)
    ours = t2[(t2["method"] == X.OURS) & (t2["anomaly"] == "near")]
    assert ours["paper"].iloc[0] == pytest.approx(93.3)
    t4 = table("pl_table4_scan_stages_summary")
    check_summary(t4, ["anomaly", "column"], [(a, c) for a in sets for c in X.TABLE4_STAGES], s.trials, 0, 100, "Table 4")
    # identities that must hold: Table 4's DN2 and two-stage cells are Table 2's DN2 and Ours rows
    for col, method in ((X.TABLE4_STAGES[0], X.DN2), (X.TABLE4_STAGES[4], X.OURS)):
        for a in sets:
            got = t4[(t4["column"] == col) & (t4["anomaly"] == a)]["mean"].iloc[0]
            want = t2[(t2["method"] == method) & (t2["anomaly"] == a)]["mean"].iloc[0]
            assert got == pytest.approx(want), (col, a)
    t5 = table("pl_table5_scoring_summary")
    check_summary(t5, ["anomaly", "column"], [(a, c) for a in sets for c in X.table5_columns(s)], s.trials, 0, 100,
                  "Table 5")
    one_nn = t5[(t5["column"] == "1NN (mean)") & (t5["anomaly"] == "near")]["mean"].iloc[0]
    assert one_nn == pytest.approx(ours["mean"].iloc[0]), "Table 5's 1NN is Table 2's Ours"
    t6 = table("pl_table6_clusters_summary")
    cols = [X.k_column(m) for m in s.k_multipliers] + ["No adaptation (DN2)"]
    check_summary(t6, ["anomaly", "column"], [(a, c) for a in sets for c in cols], s.trials, 0, 100, "Table 6")
    ta = table("pl_weight_averaging_summary")
    cols = [f"epoch {e}" for e in range(1, s.finetune_epochs + 1)] + ["average"]
    check_summary(ta, ["anomaly", "column"], [(a, c) for a in sets for c in cols], s.trials, 0, 100, "averaging")
    check_means_of_trials(ta, table("pl_averaging_trials"), ["anomaly", "column"], "auroc", 1.0, "averaging")
    lr = table("pl_lr_sensitivity_summary")
    head = X.lr_column(s.finetune_batch, s.lr_start, s.lr_end) + " (pre-declared)"
    for col, method in (("DN2 (no fine-tuning)", X.DN2), (head, X.OURS)):  # the same runs as Table 2's rows
        got = lr[(lr["column"] == col) & (lr["anomaly"] == "near")]["mean"].iloc[0]
        assert got == pytest.approx(t2[(t2["method"] == method) & (t2["anomaly"] == "near")]["mean"].iloc[0]), col
    assert len(lr) == 2 * (2 + (1 + len(s.sweep_batches)) * (1 + len(s.lr_sweep)) - 1)
    q = table("pl_pseudo_label_quality_summary")
    labellings = list(X.LABELLINGS) + [f"SCAN + self-labelling, K = {m:g}x" for m in s.k_multipliers if m != 1.0]
    check_summary(q, ["labelling", "metric"], [(lab, m) for lab in labellings for m in ("accuracy (%)", "NMI (x100)",
                                                                                         "ARI (x100)")],
                  s.trials, -100, 100, "pseudo-label quality")
    claims = table("pl_claims")
    assert len(claims) in (8, 9) and set(claims["paper: A > B"].astype(str)) <= {"True", "False"}
    toy = table("pl_fig1_toy_summary")
    one_row_each(toy, ["score"], ["1-NN distance (labels unused)", "Mahalanobis, noisy pseudo-labels",
                                  "Mahalanobis, true labels"], "Fig. 1 toy")
    in_range(toy, "mean", 0, 100, "Fig. 1 toy")
    # the toy's point, recomputed from its rows: 1-NN beats Mahalanobis fitted to the noisy labels
    means = toy.set_index("score")["mean"]
    assert means["1-NN distance (labels unused)"] > means["Mahalanobis, noisy pseudo-labels"]
    purity = table("pl_fig2_top5_purity_summary")
    check_summary(purity, ["features", "anomaly"], [(f, a) for f in ("Raw (DN2)", "FT (Ours)") for a in sets],
                  s.trials, 0, 100, "Fig. 2 purity")
