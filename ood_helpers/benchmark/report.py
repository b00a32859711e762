"""The tables of notebook 11 from the runner's per-(row, trial) records: the open-set table (mean ± std over
trials, in percent), the ranking by AUROC, paired comparisons between rows (which gaps exceed the trial-to-trial
spread), and the cost of each row.

Paired, because every row of a trial scores the same images: the difference of two rows on one trial has the
trial's difficulty removed, and its spread over trials is the noise a gap must beat. The test is scipy's paired
t-test (``scipy.stats.ttest_rel``); with 3-5 trials it has 2-4 degrees of freedom, so only large, consistent
gaps pass, and "within the spread" means "not shown here", not "equal".
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ood_helpers.core.metrics.ood import COLUMNS
from ood_helpers.core.tables import format_mean_std, trials_table
from ood_helpers.benchmark.trial import split_fingerprint

METRICS = {**COLUMNS, "accuracy": "closed-set accuracy (%)"}
BASELINE = "CE + MSP"


def splits_table(trials) -> pd.DataFrame:
    """One row per trial: its known and unknown classes, the image counts of each part, the openness and the
    digest every row's record of the trial carries."""
    return pd.DataFrame([{"trial": t.trial, "known": " ".join(map(str, t.data.split.known)),
                          "unknown": " ".join(map(str, t.data.split.unknown)), **t.data.sizes(),
                          "openness (%)": round(100 * t.data.split.openness, 2), "digest": split_fingerprint(t.data)}
                         for t in trials]).set_index("trial")


def long_records(records) -> list[dict]:
    """One record per (row, trial, metric); accuracy only for rows that classify."""
    out = []
    for r in records:
        for key, label in METRICS.items():
            value = r[key]
            if key == "accuracy" and not np.isfinite(value):
                continue
            out.append({"method": r["method"], "trial": r["trial"], "metric": label, "value": value})
    return out


def open_set_table(records, skipped=()) -> pd.DataFrame:
    """Rows in table order, columns the metrics, cells mean ± std over trials in percent ("–": the row does
    not classify), with the paper and notebook each row comes from; a row in ``skipped`` (the runner's
    ``BenchmarkResult.skipped``) is appended with its reason in every cell."""
    table = trials_table(long_records(records), "method", "metric", "value", scale=100.0)
    summary = table.attrs["summary"]
    origin = pd.DataFrame(records).drop_duplicates("method").set_index("method")
    table.insert(0, "paper", origin.loc[table.index, "paper"].to_numpy())
    table.insert(1, "notebook", origin.loc[table.index, "notebook"].astype(str).to_numpy())
    table.insert(2, "trials", pd.DataFrame(records).groupby("method")["trial"].nunique().loc[table.index].to_numpy())
    for row in skipped:
        table.loc[row["method"]] = [row["paper"], row["notebook"], 0] + [f"not run: {row['reason']}"] * (table.shape[1] - 3)
    table.attrs["summary"] = summary
    return table


def _wide(records, metric: str = "auroc") -> pd.DataFrame:
    """[trial x method] of ``metric`` in percent, methods in table order."""
    df = pd.DataFrame(records)
    order = list(dict.fromkeys(df["method"]))
    return (100 * df.pivot(index="trial", columns="method", values=metric))[order]


def ranking_table(records, metric: str = "auroc") -> pd.DataFrame:
    """Rows ranked by mean ``metric`` (higher first; FPR95 lower first), with mean ± std, the mean of the
    per-trial ranks and the trials each row was best in."""
    wide = _wide(records, metric)
    ascending = metric == "fpr95"
    per_trial_rank = wide.rank(axis=1, ascending=ascending, method="average")
    best = per_trial_rank.eq(1.0).sum()
    mean, std = wide.mean(), wide.std(ddof=1)
    order = mean.sort_values(ascending=ascending, kind="stable").index
    out = pd.DataFrame({
        "rank": np.arange(1, len(order) + 1),
        f"{METRICS[metric]}": [format_mean_std(mean[m], std[m]) for m in order],
        "mean": mean[order].round(4).to_numpy(), "std": std[order].round(4).to_numpy(),
        "mean rank over trials": per_trial_rank.mean()[order].round(2).to_numpy(),
        "trials best": best[order].to_numpy(),
    }, index=pd.Index(order, name="method"))
    return out


