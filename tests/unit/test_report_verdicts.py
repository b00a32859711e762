"""Verdicts from paired statistics (issue 24, item 3): the intervals against scipy.stats and hand formulas, the
three outcomes on constructed values, the units (trained models vs evaluation trials), the papers' own printed
numbers never "not reproduced" under the rule, and a constructed paper-000 run through the report."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ood_helpers.cac import paper_values as CAC
from ood_helpers.core.tables import save_results, trials_table
from ood_helpers.embedding_ood import paper_values as EMB
from ood_helpers.homogeneity import paper_values as MAIN
from ood_helpers.pseudo_label import paper_values as PL
from ood_helpers.report import paired as P
from ood_helpers.report.units import label, paired_interval, paper_interval, printed

A = np.array([0.91, 0.88, 0.93, 0.90, 0.95])
B = np.array([0.86, 0.87, 0.88, 0.84, 0.90])


def test_paired_t_matches_ttest_rel_and_the_hand_formula():
    iv = P.paired_t(A, B, "units")
    want = stats.ttest_rel(A, B).confidence_interval(0.95)
    assert iv.bounds() == pytest.approx((want.low, want.high), rel=1e-12)
    d = A - B
    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
    assert iv.bounds() == pytest.approx((d.mean() - half, d.mean() + half), rel=1e-12)
    lo90 = stats.ttest_rel(A, B).confidence_interval(0.90)
    assert iv.bounds(0.90) == pytest.approx((lo90.low, lo90.high), rel=1e-12)


def test_welch_from_summaries_matches_ttest_ind():
    iv = P.welch_t(A.mean(), A.std(ddof=1), len(A), B[:4].mean(), B[:4].std(ddof=1), 4, "summaries")
    want = stats.ttest_ind(A, B[:4], equal_var=False).confidence_interval(0.95)
    assert iv.bounds() == pytest.approx((want.low, want.high), rel=1e-10)


@pytest.mark.parametrize("a, b, verdict", [
    (A, B, "reproduced"),  # d = 0.05, 0.01, 0.05, 0.06, 0.05: interval above 0
    (B, A, "not reproduced"),  # the same differences, the other way
    (A, A[::-1], "inconclusive"),  # differences -0.04 .. +0.04 around 0
])
def test_direction_gives_each_outcome(a, b, verdict):
    assert P.direction(P.paired_t(a, b, "u")) == verdict


def test_no_spread_is_inconclusive_never_not_reproduced():
    for iv in (P.unknown(0.5, 0.9), P.paired_t([0.5], [0.9], "one trial"), P.welch_t(0.5, float("nan"), 5, 0.9, 0.1, 5, "x")):
        assert not iv.known and math.isnan(iv.bounds()[0])
        for rule in (P.Rule(), P.Rule("non-inferior", 0.01), P.Rule("equivalent", 0.01)):
            assert rule.verdict(iv) == "inconclusive"
    assert "interval unknown" in P.unknown(1, 2).text()


def test_margin_rules_read_the_90_percent_interval():
    # d = +-0.004 over 4 pairs: sd 0.004 * sqrt(4 / 3), 90 % interval 0 +- t(0.95, 3) * sd / 2 = +-0.0054
    base = np.array([0.9, 0.9, 0.9, 0.9])
    d = np.array([0.004, -0.004, 0.004, -0.004])
    near = P.paired_t(base + d, base, "u")
    half = stats.t.ppf(0.95, 3) * 0.004 * math.sqrt(4 / 3) / 2
    assert near.bounds(0.90) == pytest.approx((-half, half))
    assert P.equivalent(near, 0.01) == "reproduced" and P.non_inferior(near, 0.01) == "reproduced"
    assert P.equivalent(near, 0.004) == "inconclusive" and P.non_inferior(near, 0.004) == "inconclusive"
    far = P.paired_t(base + d - 0.05, base, "u")  # loses 0.05 +- 0.0047
    assert P.non_inferior(far, 0.01) == "not reproduced" and P.equivalent(far, 0.01) == "not reproduced"


@pytest.mark.parametrize("cells, verdict", [
    (["reproduced", "reproduced"], "reproduced"),
    (["reproduced", "inconclusive"], "inconclusive"),
    (["reproduced", "inconclusive", "not reproduced"], "not reproduced"),
    ([], "inconclusive"),
])
def test_aggregate_over_cells(cells, verdict):
    assert P.aggregate(cells) == verdict


def _trials(with_models: bool) -> pd.DataFrame:
    # A - B per model: 2, 3, 7 (trials within a model differ by +-1 around it)
    rows = []
    for model, gain in enumerate((2.0, 3.0, 7.0)):
        for trial, wobble in enumerate((-1.0, 1.0)):
            rows += [{"method": "A", "trial": trial, "value": 50 + gain + wobble, **({"model": model} if with_models else {})},
                     {"method": "B", "trial": trial, "value": 50.0, **({"model": model} if with_models else {})}]
    return pd.DataFrame(rows)


def test_units_are_trained_models_when_the_trials_name_them():
    iv = paired_interval(_trials(True), "method", "A", "B", "value")
    want = P.paired_t(np.array([2.0, 3.0, 7.0]), np.zeros(3), "")
    assert (iv.diff, iv.se, iv.df) == pytest.approx((want.diff, want.se, 2))
    assert iv.units == label(3, 2) == "over 3 trained models x 2 evaluation trials each"


def test_units_fall_back_to_evaluation_trials_of_one_model():
    frame = _trials(True)
    frame = frame[frame["model"] == 0].drop(columns="model")  # one model: trials -1 and +1 around 2
    iv = paired_interval(frame, "method", "A", "B", "value")
    assert iv.diff == pytest.approx(2.0) and iv.df == 1
    assert iv.units.endswith("over evaluation trials of one trained model") and "1 trained model x 2" in iv.units
    # a string "model" column names methods (notebook 07's ablation), never replicates
    ablation = pd.DataFrame({"model": ["full", "AE", "full", "AE"], "trial": [0, 0, 1, 1], "value": [3.0, 1.0, 4.0, 1.0]})
    iv = paired_interval(ablation, "model", "full", "AE", "value", trained_per_trial=True)
    assert iv.diff == pytest.approx(2.5) and iv.units == "over 2 trained models x 1 evaluation trial each"


def test_printed_cells():
    assert printed("54.59 ± 1.15") == (54.59, 1.15)
    assert printed(93.3)[0] == 93.3 and math.isnan(printed(93.3)[1])
    assert printed("98.4 (Fort et al., ViT)")[0] == 98.4


def test_the_papers_own_numbers_are_never_not_reproduced():
    beats = P.Rule()
    # paper 002, Table II: ours vs Hendrycks et al. per held-out pair, one value each
    for pair, cell in EMB.TABLE2.items():
        hg, ours = cell["auroc"]
        assert beats.verdict(paper_interval(ours, hg, 1)) == "inconclusive", pair
    assert paper_interval(95.49, 95.37, 1).diff == pytest.approx(0.12)  # {6,7}
    assert paper_interval(95.52, 94.63, 1).diff == pytest.approx(0.89)  # {8,9}
    # paper 003: weight averaging 93.3 vs the last epoch 92.3; ours vs DN2 on both anomaly sets
    assert beats.verdict(paper_interval(PL.PAPER_AVERAGING[("near", "average")], PL.PAPER_AVERAGING[("near", "epoch 5")], 3)) \
        == "inconclusive"
    for a in ("near", "far"):
        iv = paper_interval(PL.PAPER_TABLE2[("Ours: SCAN pseudo-labels, fine-tune, average", a)],
                            PL.PAPER_TABLE2[("DN2: source features, no adaptation", a)], 3)
        assert beats.verdict(iv) == "inconclusive"
    # paper 004: MNIST AUROC 0.985 vs Softmax 0.978; accuracy CAC vs CE in every column under the accuracy margin
    from ood_helpers.report.scorecard import CAC_ACCURACY_RULE

    assert beats.verdict(paper_interval(0.985, 0.978, 5)) == "inconclusive"
    for cac, ce in zip(CAC.TABLE3_ACCURACY["CAC (Ours)"], CAC.TABLE3_ACCURACY["Cross-Entropy"]):
        assert CAC_ACCURACY_RULE.verdict(paper_interval(cac, ce, 5)) != "not reproduced"


def test_paper_000s_own_numbers_with_their_std_over_five_trials():
    verdicts = {}
    cells = [(MAIN.PAPER_TABLE1[m].get((metric, role)), m, f"T1 {metric} {role}") for m in MAIN.NN_METHODS
             for metric in ("top-1", "top-5") for role in ("val", "test")]
    cells += [(MAIN.PAPER_TABLE2[m][i], m, f"T2 {i}") for m in MAIN.NN_METHODS for i in range(5)]
    for nn_value, m, where in cells:
        hom = MAIN.PAPER_TABLE1[MAIN.M_HOM][tuple(where.split()[1:])] if where.startswith("T1") else \
            MAIN.PAPER_TABLE2[MAIN.M_HOM][int(where.split()[1])]
        verdicts[(where, m)] = P.Rule().verdict(paper_interval(hom, nn_value, 5))
    assert "not reproduced" not in verdicts.values()
    # 47.47 ± 0.40 vs 43.87 ± 0.30 over five trials each: Welch's 95 % interval by hand lies above zero
    se = math.sqrt((0.40 ** 2 + 0.30 ** 2) / 5)
    df = se ** 4 / ((0.40 ** 2 / 5) ** 2 / 4 + (0.30 ** 2 / 5) ** 2 / 4)
    iv = paper_interval("47.47 ± 0.40", "43.87 ± 0.30", 5)
    assert iv.bounds() == pytest.approx((3.6 - stats.t.ppf(0.975, df) * se, 3.6 + stats.t.ppf(0.975, df) * se))
    assert verdicts[("T1 top-1 test", MAIN.M_NN_EUC_FT)] == "reproduced"
    # Table 2's first range: 88.83 ± 0.34 vs cosine NN fine-tuned 88.52 ± 0.43 is within the noise
    assert verdicts[("T2 0", MAIN.M_NN_COS_FT)] == "inconclusive"


RANGES1, RANGES2 = ("1-8", "9-10", "11-12", "1-12"), ("11-11", "11-12")
NOISE = (0.01, -0.01, 0.02, -0.02, 0.0)


@pytest.fixture
def folders(tmp_path, monkeypatch):
    for var in ("OOD_FIGURES_DIR", "OOD_RUNS_DIR", "OOD_ARTIFACTS_DIR"):
        monkeypatch.setenv(var, str(tmp_path / var))
    return tmp_path


def _write_000(gain_of):
    """Tables 1-2 of paper 000 in the smoke folder: NN methods at 0.5, class homogeneity at 0.5 + gain_of(cell)
    + a per-trial wobble (five evaluation trials of one model)."""
    from ood_helpers.core.artifacts import save_table

    nns = (MAIN.M_NN_EUC_PRE, MAIN.M_NN_COS_PRE)
    t1 = [{"method": m, "metric": metric, "range": r, "trial": t,
           "accuracy": 0.5 + ((gain_of(("T1", r)) + w) if m == MAIN.M_HOM else 0.0)}
          for m in (MAIN.M_HOM, *nns) for metric in ("top-1", "top-5") for r in RANGES1 for t, w in enumerate(NOISE)]
    t2 = [{"method": m, "range": r, "trial": t, "accuracy": 0.5 + ((gain_of(("T2", r)) + w) if m == MAIN.M_HOM else 0.0)}
          for m in (MAIN.M_HOM, *nns) for r in RANGES2 for t, w in enumerate(NOISE)]
    save_table(trials_table(t1, "method", ["metric", "range"], "accuracy", scale=100), "table1_ood_classification", "smoke")
    save_results(t1, "table1_ood_classification", "smoke")
    save_table(trials_table(t2, "method", "range", "accuracy", scale=100), "table2_ood_classification_ranges", "smoke")
    save_results(t2, "table2_ood_classification_ranges", "smoke")


@pytest.mark.parametrize("gain_of, verdict", [
    (lambda cell: 0.05, "reproduced"),  # +5 points +- the wobble in every unseen cell
    (lambda cell: -0.05 if cell == ("T2", "11-12") else 0.05, "not reproduced"),  # one cell on the other side
    (lambda cell: 0.0 if cell == ("T1", "9-10") else 0.05, "inconclusive"),  # one cell holds zero
    (lambda cell: 0.05 if cell[1] in ("9-10", "11-12", "11-11") else -0.3, "reproduced"),  # seen / all ranges not read
])
def test_paper_000_claim_reads_every_unseen_cell(folders, gain_of, verdict):
    from ood_helpers.report.build import build

    _write_000(gain_of)
    claim = next(c for c in build("smoke").claims if c.claim.startswith("class homogeneity"))
    assert claim.verdict == verdict
    labels = {c.label for c in claim.cells}
    assert labels == {f"Table 1 {m} on {r} ({role})" for m in ("top-1", "top-5") for r, role in (("9-10", "val"), ("11-12", "test"))} \
        | {f"Table 2 top-1 on {r}" for r in RANGES2}
    assert len(claim.cells) == 2 * len(labels)  # against each NN method
    # each interval: 100 * (gain + wobble) over 5 evaluation trials of one model, by hand
    d = 100 * (gain_of(("T1", "11-12")) + np.array(NOISE))
    half = stats.t.ppf(0.975, 4) * d.std(ddof=1) / math.sqrt(5)
    cell = next(c for c in claim.cells if c.label == "Table 1 top-1 on 11-12 (test)")
    assert cell.ours.bounds() == pytest.approx((d.mean() - half, d.mean() + half))
    assert "1 trained model x 5 evaluation trials: over evaluation trials of one trained model" in claim.evidence
    assert claim.paper_verdict in ("reproduced", "inconclusive")  # the paper's own numbers, same rule


def test_paper_000_claim_pairs_by_trained_model_when_the_trials_name_them(folders):
    # three trained models (the `model` replicate column) x 5 evaluation trials: the trials of a model are averaged,
    # class homogeneity's gain per model is 3, 4, 5 points (+ the wobble, which averages out)
    from ood_helpers.core.artifacts import save_table
    from ood_helpers.report.build import build
    from ood_helpers.report.compare import _n_text

    nns = (MAIN.M_NN_EUC_PRE, MAIN.M_NN_COS_PRE)
    t1 = [{"method": m, "metric": metric, "range": r, "model": k, "trial": t,
           "accuracy": 0.5 + ((0.03 + 0.01 * k + w) if m == MAIN.M_HOM else 0.0)}
          for k in range(3) for m in (MAIN.M_HOM, *nns) for metric in ("top-1", "top-5") for r in RANGES1
          for t, w in enumerate(NOISE)]
    t2 = [{k: v for k, v in x.items() if k != "metric"} | {"range": r2} for x in t1 if x["metric"] == "top-1"
          and x["range"] == "1-8" for r2 in RANGES2]
    for name, records, cols in (("table1_ood_classification", t1, ["metric", "range"]),
                                ("table2_ood_classification_ranges", t2, "range")):
        save_table(trials_table(records, "method", cols, "accuracy", scale=100), name, "smoke")
        save_results(records, name, "smoke")
    claim = next(c for c in build("smoke").claims if c.claim.startswith("class homogeneity"))
    cell = next(c for c in claim.cells if c.label == "Table 1 top-1 on 11-12 (test)")
    want = stats.ttest_rel([53.0, 54.0, 55.0], [50.0, 50.0, 50.0]).confidence_interval(0.95)
    assert cell.ours.diff == pytest.approx(4.0) and cell.ours.bounds() == pytest.approx((want.low, want.high))
    assert cell.ours.units == "over 3 trained models x 5 evaluation trials each"
    assert claim.verdict == "reproduced"  # 4 +- t(0.975, 2) / sqrt(3) = [1.5, 6.5] in every cell
    assert "over 3 trained models x 5 evaluation trials each" in claim.evidence
    assert (_n_text(15, 3), _n_text(5, 1), _n_text(5, float("nan"))) == ("3 models x 5", "5", "5")
