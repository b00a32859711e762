"""mean ± std over trials and the wide results table, checked against hand computations."""

import math
import statistics

import numpy as np
import pandas as pd
import pytest

from ood_helpers.core import artifacts, tables


def test_mean_std_matches_statistics_module():
    values = [0.81, 0.79, 0.86, 0.90, 0.74]
    mean, std = tables.mean_std(values)
    assert mean == pytest.approx(statistics.fmean(values))
    assert std == pytest.approx(statistics.stdev(values))  # sample std, ddof=1
    mean1, std1 = tables.mean_std([3.0])
    assert mean1 == 3.0 and math.isnan(std1)
    assert tables.mean_std(np.array([1, 3]))[1] == pytest.approx(math.sqrt(2))


def test_mean_std_refuses_empty_and_nan():
    with pytest.raises(ValueError, match="at least one value"):
        tables.mean_std([])
    with pytest.raises(ValueError, match=r"non-finite values \[nan\] at positions \[1\]"):
        tables.mean_std([1.0, float("nan")])


def test_format_mean_std():
    assert tables.format_mean_std(12.3456, 0.5612) == "12.35 ± 0.56"
    assert tables.format_mean_std(0.5, 0.25, digits=1) == "0.5 ± 0.2"  # round-half-even, as Python formats
    assert tables.format_mean_std(7.0, float("nan")) == "7.00"
    with pytest.raises(ValueError, match="digits"):
        tables.format_mean_std(1, 1, digits=-1)


def _records():
    rng = np.random.default_rng(0)
    return [
        {"method": m, "classes": c, "trial": t, "acc": float(rng.uniform())}
        for m in ("homogeneity", "knn") for c in (10, 2) for t in range(4)
    ]


def test_trials_table_cells_equal_a_hand_loop():
    recs = _records()
    paper = {"homogeneity": {10: 91.2, 2: "97.9 ± 0.1", 50: 80.0}, ("knn", 2): 88}
    table = tables.trials_table(recs, "method", "classes", "acc", paper=paper, scale=100)
    assert list(table.index) == ["homogeneity", "knn"] and table.index.name == "method"
    assert list(table.columns) == ["10", "10 (paper)", "2", "2 (paper)"]  # order of appearance; 50 absent
    for m in ("homogeneity", "knn"):
        for c in (10, 2):
            vals = [100 * r["acc"] for r in recs if r["method"] == m and r["classes"] == c]
            assert table.loc[m, str(c)] == f"{statistics.fmean(vals):.2f} ± {statistics.stdev(vals):.2f}"
    assert table.loc["homogeneity", "10 (paper)"] == "91.20"
    assert table.loc["homogeneity", "2 (paper)"] == "97.9 ± 0.1"  # strings verbatim
    assert table.loc["knn", "2 (paper)"] == "88.00"
    assert table.loc["knn", "10 (paper)"] == tables.MISSING

    summary = table.attrs["summary"]
    assert list(summary.columns) == ["method", "classes", "mean", "std", "n", "models", "paper"]
    assert set(summary["models"]) == {1} and table.attrs["spread"].startswith("mean ± std over 4 evaluation trial(s) of one")
    row = summary[(summary.method == "knn") & (summary.classes == 10)].iloc[0]
    vals = [100 * r["acc"] for r in recs if r["method"] == "knn" and r["classes"] == 10]
    assert row["mean"] == pytest.approx(np.mean(vals)) and row["std"] == pytest.approx(np.std(vals, ddof=1))
    assert row["n"] == 4 and math.isnan(row["paper"])
    hom2 = summary[(summary.method == "homogeneity") & (summary.classes == 2)].iloc[0]
    assert hom2["paper"] == 97.9  # leading number of the paper's string


def test_trials_table_without_paper_and_with_missing_cells():
    recs = [{"m": "a", "d": "x", "v": 1.0}, {"m": "a", "d": "x", "v": 3.0}, {"m": "b", "d": "y", "v": 5.0}]
    table = tables.trials_table(pd.DataFrame(recs), "m", "d", "v", digits=1)
    assert table.to_dict() == {"x": {"a": "2.0 ± 1.4", "b": tables.MISSING}, "y": {"a": tables.MISSING, "b": "5.0"}}


