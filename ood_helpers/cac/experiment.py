"""The notebook's runs and tables: Tables 2-3 (+ FPR95 / AUPR / openness), the sweeps of Fig. 2 and the
ablation of Fig. 3, every trial seeded by ``seeding.trial_seed(profile.seed, trial)``."""

from __future__ import annotations

import pandas as pd

from ood_helpers.core.metrics.ood import COLUMNS
from ood_helpers.core.seeding import seed_everything, trial_seed
from ood_helpers.core.tables import trials_table
from ood_helpers.cac import paper_values as PV
from ood_helpers.cac.data import load_trial
from ood_helpers.cac.settings import CACSettings
from ood_helpers.cac.splits import open_set_split
from ood_helpers.cac.training import recipe_for
from ood_helpers.cac.trials import METHOD_NAMES, run_trial

QUOTED_CELL = "quoted, not re-run"


def dataset_label(name: str, s: CACSettings) -> str:
    """The column name of ``name``: stand-ins say what they stand in for, on which network."""
    if name == "mnist5k":
        epochs = "+".join(map(str, s.epochs)) if s.epochs else "35"
        return f"MNIST-5000 stand-in for MNIST (width {s.width:g}, {epochs} ep)"
    if name == "digits":
        return f"digits-8x8 stand-in for MNIST (MLP, {s.digits_epochs} ep)"
    return PV.PAPER_COLUMN[name]


def recipe(name: str, s: CACSettings):
    if name == "digits":
        return recipe_for("digits", epochs=(s.digits_epochs,))
    changes = {"width": s.width}
    if s.epochs:
        base = recipe_for(name)
        changes.update(epochs=tuple(s.epochs), lrs=base.lrs[: len(s.epochs)] + (0.001,) * (len(s.epochs) - len(base.lrs)))
    return recipe_for(name, **changes)


def run_losses(p, s: CACSettings, name: str, losses, trials: int, device: str = "cpu", **hyper) -> list:
    """TrialOutcomes of every loss on the first ``trials`` splits of dataset ``name``."""
    out = []
    for t in range(trials):
        data = load_trial(name, t, per_class=s.per_class, version=s.split_version, download=s.download)
        for loss in losses:
            seed = trial_seed(p.seed, t)
            seed_everything(seed)
            outcome = run_trial(data, loss, recipe(name, s), profile=p, seed=seed, device=device,
                                label=dataset_label(name, s), **hyper)
            outcome.record["dataset_key"] = name
            out.append(outcome)
    return out


TABLE_LOSSES = ("cac", "ce", "peer")  # the rows of Tables 2-3 and of the metrics table
ABLATION_LOSSES = ("anchor", "tuplet", "cac", "ce")  # Fig. 3's bars, in order


def run_all(p, s: CACSettings, device: str = "cpu") -> dict[str, list]:
    """Notebook 06's trials, ``{dataset: [TrialOutcome]}``: CAC and CE (and pytorch-ood's loss where
    ``s.peer_datasets`` names the set) on every dataset column, ``s.trials`` each; then the digits stand-in with
    the two ablations of Fig. 3 as well, ``s.digits_trials``."""
    outcomes = {}
    for name in s.datasets:
        losses = ["cac", "ce"] + (["peer"] if name in s.peer_datasets else [])
        outcomes[name] = run_losses(p, s, name, losses, s.trials, device)
    digit_losses = ["cac", "ce", "anchor", "tuplet"] + (["peer"] if "digits" in s.peer_datasets else [])
    outcomes["digits"] = run_losses(p, s, "digits", digit_losses, s.digits_trials, device)
    return outcomes


def outcome_records(outcomes: dict[str, list]) -> list[dict]:
    """Every trial's record, dataset by dataset (the ``cac_trials`` results)."""
    return [o.record for runs in outcomes.values() for o in runs]


def table_records(records) -> list[dict]:
    """The records of the table rows: CAC, CE + MSP and the peer (not the ablations)."""
    return [r for r in records if r["loss"] in TABLE_LOSSES]


def describe_training(records) -> str:
    """How many networks the records hold and their training seconds (0 for a network loaded from the cache)."""
    return (f"{len(records)} trained networks; training seconds (0 = loaded from the cache): "
            f"{sum(r['train_seconds'] for r in records):.1f}")


def anchors_table(records) -> pd.DataFrame:
    """Per dataset column: CAC's mean AUROC with the recomputed anchors (Algorithm 1) and with the original ones."""
    cac = pd.DataFrame([r for r in records if r["loss"] == "cac"])
    return cac.groupby("dataset")[["auroc", "auroc_fixed_anchors"]].mean()


def ablation_records(outcomes: dict[str, list]) -> list[dict]:
    """The digits stand-in's records of Fig. 3's bars (:data:`ABLATION_LOSSES`)."""
    return [o.record for o in outcomes["digits"] if o.record["loss"] in ABLATION_LOSSES]


def ablation_order() -> list[str]:
    """Fig. 3's bars in order, by method name."""
    return [METHOD_NAMES[k] for k in ABLATION_LOSSES]


def cac_runs(outcomes: dict[str, list], dataset: str) -> list:
    """The CAC trials (TrialOutcomes) of ``dataset``, in trial order: Figs. 4 and 5."""
    return [o for o in outcomes[dataset] if o.record["loss"] == "cac"]


