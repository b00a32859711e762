"""One line per notebook for the README's "What the quick profile gives (recorded)" table: the
hand-written sentences of that section, with every number read from the profile's files.

Each function takes a :class:`build.Report` and returns the line; a file that is not there makes
the line say which file is missing (never a zero).
"""

from __future__ import annotations

import pandas as pd

from ood_helpers.embedding_ood import experiments as X
from ood_helpers.homogeneity import paper_values as MAIN
from ood_helpers.report import paper_map as PM
from ood_helpers.report.deviations import deviations
from ood_helpers.report.scorecard import FIG2_NEEDS, VERDICTS
from ood_helpers.report.sources import Missing


class _Absent(Exception):
    pass


def _need(x):
    if isinstance(x, Missing):
        raise _Absent(f"missing: `{x.path.name}` not written")
    return x


def _frame(report, name):
    return _need(next(e.frame for e in report.tables if e.spec.name == name))


def _mean(frame: pd.DataFrame, **keys) -> float:
    sel = frame
    for k, v in keys.items():
        sel = sel[sel[k].astype(str) == str(v)]
    if sel.empty:
        raise _Absent(f"missing: no row {keys}")
    return float(sel["mean"].iloc[0])


def _ms(frame, digits=1, **keys) -> str:
    sel = frame
    for k, v in keys.items():
        sel = sel[sel[k].astype(str) == str(v)]
    if sel.empty:
        raise _Absent(f"missing: no row {keys}")
    m, s = float(sel["mean"].iloc[0]), float(sel["std"].iloc[0])
    return f"{m:.{digits}f}" if pd.isna(s) else f"{m:.{digits}f} ± {s:.{digits}f}"


def _pct(value: float) -> str:
    return "–" if pd.isna(value) else f"{value:.1f} %"


# how a verdict reads in a headline sentence ("the paper's gain ...")
SHOWS = {"reproduced": "shows", "not reproduced": "does **not** show", "inconclusive": "is inconclusive here",
         "not testable here": "is not testable here", "missing": "is missing"}


def _bold(verdict: str) -> str:
    return f"**{verdict}**" if verdict in ("not reproduced", "inconclusive") else verdict


def _claim(report, start: str):
    return next(c for c in report.claims if c.claim.startswith(start))


def nb00(r):
    t = _need(r.sources.table("dataset_sizes"))
    first = t[t["dataset"] == t["dataset"].iloc[0]].set_index("split")
    return (f"{first['classes'].iloc[0]} classes of {t['dataset'].iloc[0]}, "
            + " / ".join(f"{int(first.loc[s, 'images']):,}" for s in ("train", "val", "test")) + " images")


def nb01(r):
    t = _frame(r, "table_gbp_similarity")
    sub, untrained = t[t["comparison"] == "subset model"]["mean"], t[t["comparison"] == "untrained"]["mean"]
    return (f"guided-backprop maps of never-trained classes: Spearman {sub.min():.2f}-{sub.max():.2f} with the "
            f"all-classes maps, but an *untrained* network scores {untrained.min():.2f}-{untrained.max():.2f}, "
            "so the maps cannot carry the paper's claim here" if untrained.max() >= sub.max() else
            f"guided-backprop maps of never-trained classes: Spearman {sub.min():.2f}-{sub.max():.2f} with the "
            f"all-classes maps, an untrained network {untrained.min():.2f}-{untrained.max():.2f}")


def nb02(r):
    t = _frame(r, "table_pretrain_accuracy")
    roles = {v: k for k, v in PM._range_roles(t["range"]).items()}
    seen = _mean(t, network=MAIN.M_SEEN, metric="top-1", range=roles.get("seen"))
    full = _mean(t, network=MAIN.M_ALL, metric="top-1", range=roles.get("all"))
    return (f"ResNet-18 top-1 {seen:.1f} % (seen, {roles.get('seen')}), {full:.1f} % (all, {roles.get('all')}); "
            "paper 71.56 / 69.96 on ImageNet")


def nb03(r):
    t = _need(r.sources.table("homogeneity_vs_nn")).set_index("method")
    col = t.columns[0]
    fig2 = _need(r.sources.table("fig2_overfitting_summary"))
    shows = "shows" if all(str(v) == "True" for v in fig2["paper_pattern"]) else "does not show"
    vals = {k: float(v) for k, v in t[col].items()}
    head = next((v for k, v in vals.items() if "head stage" in k), float("nan"))
    kept = next((v for k, v in vals.items() if "checkpoint kept" in k), float("nan"))
    cos = next((v for k, v in vals.items() if k.startswith("cosine NN, pretrained")), float("nan"))
    return (f"head stage on cached embeddings, then joint steps: eq. 1 top-1 over the validation classes "
            f"{_pct(head)} after the head stage, {_pct(kept)} at the checkpoint kept, cosine NN {_pct(cos)}; "
            f"Fig. 2's overfitting {_fig2(r, shows)}")


def _fig2(r, shows: str) -> str:
    claim = _claim(r, "the homogeneity model overfits")
    if claim.verdict != "not testable here":
        return shows
    changed = [d for d in deviations("000", r.profile) if d.field in FIG2_NEEDS]
    fields = ", ".join(dict.fromkeys(d.category for d in changed))
    return f"{shows}, but the claim is not testable here (this profile changes its recipe: {fields})"