def test_trials_table_with_several_keys_and_a_paper_frame():
    recs = [{"model": mo, "score": s, "data": d, "metric": "auroc", "trial": t, "v": 10 * t + len(d)}
            for mo in ("ce", "cac") for s in ("maxlogit",) for d in ("svhn", "cifar10") for t in range(2)]
    paper = pd.DataFrame({"svhn / auroc": [90.0, None]}, index=pd.Index([("ce", "maxlogit"), ("cac", "maxlogit")]))
    table = tables.trials_table(recs, ["model", "score"], ["data", "metric"], "v", paper=paper, digits=0)
    assert table.index.names == ["model", "score"]
    assert list(table.columns) == ["svhn / auroc", "svhn / auroc (paper)", "cifar10 / auroc", "cifar10 / auroc (paper)"]
    # values 4 and 14 for svhn: mean 9, std sqrt(50)
    assert table.loc[("ce", "maxlogit"), "svhn / auroc"] == f"9 ± {math.sqrt(50):.0f}"
    assert table.loc[("ce", "maxlogit"), "svhn / auroc (paper)"] == "90"
    assert table.loc[("cac", "maxlogit"), "svhn / auroc (paper)"] == tables.MISSING


def test_trials_table_bad_input_is_named():
    with pytest.raises(ValueError, match=r"records lack the column\(s\) \['acc'\]"):
        tables.trials_table([{"method": "a", "classes": 1, "accuracy": 0.5}], "method", "classes", "acc")
    with pytest.raises(ValueError, match="no records"):
        tables.trials_table([], "method", "classes", "acc")
    with pytest.raises(ValueError, match=r"'acc' of cell \{'method': 'a', 'classes': 1\}: .*non-finite"):
        tables.trials_table([{"method": "a", "classes": 1, "acc": float("nan")}], "method", "classes", "acc")
    with pytest.raises(TypeError, match="paper must be"):
        tables.trials_table([{"method": "a", "classes": 1, "acc": 0.5}], "method", "classes", "acc", paper=[1, 2])


def test_save_results_and_load_table_round_trip():
    recs = _records()
    written = tables.save_results(recs, "roundtrip", "smoke", config={"k": 1}, seeds=[0, 1, 2, 3])
    assert [p.name for p in written] == ["roundtrip_trials.csv", "roundtrip_trials.json"]
    back = tables.load_table("roundtrip", "smoke", which="trials")
    pd.testing.assert_frame_equal(back, pd.DataFrame(recs))
    artifacts.save_table(tables.trials_table(recs, "method", "classes", "acc"), "roundtrip", "smoke")
    summary = tables.load_table("roundtrip", "smoke")
    knn2 = summary[(summary.method == "knn") & (summary.classes == 2)]["mean"].item()
    assert knn2 == pytest.approx(np.mean([r["acc"] for r in recs if r["method"] == "knn" and r["classes"] == 2]))
    with pytest.raises(FileNotFoundError, match="run the notebook that writes it"):
        tables.load_table("never_written", "smoke")
    with pytest.raises(ValueError, match="which must be one of"):
        tables.load_table("roundtrip", "smoke", which="raw")


def test_records_of_several_trained_models_pool_models_and_trials():
    recs = [{**r, "model": r["trial"] % 2} for r in _records()]  # 2 models x 2 trials a cell
    table = tables.trials_table(recs, "method", "classes", "acc", scale=100)
    summary = table.attrs["summary"]
    assert set(summary["models"]) == {2} and set(summary["n"]) == {4}
    vals = [100 * r["acc"] for r in recs if r["method"] == "knn" and r["classes"] == 2]
    assert table.loc["knn", "2"] == f"{statistics.fmean(vals):.2f} ± {statistics.stdev(vals):.2f}"
    assert table.attrs["spread"] == "mean ± std over 2 trained models x 2 evaluation trials"