def sweep_frame(sweep: list[dict]) -> pd.DataFrame:
    """Fig. 2's sweep as shown under the figure: what was swept, its value, accuracy and AUROC."""
    return pd.DataFrame(sweep)[["swept", "value", "accuracy", "auroc"]]


def _paper_rows(records, table: dict, mapping: dict) -> dict:
    """{our row: {our column: paper value}} for ``trials_table``."""
    cols = _labels(records)
    return {ours: {label: PV.paper_value(table, theirs, key) for key, label in cols.items()} for ours, theirs in mapping.items()}


def _labels(records) -> dict:
    """{dataset key: column label} of the records."""
    return {r["dataset_key"]: r["dataset"] for r in records}


def table2(records) -> pd.DataFrame:
    """AUROC (unknown positive): our rows (mean ± std over trials) beside the paper's, then the quoted rows."""
    mine = trials_table(records, "method", "dataset", "auroc",
                        paper=_paper_rows(records, PV.TABLE2_AUROC, {METHOD_NAMES["cac"]: "CAC (Ours) *"}), digits=3)
    quoted = []
    for row in PV.QUOTED:
        line = {}
        for col in mine.columns:
            if col.endswith(" (paper)"):
                name = next(n for n, lab in _labels(records).items() if f"{lab} (paper)" == col)
                value = PV.paper_value(PV.TABLE2_AUROC, row, name)
                line[col] = "–" if value is None else f"{value:.3f}"
            else:
                line[col] = QUOTED_CELL
        quoted.append(pd.Series(line, name=row + " (quoted)"))
    out = pd.concat([mine, pd.DataFrame(quoted)])
    out.index.name = "method"
    out.attrs["summary"] = mine.attrs["summary"]
    return out


def table3(records) -> pd.DataFrame:
    """Closed-set accuracy of CE and CAC beside Table 3."""
    rows = [r for r in records if r["loss"] in ("ce", "cac")]
    return trials_table(rows, "method", "dataset", "accuracy", digits=3, paper=_paper_rows(
        rows, PV.TABLE3_ACCURACY, {METHOD_NAMES["cac"]: "CAC (Ours)", METHOD_NAMES["ce"]: "Cross-Entropy"}))


def metrics_table(records) -> pd.DataFrame:
    """Beyond the paper: AUROC, AUPR-In, AUPR-Out, FPR95 (percent, positive class named) and openness."""
    long = [{"dataset": r["dataset"], "method": r["method"], "metric": COLUMNS[m], "value": 100 * r[m]}
            for r in records for m in COLUMNS]
    long += [{"dataset": r["dataset"], "method": r["method"], "metric": "openness (%)", "value": 100 * r["openness"]}
             for r in records]
    return trials_table(long, ["dataset", "method"], "metric", "value", digits=1)


def openness_table(datasets=PV.PAPER_COLUMN) -> pd.DataFrame:
    """Table 1's openness, eq. 12, for every dataset of the paper, beside the printed value."""
    rows = []
    for name in ("mnist", "svhn", "cifar10", "cifar+10", "cifar+50", "tinyimagenet"):
        sp = open_set_split(name, 0)
        rows.append({"dataset": PV.PAPER_COLUMN[name], "known": len(sp.known), "unknown": len(sp.unknown),
                     "openness (%)": round(100 * sp.openness, 3), "paper (%)": PV.TABLE1_OPENNESS[PV.PAPER_COLUMN[name]]})
    return pd.DataFrame(rows).set_index("dataset")


def sweep_records(p, s: CACSettings, device: str = "cpu") -> list[dict]:
    """Fig. 2 on the digits stand-in, trial 0: lambda at alpha 10, then alpha at lambda 0.1."""
    out = []
    for param, values in (("lambda", s.lambdas), ("alpha", s.alphas)):
        for v in values:
            hyper = {"lbda": float(v)} if param == "lambda" else {"alpha": float(v)}
            rec = run_losses(p, s, "digits", ["cac"], 1, device, **hyper)[0].record
            out.append({"swept": param, "value": float(v), **rec})
    return out


def ablation_table(records) -> pd.DataFrame:
    """Fig. 3's numbers: accuracy and AUROC of L_A only, L_T only, CAC (and CE + MSP, extra)."""
    long = [{"method": r["method"], "metric": m, "value": r[m]} for r in records for m in ("accuracy", "auroc")]
    return trials_table(long, "method", "metric", "value", digits=3)


def paired_gaps(records, metric: str = "auroc", a: str = "cac", b: str = "ce") -> pd.DataFrame:
    """Per dataset column: the per-trial difference ``a - b`` of ``metric`` (same split, same seed), its mean and
    std, and in how many trials ``a`` was ahead; a paired view of Table 2's CAC vs CE + MSP rows."""
    df = pd.DataFrame(records)
    wide = df[df["loss"].isin([a, b])].pivot_table(index=["dataset", "trial"], columns="loss", values=metric)
    diff = (wide[a] - wide[b]).groupby(level="dataset")
    out = pd.DataFrame({"mean gap": diff.mean(), "std": diff.std(ddof=1), "trials": diff.size(),
                        f"{a} ahead": diff.apply(lambda g: int((g > 0).sum()))})
    out.attrs["metric"] = metric
    return out.round(4)
