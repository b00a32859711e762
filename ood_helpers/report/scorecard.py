"""One verdict per headline claim of the five papers, from the tables this profile's notebooks wrote.

Verdicts (``VERDICTS``): "reproduced", "not reproduced", "inconclusive" (the 95 % interval holds zero or is
unknown), "not testable here" (the data or the recipe cannot test it: a stand-in for the paper's dataset, or a
profile that changes the part of the recipe the claim is about) and "missing" (the notebook's output is not in the
folder). A claim "A beats B" reads the per-model paired differences of every cell (range, table, dataset) its
sentence covers, with a Student-t interval (``paired``, ``units``, ``claims``); no fixed point threshold. Each
claim carries the profile's deviations from the paper's recipe (``deviations``) and, where the paper prints
numbers for the methods compared, the ordering agreement (``compare.Ordering``).
"""

from __future__ import annotations

import pandas as pd

from ood_helpers.cac import paper_values as CAC
from ood_helpers.embedding_ood import experiments as X
from ood_helpers.embedding_ood import paper_values as EMB
from ood_helpers.homogeneity import paper_values as MAIN
from ood_helpers.pseudo_label import paper_values as PL
from ood_helpers.report import paper_map as PM
from ood_helpers.report.claims import (
    VERDICTS,
    Cell,
    Claim,
    from_cells,
    interval,
    missing,
)
from ood_helpers.report.compare import comparison, table_ordering
from ood_helpers.report.deviations import claim_blocked, marks
from ood_helpers.report.paired import Rule
from ood_helpers.report.registry import table_spec
from ood_helpers.report.sources import Sources
from ood_helpers.report.units import paper_interval

__all__ = ["VERDICTS", "Claim", "scorecard", "scorecard_frame"]

# Fig. 2's overfitting is about the homogeneity model's joint training: a head stage on frozen embeddings or a
# near-frozen encoder changes what it measures, so the claim needs the paper's values of these fields
FIG2_NEEDS = ("head_pretrain_steps", "lr_homogeneity", "lr_homogeneity_encoder")
PAPER_000_TRIALS = 5  # Tables 1-4 of paper 000: mean ± std over five trials
# "no cost in closed-set accuracy": a loss smaller than the smallest AUROC gain the paper itself counts as a gain
# (CAC over Softmax, Table 2, MNIST: 0.985 - 0.978) is no cost
_CAC_GAINS = [c - s for c, s in zip(CAC.TABLE2_AUROC["CAC (Ours) *"], CAC.TABLE2_AUROC["Softmax [6]"])
              if c is not None and s is not None and c > s]
CAC_ACCURACY_MARGIN = round(min(_CAC_GAINS), 3)
CAC_ACCURACY_RULE = Rule("non-inferior", CAC_ACCURACY_MARGIN,
                         "the smallest AUROC gain paper 004 counts as a gain: CAC over Softmax on MNIST, 0.985 - 0.978")


def _homogeneity_cells(src: Sources, name: str, groups) -> list[Cell]:
    """Class homogeneity against each NN method in each ``(label, select, paper_of)`` group of table ``name``;
    ``paper_of(method)`` gives the paper's printed "mean ± std"."""
    trials, summary = src.trials(name), src.summary(name)
    cells = []
    for label, select, paper_of in groups:
        for nn in MAIN.NN_METHODS:
            ours = interval(trials, summary, "method", MAIN.M_HOM, nn, "accuracy", select, scale=100)
            if ours is not None:
                paper = paper_interval(paper_of(MAIN.M_HOM), paper_of(nn), PAPER_000_TRIALS)
                cells.append(Cell(label, ours, paper, vs=nn))
    return cells


def _nth(values, i: int):
    """The paper's i-th growing range (ours match the paper's by position), None beyond its ranges."""
    return values[i] if values is not None and i < len(values) else None


