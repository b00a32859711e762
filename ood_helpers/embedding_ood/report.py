"""Tables of notebook 07 from the experiments' long records: the paper's "baseline / ours" layout with the
printed values beside, and detailed mean ± std tables (``tables.trials_table``) with every detector."""

from __future__ import annotations

import pandas as pd

from ood_helpers.core.metrics.ood import COLUMNS
from ood_helpers.core.tables import format_mean_std, summarize_trials, trials_table
from ood_helpers.embedding_ood import datasets as D
from ood_helpers.embedding_ood import experiments as X
from ood_helpers.embedding_ood.paper_values import METRICS, TABLE1, pair_name, table1_cell, table2_cell
from ood_helpers.embedding_ood.typeset import GLYPHS_NAME, LETTERS_NAME
from ood_helpers.embedding_ood.paper_values import TABLE2

EXTRA_COLUMNS = {"fpr95": COLUMNS["fpr95"], "auroc_digit_a": "AUROC (%) of the lower held-out digit alone",
                 "auroc_digit_b": "AUROC (%) of the higher held-out digit alone", "accuracy": "ID test accuracy (%)",
                 "msp_auroc": "AUROC (%) of the model's MSP"}
HEADERS = {**COLUMNS, **EXTRA_COLUMNS}
# our OOD set -> the paper's Table I row it stands for
TABLE1_ROWS = {D.OMNIGLOT: "MNIST/Omniglot", GLYPHS_NAME: "MNIST/Omniglot", D.NOTMNIST: "MNIST/notMNIST",
               LETTERS_NAME: "MNIST/notMNIST", D.CIFAR_GREY: "MNIST/CIFAR-10bw", D.HG_GAUSSIAN: "MNIST/Gaussian",
               D.HG_UNIFORM: "MNIST/Uniform"}


def _cell(summary: pd.DataFrame, key: dict) -> str:
    sel = summary
    for k, v in key.items():
        sel = sel[sel[k] == v]
    if sel.empty:
        return "–"
    row = sel.iloc[0]
    return format_mean_std(row["mean"], row["std"])


def baseline_ours_table(records, row_key: str, paper_rows: dict, paper_cell) -> pd.DataFrame:
    """One row per ``row_key`` value: for each metric "MSP baseline / ours (J_r of the full model)" as
    mean ± std, then the paper's printed "Hendrycks et al. / ours", then our FPR95 (OOD positive)."""
    summary = summarize_trials(records, [row_key, "detector"], "metric", "value")
    rows = []
    for name in dict.fromkeys(r[row_key] for r in records):
        line = {row_key: name}
        for m in METRICS:
            base = _cell(summary, {row_key: name, "detector": X.MSP_BASELINE, "metric": m})
            ours = _cell(summary, {row_key: name, "detector": X.OURS, "metric": m})
            line[f"{COLUMNS[m]}: MSP / ours"] = f"{base} / {ours}"
            paper_row = paper_rows.get(name)
            line[f"{COLUMNS[m]}: paper H&G / ours"] = paper_cell(paper_row, m) if paper_row is not None else "–"
        line[f"{COLUMNS['auroc']}: H&G abnormality module (our reimplementation)"] = _cell(
            summary, {row_key: name, "detector": X.HG_MODULE, "metric": "auroc"})
        line[f"{COLUMNS['fpr95']}: MSP / ours"] = (
            f"{_cell(summary, {row_key: name, 'detector': X.MSP_BASELINE, 'metric': 'fpr95'})} / "
            f"{_cell(summary, {row_key: name, 'detector': X.OURS, 'metric': 'fpr95'})}")
        rows.append(line)
    table = pd.DataFrame(rows).set_index(row_key)
    table.attrs["summary"] = summary
    return table


def table2(records) -> pd.DataFrame:
    pairs = {pair_name(p): p for p in ((0, 1), (2, 3), (4, 5), (6, 7), (8, 9))}
    return baseline_ours_table(records, "split", pairs, table2_cell)


def table1(records) -> pd.DataFrame:
    return baseline_ours_table(records, "ood_set", TABLE1_ROWS, lambda row, m: table1_cell(row, m))


def detail_table(records, row_key: str, paper=None) -> pd.DataFrame:
    """Every detector and metric, mean ± std over trials; the paper's number beside "ours" where printed."""
    recs = [{**r, "column": HEADERS.get(r["metric"], r["metric"])} for r in records]
    return trials_table(recs, [row_key, "detector"], "column", "value", paper=paper)


def table2_paper_lookup() -> dict:
    """{((split, OURS), column): the paper's "Our Method" value} for ``detail_table``."""
    return {((pair_name(p), X.OURS), COLUMNS[m]): v[m][1] for p, v in TABLE2.items() for m in METRICS}


def table1_paper_lookup(sets) -> dict:
    return {((name, X.OURS), COLUMNS[m]): TABLE1[TABLE1_ROWS[name]][m][1]
            for name in sets if name in TABLE1_ROWS for m in METRICS}


def metric_table(records, row_keys, paper=None) -> pd.DataFrame:
    """Ablation / sensitivity / sifting: rows ``row_keys``, one column per metric, mean ± std over trials."""
    recs = [{**r, "column": HEADERS.get(r["metric"], r["metric"])} for r in records]
    return trials_table(recs, row_keys, "column", "value", paper=paper)