def nb04(r):
    t = _frame(r, "table1_ood_classification")
    every = next(k for k, v in PM._range_roles(t["range"]).items() if v == "all")
    claim = _claim(r, "class homogeneity classifies")
    return (f"Table 1 top-1 on {every}: class homogeneity {_ms(t, method=MAIN.M_HOM, metric='top-1', range=every)} "
            f"(paper 54.59), euclidean NN on pretrained embeddings "
            f"{_ms(t, method=MAIN.M_NN_EUC_PRE, metric='top-1', range=every)} (paper 48.95); class homogeneity best on "
            f"unseen classes (Tables 1-2, paired intervals): {_bold(claim.verdict)} ({claim.ordering})")


def nb05(r):
    t = _frame(r, "table4_ood_clustering")
    last = list(dict.fromkeys(t["classes"]))[-1]
    return (f"Table 4 on {last}: greedy homogeneity clustering {_ms(t, method=MAIN.GREEDY_ROW, classes=last)}, "
            f"average linkage (ours) {_ms(t, method=MAIN.AGGLOMERATIVE_ROW, classes=last)}, "
            f"k-means {_ms(t, method=MAIN.KMEANS_ROW, classes=last)}; the DBSCAN rows use t-SNE's 2020 settings, "
            "which scatter small ranges into singletons (notebook 05)")


def nb06(r):
    auroc, acc = _frame(r, "cac_table2_auroc"), _frame(r, "cac_table3_accuracy")
    parts = []
    for ds in dict.fromkeys(auroc["dataset"]):
        parts.append(f"{ds}: AUROC CAC {_ms(auroc, 3, method='CAC (ours)', dataset=ds)} vs CE + MSP trained the "
                     f"same way {_ms(auroc, 3, method='CE + MSP (ours, same recipe)', dataset=ds)}, accuracy "
                     f"{_ms(acc, 3, method='CAC (ours)', dataset=ds)} vs "
                     f"{_ms(acc, 3, method='CE + MSP (ours, same recipe)', dataset=ds)}")
    peer = auroc[auroc["method"] == "CAC as implemented in pytorch-ood"]
    parts += [f"pytorch-ood's CACLoss {_ms(peer, 3, dataset=ds)} on {ds}" for ds in peer["dataset"]]
    return "CAC (paper 004) on stand-ins: " + "; ".join(parts) + "; paper 0.985 AUROC on MNIST"


def nb07(r):
    t = _frame(r, "emb_table2_heldout_digits")
    a = t[(t["detector"] == X.OURS) & (t["metric"] == "auroc")]
    plain = t[(t["detector"] == "J_r, plain AE") & (t["metric"] == "auroc")].set_index("split")["mean"]
    below = sum(float(m) < plain.get(sp, float("nan")) for sp, m in zip(a["split"], a["mean"]))
    claim = _claim(r, "the full model's reconstruction")
    return (f"autoencoder + clustering loss + classifier (paper 002), held-out digit pairs: the full model's "
            f"reconstruction-error AUROC {a['mean'].min():.1f}-{a['mean'].max():.1f} % against the paper's "
            f"{a['paper'].min():.1f}-{a['paper'].max():.1f}, below the plain autoencoder on {below} of {len(a)} "
            f"splits; the paper's gain over the H&G baseline: {_bold(claim.verdict)}")


def nb08(r):
    t = _need(r.sources.table("cg_claims"))
    return "distance to clusters (paper 001) on stand-ins, claims of the abstract: " + ", ".join(
        f"{c} {v}" for c, v in zip(t["claim"], t["verdict"]))


def nb09(r):
    t = _frame(r, "pl_table2_ood_without_labels")
    ours, dn2 = "Ours: SCAN pseudo-labels, fine-tune, average", "DN2: source features, no adaptation"
    claim = _claim(r, "Ours beats DN2")
    return (f"pseudo-label kNN (paper 003), near anomalies: ours {_ms(t, method=ours, anomaly='near')} vs DN2 "
            f"{_ms(t, method=dn2, anomaly='near')} (paper 93.3 vs 86.5 on CIFAR-10): the paper's gain "
            f"{SHOWS[claim.verdict]}{_near_interval(claim)}")


def _near_interval(claim) -> str:
    near = next((c for c in claim.cells if c.label.startswith("near")), None)
    return "" if near is None else f"; ours − DN2 {near.ours.text(1)}"


def nb10(r):
    t = _frame(r, "discovery_test")
    metric, order = "new-class clustering accuracy %", "shuffled"
    rows = t[(t["metric"] == metric) & (t["order"] == order)]
    shown = [m for m in rows["method"] if m == "Class homogeneity" or m.startswith(("Cosine NN (pretrained", "Distance"))]
    return "online class discovery (beyond paper 000), new-class clustering accuracy (shuffled order): " + ", ".join(
        f"{m} {_ms(t, method=m, order=order, metric=metric)}" for m in shown)


def nb11(r):
    _frame(r, "bench_open_set")
    rank = _need(r.sources.table("bench_ranking"))
    value = next(c for c in rank.columns if c not in ("method", "rank", "mean", "std"))
    top = "; ".join(f"{x['rank']}. {x['method']} {x[value]}" for x in rank.head(3).to_dict("records"))
    return f"open-set benchmark of {len(rank)} methods on one protocol, ranked by {value}: {top}"


def nb12(r):
    counts = {v: sum(c.verdict == v for c in r.claims) for v in VERDICTS}
    return (f"the reproduction report (`figures/{r.profile}/report.md`, `.html`): {len(r.claims)} claims, "
            + ", ".join(f"{n} {v}" for v, n in counts.items() if n))


HEADLINES = {f"{i:02d}": globals()[f"nb{i:02d}"] for i in range(13)}


def headline(report, notebook: str) -> str:
    try:
        return HEADLINES[notebook](report)
    except _Absent as err:
        return str(err)
