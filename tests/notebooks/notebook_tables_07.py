"""Table checks of notebook 07 (paper 002) in the smoke profile: one row per split / OOD set / model, values
in range, and every mean recomputed from the per-trial records."""

import pytest

from tests.support import check_means_of_trials, in_range, one_row_each

NOTEBOOK = "07_embedding_space_ood"


def check(p, table):
    from ood_helpers.embedding_ood import experiments as X
    from ood_helpers.embedding_ood.settings import settings

    s = settings(p)
    splits = [f"MNIST-{{{a},{b}}}" for a, b in s.pairs]
    t2 = table("emb_table2_heldout_digits")
    one_row_each(t2, "split", splits, "Table II")
    summary = table("emb_table2_heldout_digits_summary")
    one_row_each(summary, ["split", "detector", "metric"],
                 [(sp, d, m) for sp in splits for d in X.DETECTORS for m in ("auroc", "aupr_in", "aupr_out", "fpr95")]
                 + [(sp, d, m) for sp in splits for d in (X.AE_SCORE, X.OURS) for m in ("auroc_digit_a", "auroc_digit_b")],
                 "Table II summary")
    in_range(summary, "mean", 0, 100, "Table II summary")
    assert (summary["n"] == s.trials).all()
    trials = table("emb_table2_heldout_digits_trials")
    check_means_of_trials(summary, trials, ["split", "detector", "metric"], "value", 1.0, "Table II")
    # the "MSP / ours" cell holds the summary's two means
    cell = t2.loc[0, "AUROC (%): MSP / ours"]
    sel = summary[(summary.split == splits[0]) & (summary.metric == "auroc")].set_index("detector")["mean"]
    assert cell.startswith(f"{sel[X.MSP_BASELINE]:.2f}") and f"/ {sel[X.OURS]:.2f}" in cell
    assert t2.loc[0, "AUROC (%): paper H&G / ours"] == "93.57 / 94.65"

    t1 = table("emb_table1_cross_dataset")
    names = list(t1["ood_set"])
    assert any("stand-in" in n for n in names), f"offline Table I must name its stand-ins: {names}"
    assert any("unclipped" in n for n in names) and any("clipped to [0, 1]" in n for n in names)
    s1 = table("emb_table1_cross_dataset_summary")
    in_range(s1, "mean", 0, 100, "Table I summary")
    check_means_of_trials(s1, table("emb_table1_cross_dataset_trials"), ["ood_set", "detector", "metric"], "value", 1.0,
                          "Table I")
    unclipped = s1[s1.ood_set.str.contains("unclipped") & (s1.detector == X.AE_SCORE) & (s1.metric == "auroc")]
    assert float(unclipped["mean"].iloc[0]) > 90  # N(0, 1) pixels are far from digits for any trained AE

    ablation = table("emb_table_ablation_summary")
    one_row_each(ablation[ablation.column == "AUROC (%)"], ["split", "model"],
                 [(sp, m) for sp in splits for m in ("AE", "AE + classifier", "AE + DEC", "full")], "ablation")
    in_range(ablation, "mean", 0, 100, "ablation")
    # the ablation's full-model AUROC is Table II's "ours"
    ours = summary[(summary.detector == X.OURS) & (summary.metric == "auroc")].set_index("split")["mean"]
    full = ablation[(ablation.model == "full") & (ablation.column == "AUROC (%)")].set_index("split")["mean"]
    for sp in splits:
        assert full[sp] == pytest.approx(ours[sp], abs=1e-9)

    sifting = table("emb_table_sifting_summary")
    removed = sifting[sifting.column == "injected outliers removed, last interval (%)"].set_index("model")["mean"]
    assert removed[[m for m in removed.index if "sift_fraction 0)" in m][0]] == 0
    in_range(sifting, "mean", 0, 100, "sifting")
    sens = table("emb_table_sensitivity")
    assert len(sens) == len(s.sweep_alphas) + len(s.sweep_lambdas)
    t3 = table("emb_table3_comparison")
    assert list(t3["method"])[-1] == "Our model" and (t3.iloc[-1, 1:] == "✓").all()
