"""One verdict per headline claim of the five papers, from the tables this profile's notebooks wrote.

Verdicts: "reproduced", "not reproduced", "not testable here" (the data cannot test it, e.g. a
stand-in for the paper's dataset) and "missing" (the notebook's output is not in the folder).
Each comes with the numbers behind it and, where the paper prints numbers for the methods
compared, the ordering agreement (``compare.Ordering``). A gain counts only above ``MIN_GAIN``
(1 point of a percentage, 0.01 of a fraction), so noise of a few trials does not make a verdict.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from ood_helpers.homogeneity import paper_values as MAIN
from ood_helpers.report import paper_map as PM
from ood_helpers.report.compare import Ordering, comparison, ordering, table_ordering
from ood_helpers.report.registry import table_spec
from ood_helpers.report.sources import Missing, Sources
from ood_helpers.embedding_ood import experiments as X

VERDICTS = ("reproduced", "not reproduced", "not testable here", "missing")
MIN_GAIN = {"percent": 1.0, "fraction": 0.01}
NONE = Ordering(0, 0, math.nan, 0)


@dataclass(frozen=True)
class Claim:
    paper: str
    claim: str
    sources: str  # the files the verdict reads
    verdict: str
    evidence: str
    ordering: Ordering = NONE


def _missing(paper, claim, sources, *found) -> Claim | None:
    gone = [str(f) for f in found if isinstance(f, Missing)]
    return Claim(paper, claim, sources, "missing", "; ".join(gone)) if gone else None


def _truth(value) -> bool:
    return str(value).strip() == "True"


def _pick(frame: pd.DataFrame, **keys) -> pd.DataFrame:
    for k, v in keys.items():
        frame = frame[frame[k].astype(str) == str(v)]
    return frame


def main_unseen_best(src: Sources) -> Claim:
    claim, files = "class homogeneity classifies unseen classes best (Table 1, test classes)", "table1_ood_classification"
    c = comparison(table_spec(files), src)
    if (m := _missing("000", claim, files, c)):
        return m
    roles = PM._range_roles(c["range"])
    test = next((r for r, role in roles.items() if role == "test"), None)
    col = _pick(c, metric="top-1", range=test)
    col = col[col["method"].isin((MAIN.M_HOM, *MAIN.NN_METHODS))]
    hom, others = col[col["method"] == MAIN.M_HOM], col[col["method"] != MAIN.M_HOM]
    if hom.empty or others.empty:
        return Claim("000", claim, files, "not testable here", f"no class-homogeneity or NN row for range {test}")
    best = others.loc[others["mean"].idxmax()]
    h = hom.iloc[0]
    verdict = "reproduced" if h["mean"] > best["mean"] else "not reproduced"
    text = (f"top-1 % on test classes {test}: class homogeneity {h['mean']:.1f} vs best other {best['method']} "
            f"{best['mean']:.1f} (paper {h['paper']:.2f} vs {best['paper']:.2f})")
    return Claim("000", claim, files, verdict, text, ordering(col["mean"], col["paper"]))


def main_overfitting(src: Sources) -> Claim:
    claim, files = "the homogeneity model overfits its training classes (Fig. 2)", "fig2_overfitting_summary"
    t = src.table(files)
    if (m := _missing("000", claim, files, t)):
        return m
    flags = [_truth(v) for v in t["paper_pattern"]]
    verdict = "reproduced" if all(flags) else "not reproduced"
    text = "; ".join(f"variant {r.variant}: unseen accuracy falls {r.unseen_drop_after_best:.2f} points after its best "
                     f"step while seen accuracy gains {r.seen_gain_after_best:.2f} (noise margin {r.noise_margin:.2f}): "
                     f"{'the paper pattern' if f else 'not the paper pattern'}" for r, f in zip(t.itertuples(), flags))
    return Claim("000", claim, files, verdict, text)


def cac_gain(src: Sources) -> Claim:
    claim, files = "CAC raises open-set AUROC over CE with no closed-set accuracy loss (Tables 2-3)", \
        "cac_table2_auroc, cac_table3_accuracy"
    auroc, acc = comparison(table_spec("cac_table2_auroc"), src), comparison(table_spec("cac_table3_accuracy"), src)
    if (m := _missing("004", claim, files, auroc, acc)):
        return m
    cac, ce = PM.CAC_ROWS["table3"]
    tol, parts, ok = MIN_GAIN["fraction"], [], []
    for ds in dict.fromkeys(auroc["dataset"]):
        a, b = _pick(auroc, method=cac, dataset=ds), _pick(auroc, method="CE + MSP (ours, same recipe)", dataset=ds)
        x, y = _pick(acc, method=cac, dataset=ds), _pick(acc, method="CE + MSP (ours, same recipe)", dataset=ds)
        if a.empty or b.empty or x.empty or y.empty:
            continue
        gain, loss = a["mean"].iloc[0] - b["mean"].iloc[0], x["mean"].iloc[0] - y["mean"].iloc[0]
        ok.append(gain > tol and loss >= -tol)
        parts.append(f"{ds}: AUROC {a['mean'].iloc[0]:.3f} vs {b['mean'].iloc[0]:.3f} ({gain:+.3f}), "
                     f"accuracy {x['mean'].iloc[0]:.3f} vs {y['mean'].iloc[0]:.3f} ({loss:+.3f})")
    if not ok:
        return Claim("004", claim, files, "not testable here", "no dataset with both CAC and CE rows")
    verdict = "reproduced" if all(ok) else "not reproduced"
    text = "CAC vs CE + MSP, " + "; ".join(parts) + f" (a gain counts above {tol}, a loss below -{tol})"
    return Claim("004", claim, files, verdict, text, table_ordering(table_spec("cac_table3_accuracy"), acc))


def _gain_claim(paper, claim, files, frame, key, a, b, cells, unit="percent") -> Claim:
    """Reproduced when row ``a`` beats row ``b`` (``key`` column) by more than MIN_GAIN in every cell of ``cells``
    (a list of {column: value} selections)."""
    tol, parts, ok = MIN_GAIN[unit], [], []
    for sel in cells:
        x, y = _pick(frame, **{key: a}, **sel), _pick(frame, **{key: b}, **sel)
        if x.empty or y.empty:
            continue
        gain = x["mean"].iloc[0] - y["mean"].iloc[0]
        ok.append(gain > tol)
        parts.append(f"{', '.join(map(str, sel.values()))}: {x['mean'].iloc[0]:.1f} vs {y['mean'].iloc[0]:.1f} ({gain:+.1f})")
    if not ok:
        return Claim(paper, claim, files, "not testable here", f"no cell with both {a!r} and {b!r}")
    verdict = "reproduced" if all(ok) else "not reproduced"
    return Claim(paper, claim, files, verdict, f"{a} vs {b}: " + "; ".join(parts) + f" (a gain counts above {tol})")


def emb_claims(src: Sources) -> list[Claim]:
    out = []
    claim, files = "the full model's reconstruction error beats the H&G baseline (Table II, AUROC)", "emb_table2_heldout_digits"
    c = comparison(table_spec(files), src)
    if not (m := _missing("002", claim, files, c)):
        cells = [{"split": s, "metric": "auroc"} for s in dict.fromkeys(c["split"])]
        m = _gain_claim("002", claim, files, c, "detector", X.OURS, X.HG_MODULE, cells)
        auroc = c[c["metric"] == "auroc"]
        auroc.attrs.update(c.attrs)
        m = Claim(m.paper, m.claim, m.sources, m.verdict, m.evidence, table_ordering(table_spec(files), auroc))
    out.append(m)
    claim, files = "the clustering loss improves detection (ablation: full model vs AE + classifier, AUROC)", "emb_table_ablation"
    c = comparison(table_spec(files), src)
    if not (m := _missing("002", claim, files, c)):
        cells = [{"split": s, "column": "AUROC (%)"} for s in dict.fromkeys(c["split"])]
        m = _gain_claim("002", claim, files, c, "model", "full", "AE + classifier", cells)
    out.append(m)
    claim, files = "outlier sifting improves the model (Algorithm 1; 5 % injected noise, AUROC)", "emb_table_sifting"
    c = comparison(table_spec(files), src)
    if not (m := _missing("002", claim, files, c)):
        models = list(dict.fromkeys(c["model"]))
        on, off = (next((x for x in models if x.startswith(p)), None) for p in ("full, sifting", "full, no sifting"))
        cells = [{"column": col} for col in dict.fromkeys(c["column"]) if str(col).startswith("AUROC")]
        m = _gain_claim("002", claim, files, c, "model", on, off, cells)
    out.append(m)
    return out


CG_VERDICTS = {"supported": "reproduced", "not supported": "not reproduced", "mixed": "not reproduced"}


def cluster_game_claims(src: Sources) -> list[Claim]:
    t = src.table("cg_claims")
    if isinstance(t, Missing):
        return [Claim("001", "claims C1-C5 of the abstract", "cg_claims", "missing", str(t))]
    out = []
    for r in t.itertuples():
        v = str(r.verdict)
        verdict = "not testable here" if v.startswith("not testable") else CG_VERDICTS.get(v, "not reproduced")
        note = "" if v in ("supported", "not supported") else f"{v}: "
        out.append(Claim("001", f"{r.claim}: {r.statement}", "cg_claims", verdict, note + str(r.evidence)))
    return out


PL_CLAIMS = {"Ours beats DN2": "pl_table2_ood_without_labels", "Averaged weights beat the last epoch": "pl_weight_averaging"}


def pseudo_label_claims(src: Sources) -> list[Claim]:
    t = src.table("pl_claims")
    out = []
    for prefix, table in PL_CLAIMS.items():
        if isinstance(t, Missing):
            out.append(Claim("003", prefix, "pl_claims", "missing", str(t)))
            continue
        rows = t[t.iloc[:, 0].astype(str).str.startswith(prefix)]
        if rows.empty:
            out.append(Claim("003", prefix, "pl_claims", "not testable here", "no such row in pl_claims"))
            continue
        r = rows.iloc[0]
        c = comparison(table_spec(table), src)
        order = NONE if isinstance(c, Missing) else table_ordering(table_spec(table), c)
        gain = float(r["ours A"]) - float(r["ours B"])
        verdict = "reproduced" if gain > MIN_GAIN["percent"] else "not reproduced"
        text = (f"AUROC % ours {r['ours A']} vs {r['ours B']} ({gain:+.1f}; paper {r['paper A']} vs {r['paper B']}); "
                f"trials with A > B: {r['trials with A > B']} (a gain counts above {MIN_GAIN['percent']})")
        out.append(Claim("003", str(r.iloc[0]), f"pl_claims, {table}", verdict, text, order))
    return out


def scorecard(src: Sources) -> list[Claim]:
    """Every claim of the five papers with its verdict in this profile, papers in order."""
    return [main_unseen_best(src), main_overfitting(src), *cluster_game_claims(src), *emb_claims(src),
            *pseudo_label_claims(src), cac_gain(src)]


def scorecard_frame(claims: list[Claim]) -> pd.DataFrame:
    return pd.DataFrame([{"paper": c.paper, "claim": c.claim, "verdict": c.verdict, "evidence": c.evidence,
                          "ordering": str(c.ordering), "pairs agreeing": c.ordering.agree,
                          "pairs": c.ordering.pairs, "kendall tau": c.ordering.tau, "source": c.sources}
                         for c in claims])
