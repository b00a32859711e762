"""The tables of notebook 08 from the grid's records, and one verdict per claim C1-C5 (spec B4).

All AUROC values are in percent with OOD as the positive class (``core.metrics.ood``). The abstract
prints no numbers, so no table has a paper column; the claims are qualitative and so are the verdicts.
A winner is never a diagnostic row (SimCLR clustered with labels).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ood_helpers.core.tables import format_mean_std, trials_table
from ood_helpers.cluster_distance.diagnostics import rank_stability

CONFIG = ["training", "clustering", "distance"]
REFERENCE = ("CE", "S1 class centroids", "cosine")  # the abstract's "cross-entropy paired with cosine similarity"
CONTRASTIVE = ("SupCon", "SimCLR")
MEAN_OOD = "mean over OOD sets"


def with_mean_over_ood(scores: pd.DataFrame) -> pd.DataFrame:
    """``scores`` plus, per trial and configuration, a row averaging its OOD sets (``ood_set`` = MEAN_OOD)."""
    keys = ["id_set", "arch", "trial", *CONFIG, "diagnostic"]
    mean = scores.groupby(keys, as_index=False)[["auroc", "aupr_in", "aupr_out", "fpr95"]].mean()
    return pd.concat([scores, mean.assign(ood_set=MEAN_OOD)], ignore_index=True)


def trial_means(scores: pd.DataFrame, value: str = "auroc") -> pd.DataFrame:
    """Mean and std over trials of ``value`` per (id_set, arch, ood_set, configuration)."""
    keys = ["id_set", "arch", "ood_set", *CONFIG, "diagnostic"]
    g = scores.groupby(keys, sort=False)[value]
    return pd.DataFrame({"mean": g.mean(), "std": g.std(ddof=1), "n": g.size()}).reset_index()


def auroc_table(scores: pd.DataFrame) -> pd.DataFrame:
    """AUROC (%) mean ± std over trials: rows (ID, arch, OOD set, training, clustering), columns = distance."""
    return trials_table(scores.to_dict("records"), ["id_set", "arch", "ood_set", "training", "clustering"],
                        "distance", "auroc", digits=1)


def who_wins(scores: pd.DataFrame) -> pd.DataFrame:
    """Per (ID, arch, OOD set and their mean): the best configuration by mean AUROC, its margin over CE +
    cosine + class centroids, and the best of each training method."""
    means = trial_means(with_mean_over_ood(scores))
    means = means[~means["diagnostic"]]
    rows = []
    for (id_set, arch, ood), part in means.groupby(["id_set", "arch", "ood_set"], sort=False):
        best = part.loc[part["mean"].idxmax()]
        ref = part[(part["training"] == REFERENCE[0]) & (part["clustering"] == REFERENCE[1])
                   & (part["distance"] == REFERENCE[2])]
        ref_mean = float(ref["mean"].iloc[0]) if len(ref) else np.nan
        row = {"id_set": id_set, "arch": arch, "ood_set": ood,
               "winner": f"{best['training']} / {best['clustering']} / {best['distance']}",
               "winner_training": best["training"], "winner_auroc": format_mean_std(best["mean"], best["std"], 1),
               "winner_mean": float(best["mean"]), "ce_cosine_s1": ref_mean,
               "margin_over_ce_cosine_s1": float(best["mean"] - ref_mean)}
        for t in part["training"].unique():
            row[f"best {t}"] = float(part[part["training"] == t]["mean"].max())
        rows.append(row)
    return pd.DataFrame(rows)


def threshold_table(thresholds: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """TPR-ID and TNR-OOD (%, mean ± std over trials of the mean over OOD sets) of T1-T3 for each training
    row at its best configuration (highest mean AUROC over OOD sets and trials, diagnostics excluded)."""
    means = trial_means(with_mean_over_ood(scores))
    means = means[(means["ood_set"] == MEAN_OOD) & ~means["diagnostic"]]
    best = means.loc[means.groupby(["id_set", "arch", "training"], sort=False)["mean"].idxmax()]
    chosen = best[["id_set", "arch", "training", "clustering", "distance"]]
    th = thresholds.merge(chosen, on=list(chosen.columns))
    per_trial = th.groupby(["id_set", "arch", "training", "clustering", "distance", "threshold", "trial"],
                           as_index=False)[["tpr_id", "tnr_ood", "balanced_acc"]].mean()
    long = per_trial.melt(id_vars=["id_set", "arch", "training", "clustering", "distance", "threshold", "trial"],
                          value_vars=["tpr_id", "tnr_ood"], var_name="rate", value_name="value")
    long["rate"] = long["rate"].map({"tpr_id": "TPR-ID (%)", "tnr_ood": "TNR-OOD (%)"})
    return trials_table(long.to_dict("records"), ["id_set", "arch", "training", "clustering", "distance"],
                        ["threshold", "rate"], "value", digits=1)


def separation_table(sep: pd.DataFrame) -> pd.DataFrame:
    """Separation diagnostics mean ± std over trials on the ID test embeddings, per training row."""
    names = {"silhouette": "silhouette (cosine, higher = separated)", "intra_inter": "intra / inter (lower)",
             "davies_bouldin": "Davies-Bouldin (lower)", "knn_purity": "10-NN purity (higher)"}
    long = sep.melt(id_vars=["id_set", "arch", "trial", "training"], value_vars=list(names), var_name="metric")
    long["metric"] = long["metric"].map(names)
    return trials_table(long.to_dict("records"), ["id_set", "arch", "training"], "metric", "value", digits=3)


def cost_table(cost: pd.DataFrame) -> pd.DataFrame:
    """Training wall-clock seconds and ID test accuracy (softmax head for CE, linear probe otherwise)."""
    long = cost.melt(id_vars=["id_set", "arch", "trial", "training"], value_vars=["train_seconds", "accuracy"],
                     var_name="metric")
    long["metric"] = long["metric"].map({"train_seconds": "training time (s)", "accuracy": "ID test accuracy (%)"})
    return trials_table(long.to_dict("records"), ["id_set", "arch", "training"], "metric", "value", digits=1)


def _ratio(cost: pd.DataFrame, id_set=None, per_step: bool = False) -> float:
    """Mean contrastive over mean CE training wall time (of a model, or of one step with ``per_step``)."""
    part = cost if id_set is None else cost[cost["id_set"] == id_set]
    seconds = part["train_seconds"] / part["steps"] if per_step else part["train_seconds"]
    ce = seconds[part["training"] == "CE"].mean()
    con = seconds[part["training"].isin(CONTRASTIVE)].mean()
    return float(con / ce) if ce > 0 else np.nan


def stability_table(means: pd.DataFrame) -> pd.DataFrame:
    """Kendall tau between the AUROC rankings of the non-diagnostic configurations (:func:`trial_means`),
    across OOD sets (same ID set and architecture), then across architectures (same ID set and OOD set)."""
    clean = means[~means["diagnostic"]].rename(columns={"mean": "auroc"})
    return pd.concat([
        rank_stability(clean, config_cols=CONFIG, condition_col="ood_set", group_cols=("id_set", "arch")),
        rank_stability(clean, config_cols=CONFIG, condition_col="arch", group_cols=("id_set", "ood_set")),
    ], ignore_index=True)


def real_id_sets(id_sets) -> set:
    """The ID sets that are the real datasets (CIFAR), not stand-ins: where C3 and C4 can be tested."""
    return {i for i in id_sets if i.startswith("cifar")}


def describe_claims(claims: pd.DataFrame) -> str:
    """The verdicts of :func:`claim_verdicts` as text, one paragraph a claim."""
    return "\n".join(f"{c.claim} ({c.statement}): {c.verdict.upper()}. {c.evidence}\n" for c in claims.itertuples())


def claim_verdicts(scores, sep, cost, stability, *, few_class: str, many_class: str, real: set) -> pd.DataFrame:
    """C1-C5: verdict ("supported" | "not supported" | "mixed" | "not testable here") with the numbers.
    ``few_class`` / ``many_class`` name the ID sets playing CIFAR-10 / CIFAR-100; ``real`` the ID sets that
    are the real datasets (C3 / C4 are testable only on those)."""
    wins = who_wins(scores)
    cells = wins[wins["ood_set"] != "mean over OOD sets"]
    pen = sep[sep["training"].isin(["SupCon", "SimCLR"])]
    piv = pen.groupby(["id_set", "arch", "training"])[["silhouette", "knn_purity", "intra_inter"]].mean().unstack()
    rows = []
    # C1
    if len(piv) and ("silhouette", "SupCon") in piv and ("silhouette", "SimCLR") in piv:
        better = (piv[("silhouette", "SupCon")] > piv[("silhouette", "SimCLR")]) & \
                 (piv[("intra_inter", "SupCon")] < piv[("intra_inter", "SimCLR")])
        text = "; ".join(f"{i}/{a}: silhouette SupCon {piv.loc[(i, a), ('silhouette', 'SupCon')]:.2f} vs SimCLR "
                         f"{piv.loc[(i, a), ('silhouette', 'SimCLR')]:.2f}, 10-NN purity "
                         f"{piv.loc[(i, a), ('knn_purity', 'SupCon')]:.2f} vs {piv.loc[(i, a), ('knn_purity', 'SimCLR')]:.2f}"
                         for i, a in piv.index)
        verdict = "supported" if better.all() else "not supported" if not better.any() else "mixed"
        rows.append(("C1", "SupCon forms well-separated class clusters, SimCLR does not", verdict, text))
    else:
        rows.append(("C1", "SupCon forms well-separated class clusters, SimCLR does not", "not testable here",
                     "SupCon and SimCLR were not both trained"))
    # C2
    n_winners = cells["winner"].nunique()
    tau = stability["kendall_tau"] if len(stability) else pd.Series(dtype=float)
    verdict = "supported" if n_winners > 1 and (len(tau) == 0 or tau.mean() < 0.9) else "not supported"
    rows.append(("C2", "no configuration wins everywhere; rankings change with architecture and ID/OOD pair",
                 verdict, f"{n_winners} different winners over {len(cells)} (ID, arch, OOD) cells; Kendall tau between "
                 f"configuration rankings: mean {tau.mean():.2f}, range {tau.min():.2f} to {tau.max():.2f} "
                 f"over {len(tau)} pairs" if len(tau) else f"{n_winners} different winners over {len(cells)} cells"))
    # C3, C4
    for claim, id_set, text in (("C3", few_class, "with CIFAR-10 as ID, contrastive (SupCon) training gives the best OOD detection"),
                                ("C4", many_class, "with CIFAR-100 as ID, CE + cosine beats every contrastive method")):
        part = wins[(wins["id_set"] == id_set) & (wins["ood_set"] == MEAN_OOD)]
        if part.empty:
            rows.append((claim, text, "not testable here", f"ID set {id_set!r} was not run"))
            continue
        if claim == "C3":
            ok = part["winner_training"].str.startswith("SupCon")
            detail = "; ".join(f"{r.arch}: winner {r.winner} ({r.winner_auroc})" for r in part.itertuples())
        else:
            ce_cos = trial_means(with_mean_over_ood(scores))
            ce_cos = ce_cos[(ce_cos["id_set"] == id_set) & (ce_cos["ood_set"] == MEAN_OOD) & ~ce_cos["diagnostic"]]
            ok, parts = [], []
            for arch in part["arch"]:
                a = ce_cos[ce_cos["arch"] == arch]
                best_cecos = a[(a["training"] == "CE") & (a["distance"] == "cosine")]["mean"].max()
                best_con = a[a["training"].str.startswith(CONTRASTIVE)]["mean"].max()
                ok.append(best_cecos > best_con)
                parts.append(f"{arch}: best CE + cosine {best_cecos:.1f} vs best contrastive {best_con:.1f}")
            ok, detail = pd.Series(ok), "; ".join(parts)
        verdict = "supported" if ok.all() else "not supported" if not ok.any() else "mixed"
        if id_set not in real:
            verdict = f"not testable here (stand-in shows: {verdict})"
        rows.append((claim, text, verdict, f"AUROC mean over OOD sets, {id_set}: {detail}"))
    # C5
    means = trial_means(with_mean_over_ood(scores))
    means = means[(means["ood_set"] == MEAN_OOD) & ~means["diagnostic"]]
    gaps = []
    for (i, a), part in means.groupby(["id_set", "arch"]):
        gaps.append(part[part["training"] == "CE"]["mean"].max() - part[part["training"].str.startswith(CONTRASTIVE)]["mean"].max())
    gaps = np.array(gaps)
    ratio, per_step = _ratio(cost), _ratio(cost, per_step=True)
    steps_ce = int(cost[cost.training == "CE"]["steps"].max())
    steps_con = int(cost[cost.training != "CE"]["steps"].max())
    competitive = bool(np.all(gaps > -2.0))
    gap_text = ("best CE minus best contrastive AUROC per (ID, arch): " + ", ".join(f"{g:+.1f}" for g in gaps)
                + " (competitive = within 2 points)")
    if steps_con < steps_ce:
        # the profile gave the contrastive models the shorter schedule: their wall time is the budget's, not the method's
        verdict = f"not testable here (stand-in shows: {'competitive' if competitive else 'not competitive'})"
        text = (f"the contrastive models trained {steps_con} steps against CE's {steps_ce} (this profile's budgets), so "
                f"their {ratio:.1f}x of a CE model's wall time says nothing of the methods' cost; a contrastive step (two "
                f"views an image) cost {per_step:.1f}x a CE step of the same batch; {gap_text}")
    else:
        verdict = "supported" if ratio > 1 and competitive else "mixed" if ratio > 1 else "not supported"
        text = (f"a contrastive model took {ratio:.1f}x a CE model's training wall time (steps: CE {steps_ce}, "
                f"contrastive {steps_con}; {per_step:.1f}x a step; see the cost table); {gap_text}")
    rows.append(("C5", "CE is competitive at a fraction of the training cost", verdict, text))
    return pd.DataFrame(rows, columns=["claim", "statement", "verdict", "evidence"])
