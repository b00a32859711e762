"""Table checks of notebook 08 (paper 001, distance to clusters) in the smoke profile."""

import numpy as np
import pytest

from tests.support import check_means_of_trials, check_summary, in_range, one_row_each

NOTEBOOK = "08_cluster_distance_ood"


def _expected_configs(s):
    from ood_helpers.cluster_distance.strategies import DISTANCES

    trainings = ["CE", "SupCon", "SimCLR"] + (["SupCon (proj)", "SimCLR (proj)"] if s.projection_variant else [])
    clusterings = (["S1 class centroids"] + [f"S2 sub-clusters m={m}" for m in s.sub_clusters]
                   + [f"S3 k-means K={f}C" for f in s.kmeans_factors])
    cells = [(t, c, d) for t in trainings for c in clusterings for d in DISTANCES]
    cells += [(t, f"S4 kNN k={k}", d) for t in trainings for k in s.knn_ks for d in ("euclidean", "cosine")]
    return trainings, cells


def check(p, table):
    from ood_helpers.cluster_distance.settings import CLUSTER_DISTANCE
    from ood_helpers.core.settings import settings_for

    s = settings_for(p, "cluster_distance", CLUSTER_DISTANCE)
    raw = table("cg_scores_trials")
    trainings, cells = _expected_configs(s)
    oods = {i: sorted(raw[raw.id_set == i]["ood_set"].unique()) for i in s.id_sets}
    assert all(len(v) == 3 for v in oods.values()), oods
    expected = [(i, a, o, t, c, d) for i in s.id_sets for a in s.archs for o in oods[i] for t, c, d in cells]

    # AUROC: one mean per cell over the trials, equal to the raw per-trial records
    keys = ["id_set", "arch", "ood_set", "training", "clustering", "distance"]
    summary = table("cg_auroc_summary")
    check_summary(summary, keys, expected, s.trials, 0, 100, "cg_auroc")
    check_means_of_trials(summary, raw, keys, "auroc", 1.0, "cg_auroc")
    for col in ("aupr_in", "aupr_out", "fpr95"):
        in_range(raw, col, 0, 100, "cg_scores_trials")

    # who wins: recomputed from the raw records, diagnostics excluded
    wins = table("cg_who_wins")
    one_row_each(wins, ["id_set", "arch", "ood_set"],
                 [(i, a, o) for i in s.id_sets for a in s.archs for o in oods[i] + ["mean over OOD sets"]], "cg_who_wins")
    clean = raw[~raw["diagnostic"].astype(bool)]
    per_ood = clean.groupby(["id_set", "arch", "ood_set", "training", "clustering", "distance"])["auroc"].mean()
    mean_ood = clean.groupby(["id_set", "arch", "trial", "training", "clustering", "distance"])["auroc"].mean() \
        .groupby(["id_set", "arch", "training", "clustering", "distance"]).mean()
    for r in wins.itertuples():
        best = (mean_ood.loc[(r.id_set, r.arch)] if r.ood_set == "mean over OOD sets"
                else per_ood.loc[(r.id_set, r.arch, r.ood_set)])
        assert r.winner_mean == pytest.approx(best.max(), abs=1e-6), r
        assert r.ce_cosine_s1 == pytest.approx(best.loc[("CE", "S1 class centroids", "cosine")], abs=1e-6), r
        assert r.margin_over_ce_cosine_s1 >= -1e-9
        assert not r.winner.startswith("SimCLR / S1") and not r.winner.startswith("SimCLR / S2")

    # thresholds: every training row, T1 and T2 (and T3 for CE / SupCon); rates are percentages
    th = table("cg_thresholds_summary")
    in_range(th, "mean", 0, 100, "cg_thresholds")
    assert set(th["training"]) == set(trainings)
    t3 = set(th[th["threshold"] == "T3 per predicted class"]["training"])
    assert t3 == {t for t in trainings if not t.startswith("SimCLR")}
    raw_th = table("cg_threshold_rates_trials")
    in_range(raw_th, "tpr_id", 0, 100, "cg_threshold_rates")
    assert np.allclose(raw_th["balanced_acc"], (raw_th["tpr_id"] + raw_th["tnr_ood"]) / 2)

    # separation, cost, rank stability, claims
    sep = table("cg_separation_summary")
    check_summary(sep, ["id_set", "arch", "training", "metric"],
                  [(i, a, t, m) for i in s.id_sets for a in s.archs for t in trainings
                   for m in sorted(sep["metric"].unique())], s.trials, -1, 100, "cg_separation")
    assert sep["metric"].nunique() == 4
    cost = table("cg_cost_summary")
    one_row_each(cost, ["id_set", "arch", "training", "metric"],
                 [(i, a, t, m) for i in s.id_sets for a in s.archs for t in ("CE", "SupCon", "SimCLR")
                  for m in ("training time (s)", "ID test accuracy (%)")], "cg_cost")
    in_range(cost, "mean", 0, 1e6, "cg_cost")
    raw_cost = table("cg_cost_trials")
    check_means_of_trials(cost[cost.metric == "training time (s)"], raw_cost, ["id_set", "arch", "training"],
                          "train_seconds", 1.0, "cg_cost")
    stab = table("cg_rank_stability")
    in_range(stab[stab["note"].isna()], "kendall_tau", -1, 1, "cg_rank_stability")
    assert stab[stab["kendall_tau"].isna()]["note"].notna().all()
    claims = table("cg_claims")
    assert list(claims["claim"]) == ["C1", "C2", "C3", "C4", "C5"]
    assert claims.set_index("claim").loc[["C3", "C4"], "verdict"].str.startswith("not testable here").all()
