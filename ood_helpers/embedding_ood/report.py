"""Tables of notebook 07 from the experiments' long records: the paper's "baseline / ours" layout with the
printed values beside, and detailed mean ± std tables (``tables.trials_table``) with every detector."""

from __future__ import annotations

import pandas as pd
import torch

from ood_helpers.core.artifacts import atomic_write_text, output_path, save_table
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


# ===== notebook 07's sections =====


def encoder_layers(s) -> list[str]:
    """The encoder's layers of the MLP settings ``s`` as "in -> out" sizes (784 pixels to the embedding)."""
    return [f"{a} -> {b}" for a, b in zip([784, *s.hidden], [*s.hidden, s.embed_dim])]


def layer_table(model: torch.nn.Module) -> pd.DataFrame:
    """Every linear layer of ``model``: its module name, parameter count and repr (the paper's lost Fig. 3)."""
    return pd.DataFrame([{"module": name, "parameters": sum(q.numel() for q in mod.parameters()), "layer": str(mod)}
                         for name, mod in model.named_modules() if isinstance(mod, (torch.nn.Linear,))])


def write_layer_table(table: pd.DataFrame, profile):
    """Writes :func:`layer_table` as ``emb_fig3_architecture_table.md`` under the profile's figures; returns the path."""
    return atomic_write_text(output_path("emb_fig3_architecture_table", profile, ".md"),
                             "Our layers (the paper's Fig. 3 did not survive extraction):\n\n"
                             + table.to_markdown(index=False) + "\n")


def print_unavailable(unavailable: dict) -> None:
    """Prints one line per OOD set that could not be scored here, with the reason."""
    for name, reason in unavailable.items():
        print(f"not scored: {name}: {reason}")


def table1_detail(records) -> pd.DataFrame:
    """Table I's detail table: every detector and metric per OOD set, the paper's value beside ours."""
    return detail_table(records, "ood_set", paper=table1_paper_lookup({r["ood_set"] for r in records}))


def cifar_section(s, profile, *, offline: bool, device: str, config, seeds):
    """Table I's CIFAR-10 rows where ``s.cifar`` is set: runs them (``experiments.cifar_records``), prints what
    was skipped, saves ``emb_table1_cifar10`` and returns the table; otherwise prints why not and returns None."""
    if not s.cifar:
        print(f"profile {profile.name}: CIFAR-10 rows not run (set extra embedding_ood cifar=true where CIFAR-10 is readable)")
        return None
    cifar_records, cifar_missing = X.cifar_records(s, profile, offline=offline, device=device)
    print_unavailable(cifar_missing)
    cifar_table = detail_table(cifar_records, "ood_set")
    save_table(cifar_table, "emb_table1_cifar10", profile, config=config, seeds=seeds)
    return cifar_table


def describe_claim(table2: pd.DataFrame, records) -> str:
    """One line per held-out split of Table II (``table2`` as :func:`table2` returns it): our J_r AUROC against the
    plain AE and the MSP baseline, and against each held-out digit alone; computed from the run's numbers."""
    summ = table2.attrs["summary"]

    def mean_of(split, det, metric="auroc"):
        sel = summ[(summ.split == split) & (summ.detector == det) & (summ.metric == metric)]
        return float(sel["mean"].iloc[0])

    lines = []
    for split in dict.fromkeys(r["split"] for r in records):
        ours, ae, msp = mean_of(split, X.OURS), mean_of(split, X.AE_SCORE), mean_of(split, X.MSP_BASELINE)
        lines.append(
            f"{split}: AUROC ours (J_r full) {ours:.1f} vs plain AE {ae:.1f} ({'ours higher' if ours > ae else 'plain AE higher'}), "
            f"vs MSP baseline {msp:.1f} ({'ours higher' if ours > msp else 'MSP higher'}); "
            f"held-out digits alone: {mean_of(split, X.OURS, 'auroc_digit_a'):.1f} / {mean_of(split, X.OURS, 'auroc_digit_b'):.1f}")
    return "\n".join(lines)