def _closest(cells: list[Cell]) -> list[Cell]:
    """Per label, the comparison with the smallest difference (the strongest NN method there)."""
    by_label: dict[str, Cell] = {}
    for c in cells:
        if c.label not in by_label or c.ours.diff < by_label[c.label].ours.diff:
            by_label[c.label] = c
    return list(by_label.values())


def main_unseen_best(src: Sources) -> Claim:
    claim = ("class homogeneity classifies unseen classes best (Tables 1-2: validation and test classes, "
             "top-1 and top-5)")
    files = "table1_ood_classification, table2_ood_classification_ranges"
    t1, t2 = (comparison(table_spec(n), src) for n in files.split(", "))
    if (m := missing("000", claim, files, t1, t2)):
        return m
    roles = PM._range_roles(t1["range"])
    groups = [(f"Table 1 {metric} on {rng} ({role})", {"metric": metric, "range": rng},
               lambda m, metric=metric, role=role: MAIN.PAPER_TABLE1.get(m, {}).get((metric, role)))
              for metric in ("top-1", "top-5") for rng, role in roles.items() if role in ("val", "test")]
    cells = _homogeneity_cells(src, "table1_ood_classification", groups)
    ranges = PM._by_position(t2["range"])
    groups = [(f"Table 2 top-1 on {rng}", {"range": rng}, lambda m, i=i: _nth(MAIN.PAPER_TABLE2.get(m), i))
              for rng, i in ranges.items()]
    cells += _homogeneity_cells(src, "table2_ood_classification_ranges", groups)
    unseen = [rng for rng, role in roles.items() if role in ("val", "test")]
    order_frame = t1[t1["method"].isin((MAIN.M_HOM, *MAIN.NN_METHODS)) & t1["range"].astype(str).isin(unseen)]
    order_frame.attrs.update(t1.attrs)
    prefix = "class homogeneity minus the strongest NN method of each cell, top-1 / top-5 %: "
    return from_cells("000", claim, files, cells, prefix,
                      table_ordering(table_spec("table1_ood_classification"), order_frame),
                      marks("000", src.profile), shown=_closest(cells))


def main_overfitting(src: Sources) -> Claim:
    claim, files = "the homogeneity model overfits its training classes (Fig. 2)", "fig2_overfitting_summary"
    devs = marks("000", src.profile)
    if (reason := claim_blocked("000", src.profile, FIG2_NEEDS)):
        return Claim("000", claim, files, "not testable here", reason, deviations=devs)
    t = src.table(files)
    if (m := missing("000", claim, files, t)):
        return m
    flags = [str(v).strip() == "True" for v in t["paper_pattern"]]
    verdict = "reproduced" if all(flags) else "not reproduced"
    text = "; ".join(f"variant {r.variant}: unseen accuracy falls {r.unseen_drop_after_best:.2f} points after its best "
                     f"step while seen accuracy gains {r.seen_gain_after_best:.2f} (noise margin {r.noise_margin:.2f}): "
                     f"{'the paper pattern' if f else 'not the paper pattern'}" for r, f in zip(t.itertuples(), flags))
    return Claim("000", claim, files, verdict, text, deviations=devs)