def paired_comparison(a: np.ndarray, b: np.ndarray, alpha: float) -> dict:
    """Mean and std of the per-trial differences a - b, the paired t-test's p-value, and the verdict."""
    diff = np.asarray(a, float) - np.asarray(b, float)
    std = float(np.std(diff, ddof=1)) if diff.size > 1 else float("nan")
    if diff.size < 2:
        p = float("nan")
    elif np.allclose(diff, diff[0]):  # no spread at all: the t-statistic is undefined
        p = 0.0 if abs(diff[0]) > 1e-12 else 1.0
    else:
        p = float(stats.ttest_rel(a, b).pvalue)
    verdict = ("one trial: no spread to compare with" if diff.size < 2 else
               "exceeds the trial spread" if p < alpha else "within the trial spread")
    return {"mean difference": float(diff.mean()), "std of differences": std, "p (paired t)": p,
            "trials a > b": int((diff > 0).sum()), "trials": int(diff.size), "verdict": verdict}


def significance_table(records, alpha: float = 0.05, metric: str = "auroc") -> pd.DataFrame:
    """Each row against the next one down the ranking, and every row against CE + MSP (the common baseline):
    the paired difference of ``metric`` (percent points) over the shared trials and whether it exceeds the
    trial-to-trial spread at level ``alpha``."""
    wide = _wide(records, metric).dropna(axis=0, how="any")
    ranked = list(ranking_table(records, metric).index)
    pairs = [(ranked[i], ranked[i + 1], "next in the ranking") for i in range(len(ranked) - 1)]
    if BASELINE in wide:
        pairs += [(m, BASELINE, "against the baseline") for m in ranked if m != BASELINE]
    rows = [{"a": a, "b": b, "comparison": kind, **paired_comparison(wide[a].to_numpy(), wide[b].to_numpy(), alpha)}
            for a, b, kind in pairs]
    out = pd.DataFrame(rows)
    for col in ("mean difference", "std of differences"):
        out[col] = out[col].round(2)
    out["p (paired t)"] = out["p (paired t)"].round(4)
    return out


def timing_table(records) -> pd.DataFrame:
    """Per row: training and scoring seconds per trial (mean over trials, as measured by the run that computed
    each result; 0 means the networks were loaded from another notebook's cache) and scoring throughput."""
    df = pd.DataFrame(records)
    g = df.groupby("method", sort=False)
    images = (df["n_known"] + df["n_unknown"]).groupby(df["method"], sort=False).mean()
    out = pd.DataFrame({
        "train s / trial": g["train_seconds"].mean().round(2),
        "score s / trial": g["score_seconds"].mean().round(3),
        "test images / trial": images.astype(int),
        "images scored / s": (images / g["score_seconds"].mean().clip(lower=1e-6)).round(0).astype(int),
    })
    out.index.name = "method"
    return out


def statement(significance: pd.DataFrame, alpha: float) -> str:
    """Plain words on which gaps of the ranking exceed the trial spread."""
    nxt = significance[significance["comparison"] == "next in the ranking"]
    base = significance[significance["comparison"] == "against the baseline"]
    exceeds = [f"{r.a} > {r.b} ({r['mean difference']:+.1f} points, p = {r['p (paired t)']:.3f})"
               for _, r in nxt.iterrows() if r["verdict"] == "exceeds the trial spread"]
    over = [f"{r.a} ({r['mean difference']:+.1f})" for _, r in base.iterrows()
            if r["verdict"] == "exceeds the trial spread"]
    n = int(significance["trials"].max()) if len(significance) else 0
    lines = [f"Paired t-tests over {n} trials at level {alpha}:"]
    lines.append("neighbours in the ranking separated beyond the trial spread: " + ("; ".join(exceeds) or "none") + ".")
    lines.append(f"rows whose gap to {BASELINE} exceeds the trial spread: " + (", ".join(over) or "none") + ".")
    return " ".join(lines)
