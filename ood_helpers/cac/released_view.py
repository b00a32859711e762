"""Notebook 06's rows of the authors' released CIFAR-10 networks (``released``), beside ours and the paper's.

When ``OOD_CAC_WEIGHTS_DIR`` names the release's folder, the five trials are scored once and cached under
``artifacts/<profile>/cac_released/`` (keyed by the weight files, the CIFAR-10 folder and this code); otherwise the
notebook gets only a note saying how to get them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from ood_helpers.core.artifacts import cache_path, code_fingerprint, config_hash, save_table
from ood_helpers.cac import paper_values as PV
from ood_helpers.cac.released import CONFIG_FILE, LABEL, TRIALS, released_table, write_csv
from ood_helpers.cac.trials import METHOD_NAMES

ENV = "OOD_CAC_WEIGHTS_DIR"
METRICS = ("accuracy", "auroc", "aupr", "fpr95")
HOW_TO = (
    f"**Authors' released networks: not shown.** Set `{ENV}` to a folder holding the CIFAR-10 checkpoints the "
    "authors released with their code (`networks/weights/CIFAR10/CIFAR10_<t>_CACclassifierAnchorLoss.pth` and "
    "`CIFAR10_<t>_closedSetClassifier.pth`, t = 0..4, from github.com/dimitymiller/cac-openset) and its "
    "`datasets/config.json`, and `OOD_CIFAR10_DIR` to CIFAR-10 (an image-folder copy or torchvision's files); "
    "then this cell scores them with this package's pipeline (old v1 splits, anchors recomputed from the correctly "
    "classified training images). The same table from a shell: "
    "`python -m ood_helpers.cac.released WEIGHTS_DIR --out released.csv` (docs/004-cac.md).")


class Note(str):
    """Text that a notebook displays as Markdown (``display(Note(...))``)."""

    def _repr_markdown_(self) -> str:
        return str(self)


def cache_key(folder) -> str:
    """16 hex digits over the release's files (names, sizes, modification times), ``OOD_CIFAR10_DIR`` and the
    scoring code."""
    files = sorted(p for p in Path(folder).iterdir() if p.suffix == ".pth" or p.name == CONFIG_FILE)
    stats = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    return config_hash(stats, os.environ.get("OOD_CIFAR10_DIR", ""), code_fingerprint("ood_helpers.cac.released"))


def released_rows(profile, device: str = "cpu", folder=None) -> pd.DataFrame | None:
    """The five trials' rows of the release in ``folder`` (default ``$OOD_CAC_WEIGHTS_DIR``; None when unset),
    computed once per cache key."""
    folder = folder or os.environ.get(ENV)
    if not folder:
        return None
    path = cache_path(profile, "cac_released", cache_key(Path(folder).expanduser()), ".csv")
    if path.is_file():
        return pd.read_csv(path)
    df = released_table(folder, TRIALS, device=device)
    write_csv(df, path)
    return df


def _mean_std(values: pd.Series) -> str:
    return f"{values.mean():.3f} ± {values.std(ddof=1):.3f}" if len(values) > 1 else f"{values.mean():.3f}"


def _summary(df: pd.DataFrame, key: str, label) -> pd.DataFrame:
    """One row per value of ``key``: trials and mean ± std of each metric present."""
    out = df.groupby(key).agg(**{"trials": ("trial", "count")},
                              **{m: (m, _mean_std) for m in METRICS if m in df.columns})
    out.index = [label(k) for k in out.index]
    return out


def beside_ours(released: pd.DataFrame, records=()) -> pd.DataFrame:
    """The release's CAC and CE rows (mean ± std over trials), ours on CIFAR-10 where the profile ran it, and the
    paper's CIFAR10 values (Table 2's CAC AUROC, Table 3's accuracies; its Softmax AUROC is quoted, not this CE)."""
    names = {"cac": "CAC", "ce": "CE + MSP"}
    parts = [_summary(released, "network", lambda n: f"{names[n]}: {LABEL}")]
    parts[0]["checkpoint val. accuracy"] = released.groupby("network")["val_accuracy"].agg(_mean_std).to_numpy()
    ours = pd.DataFrame([{**r, "aupr": r["aupr_out"]} for r in records
                         if r.get("dataset_key") == "cifar10" and r["loss"] in names])
    if len(ours):
        parts.append(_summary(ours, "loss", lambda n: METHOD_NAMES[n]))
    col = PV.COLUMNS.index("CIFAR10")
    parts.append(pd.DataFrame({"accuracy": [f"{PV.TABLE3_ACCURACY['CAC (Ours)'][col]:.3f}",
                                            f"{PV.TABLE3_ACCURACY['Cross-Entropy'][col]:.3f}"],
                               "auroc": [f"{PV.TABLE2_AUROC['CAC (Ours) *'][col]:.3f}", "–"]},
                              index=["CAC (paper, Table 2-3)", "Cross-Entropy (paper, Table 3)"]))
    out = pd.concat(parts)
    out["trials"] = out["trials"].astype("Int64")
    out = out.astype(object).fillna("–")
    out.index.name = "CIFAR-10, old splits"
    return out


def notebook_view(profile, records=(), device: str = "cpu", config=None) -> list:
    """What notebook 06 displays: the note on how to get the rows when ``OOD_CAC_WEIGHTS_DIR`` is unset, else a
    heading, the table beside ours (saved as ``cac_released``) and every trial's rows."""
    released = released_rows(profile, device)
    if released is None:
        return [Note(HOW_TO)]
    table = beside_ours(released, records)
    save_table(table.reset_index(), "cac_released", profile, config=config)
    return [Note(f"**{LABEL}** (`{ENV}` = `{os.environ[ENV]}`); accuracy on the known test images, AUROC / AUPR "
                 "with unknown positive, FPR95 = known images flagged at 95 % of unknowns flagged:"),
            table, released]