def cac_gain(src: Sources) -> Claim:
    claim = "CAC raises open-set AUROC over CE with no closed-set accuracy loss (Tables 2-3)"
    files, ce = "cac_table2_auroc, cac_table3_accuracy, cac_trials_trials", "CE + MSP (ours, same recipe)"
    auroc, acc = comparison(table_spec("cac_table2_auroc"), src), comparison(table_spec("cac_table3_accuracy"), src)
    if (m := missing("004", claim, files, auroc, acc)):
        return m
    trials, cells = src.trials("cac_trials"), []
    for ds in dict.fromkeys(auroc["dataset"]):
        col = PM._cac_column(str(ds))
        for metric, summary, rule, table, rows in (
                ("auroc", auroc, Rule(), CAC.TABLE2_AUROC, ("CAC (Ours) *", "Softmax [6]")),
                ("accuracy", acc, CAC_ACCURACY_RULE, CAC.TABLE3_ACCURACY, ("CAC (Ours)", "Cross-Entropy"))):
            ours = interval(trials, summary, "method", "CAC (ours)", ce, metric, {"dataset": ds},
                            trained_per_trial=True)
            if ours is None:
                continue
            printed = [table[r][CAC.COLUMNS.index(col)] if col else None for r in rows]
            paper = paper_interval(*printed, 5) if None not in printed else None
            cells.append(Cell(f"{ds}, {metric}", ours, paper, rule, digits=3))
    return from_cells("004", claim, files, cells, "CAC minus CE + MSP trained the same way (paper: CAC minus the "
                      "quoted Softmax for AUROC, minus its own CE for accuracy): ",
                      table_ordering(table_spec("cac_table3_accuracy"), acc), marks("004", src.profile))


def _emb_pairs() -> dict:
    return {EMB.pair_name(p): v for p, v in EMB.TABLE2.items()}


def emb_claims(src: Sources) -> list[Claim]:
    out, devs = [], marks("002", src.profile)
    claim, files = "the full model's reconstruction error beats the H&G baseline (Table II, AUROC)", "emb_table2_heldout_digits"
    c = comparison(table_spec(files), src)
    if not (m := missing("002", claim, files, c)):
        trials, pairs = src.trials(files), _emb_pairs()
        cells = []
        for s in dict.fromkeys(c["split"]):
            ours = interval(trials, c, "detector", X.OURS, X.HG_MODULE, "value", {"split": s, "metric": "auroc"},
                            trained_per_trial=True)
            hg_ours = pairs.get(str(s), {}).get("auroc")
            paper = paper_interval(hg_ours[1], hg_ours[0], 1) if hg_ours else None
            if ours is not None:
                cells.append(Cell(str(s), ours, paper))
        auroc = c[c["metric"] == "auroc"]
        auroc.attrs.update(c.attrs)
        m = from_cells("002", claim, files, cells, f"{X.OURS} minus {X.HG_MODULE}, AUROC %: ",
                       table_ordering(table_spec(files), auroc), devs)
    out.append(m)
    claim, files = "the clustering loss improves detection (ablation: full model vs AE + classifier, AUROC)", "emb_table_ablation"
    c = comparison(table_spec(files), src)
    if not (m := missing("002", claim, files, c)):
        trials = src.trials(files)
        cells = [Cell(str(s), iv) for s in dict.fromkeys(c["split"])
                 if (iv := interval(trials, c, "model", "full", "AE + classifier", "value",
                                    {"split": s, "metric": "auroc"}, summary_select={"split": s, "column": "AUROC (%)"},
                                    trained_per_trial=True))
                 is not None]
        m = from_cells("002", claim, files, cells, "full minus AE + classifier, AUROC %: ", deviations=devs)
    out.append(m)
    claim, files = "outlier sifting improves the model (Algorithm 1; 5 % injected noise, AUROC)", "emb_table_sifting"
    c = comparison(table_spec(files), src)
    if not (m := missing("002", claim, files, c)):
        models = list(dict.fromkeys(c["model"]))
        on, off = (next((x for x in models if x.startswith(p)), None) for p in ("full, sifting", "full, no sifting"))
        cols = [col for col in dict.fromkeys(c["column"]) if str(col).startswith("AUROC")]
        cells = [Cell(str(col), iv) for col in cols
                 if (iv := interval(src.trials(files), c, "model", on, off, "value", {"column": col})) is not None]
        m = from_cells("002", claim, files, cells, f"{on} minus {off}: ", deviations=devs)
    out.append(m)
    return out


CG_VERDICTS = {"supported": "reproduced", "not supported": "not reproduced", "mixed": "not reproduced"}


def cluster_game_claims(src: Sources) -> list[Claim]:
    t = src.table("cg_claims")
    if (m := missing("001", "claims C1-C5 of the abstract", "cg_claims", t)):
        return [m]
    out, devs = [], marks("001", src.profile)
    for r in t.itertuples():
        v = str(r.verdict)
        verdict = "not testable here" if v.startswith("not testable") else CG_VERDICTS.get(v, "not reproduced")
        note = "" if v in ("supported", "not supported") else f"{v}: "
        out.append(Claim("001", f"{r.claim}: {r.statement}", "cg_claims", verdict, note + str(r.evidence),
                         deviations=devs))
    return out


PL_OURS, PL_DN2 = "Ours: SCAN pseudo-labels, fine-tune, average", "DN2: source features, no adaptation"


def pseudo_label_claims(src: Sources) -> list[Claim]:
    devs, out = marks("003", src.profile), []
    claim, files = "Ours beats DN2 (no adaptation) (Table 2: near and far anomalies)", "pl_table2_ood_without_labels"
    c = comparison(table_spec(files), src)
    if not (m := missing("003", claim, files, c)):
        trials = src.trials("pl_table2")
        cells = [Cell(f"{a} anomalies", iv, paper_interval(PL.PAPER_TABLE2.get((PL_OURS, a)),
                                                             PL.PAPER_TABLE2.get((PL_DN2, a)), 3))
                 for a in dict.fromkeys(c["anomaly"])
                 if (iv := interval(trials, c, "method", PL_OURS, PL_DN2, "auroc", {"anomaly": a},
                                    trained_per_trial=True))
                 is not None]
        m = from_cells("003", claim, f"{files}, pl_table2_trials", cells, "ours minus DN2, AUROC %: ",
                       table_ordering(table_spec(files), c), devs)
    out.append(m)
    claim, files = "Averaged weights beat the last epoch (near anomalies)", "pl_weight_averaging"
    c = comparison(table_spec(files), src)
    if not (m := missing("003", claim, files, c)):
        epochs = [col for col in dict.fromkeys(c["column"]) if str(col).startswith("epoch ")]
        last = max(epochs, key=lambda e: int(str(e).split()[1])) if epochs else None
        paper_epochs = [k[1] for k in PL.PAPER_AVERAGING if k[1].startswith("epoch ")]
        paper_last = max(paper_epochs, key=lambda e: int(e.split()[1]))
        iv = interval(src.trials("pl_averaging"), c, "column", "average", last, "auroc", {"anomaly": "near"},
                      trained_per_trial=True) if last else None
        paper = paper_interval(PL.PAPER_AVERAGING[("near", "average")], PL.PAPER_AVERAGING[("near", paper_last)], 3)
        cells = [Cell(f"near anomalies, average vs {last} (paper: vs {paper_last})", iv, paper)] if iv else []
        m = from_cells("003", claim, f"{files}, pl_averaging_trials", cells, "averaged minus last epoch, AUROC %: ",
                       table_ordering(table_spec(files), c), devs)
    out.append(m)
    return out


def scorecard(src: Sources) -> list[Claim]:
    """Every claim of the five papers with its verdict in this profile, papers in order."""
    return [main_unseen_best(src), main_overfitting(src), *cluster_game_claims(src), *emb_claims(src),
            *pseudo_label_claims(src), cac_gain(src)]


def scorecard_frame(claims: list[Claim]) -> pd.DataFrame:
    return pd.DataFrame([{"paper": c.paper, "claim": c.claim, "verdict": c.verdict, "evidence": c.evidence,
                          "paper's numbers under the rule": c.paper_verdict or "–",
                          "deviations from the paper's recipe": "; ".join(c.deviations) or "–",
                          "ordering": str(c.ordering), "pairs agreeing": c.ordering.agree,
                          "pairs": c.ordering.pairs, "kendall tau": c.ordering.tau, "source": c.sources}
                         for c in claims])

