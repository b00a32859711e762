"""The open-set benchmark of notebook 11: the trial every row sees, the runner (metrics, cache, identical splits
across rows), the tables and paired tests (against scipy and hand computations), and the class-homogeneity row's
eq. 1 scoring against the full model run set by set."""

import dataclasses

import numpy as np
import pytest
import torch
from scipy import stats
from sklearn.metrics import roc_auc_score

from ood_helpers.benchmark import report as R
from ood_helpers.benchmark.registry import all_rows, select_rows
from ood_helpers.benchmark.rows import Row
from ood_helpers.benchmark.runner import load_trials, run_benchmark, run_row
from ood_helpers.benchmark.settings import benchmark_settings
from ood_helpers.benchmark.trial import RowScores, split_fingerprint
from ood_helpers.core.profile import get_profile

from tests.support import profile_with


@pytest.fixture(scope="module")
def smoke():
    p = get_profile("smoke")
    return p, load_trials(p, benchmark_settings(p))


def test_trials_are_the_cac_papers_splits(smoke):
    _, trials = smoke
    from ood_helpers.cac.splits import OLD

    for t in trials:
        assert tuple(t.data.split.known) == OLD["mnist"][t.trial]
        assert sorted(t.data.split.unknown) == sorted(set(range(10)) - set(OLD["mnist"][t.trial]))
        assert set(t.data.y_train.tolist()) == set(range(6)) and t.data.x_train.dtype == torch.uint8
        assert set(t.data.y_unknown.tolist()) == set(t.data.split.unknown)


def test_split_fingerprint_sees_every_image_and_class(smoke):
    _, trials = smoke
    d = trials[0].data
    base = split_fingerprint(d)
    assert base == split_fingerprint(dataclasses.replace(d))
    x = d.x_unknown.clone()
    x[3, 0, 10, 10] ^= 1
    assert split_fingerprint(dataclasses.replace(d, x_unknown=x)) != base
    y = d.y_train.clone()
    y[0] = (y[0] + 1) % 6
    assert split_fingerprint(dataclasses.replace(d, y_train=y)) != base
    assert split_fingerprint(trials[1].data) != base


def _spy_row(key, seen, classifies=True, shift=0.0):
    """A row that trains nothing: its score is the mean pixel (plus ``shift``), its class the pixel sum mod 6;
    it records the digest of the data it was given."""
    calls = {"n": 0}

    def run(t):
        calls["n"] += 1
        seen.append((key, t.trial, split_fingerprint(t.data)))
        s_k = t.data.x_test.float().mean((1, 2, 3)).numpy() + shift
        s_u = t.data.x_unknown.float().mean((1, 2, 3)).numpy() + shift
        pred = (t.data.x_test.long().sum((1, 2, 3)) % 6).numpy() if classifies else None
        return RowScores(s_k, s_u, pred, train_seconds=0.5, score_seconds=0.1)

    return Row(key, f"spy {key}", "000", "11", classifies, run, ("ood_helpers.benchmark.trial",)), calls


def test_runner_metrics_cache_and_identical_splits(smoke):
    p, trials = smoke
    seen = []
    a, calls_a = _spy_row("spy_a", seen)
    b, calls_b = _spy_row("spy_b", seen, classifies=False, shift=1.0)
    res = run_benchmark([a, b], trials, progress=False)
    assert len(res.records) == 2 * len(trials) and calls_a["n"] == len(trials)
    # every row got the same trial data, and the record carries its digest
    for t in trials:
        digests = {d for _, tr, d in seen if tr == t.trial}
        assert digests == {split_fingerprint(t.data)}
        assert {r["split"] for r in res.records if r["trial"] == t.trial} == digests
    for r in res.records:
        d = trials[r["trial"]].data
        s_k = d.x_test.float().mean((1, 2, 3)).numpy()
        s_u = d.x_unknown.float().mean((1, 2, 3)).numpy()
        y = np.r_[np.zeros(len(s_k)), np.ones(len(s_u))]
        assert r["auroc"] == pytest.approx(roc_auc_score(y, np.r_[s_k, s_u]))
        if r["key"] == "spy_a":
            pred = (d.x_test.long().sum((1, 2, 3)) % 6).numpy()
            assert r["accuracy"] == pytest.approx(np.mean(pred == d.y_test.numpy()))
        else:
            assert np.isnan(r["accuracy"])
    # a second run reads the cache: no call, the same scores
    again = run_benchmark([a, b], trials, progress=False)
    assert calls_a["n"] == len(trials) and calls_b["n"] == len(trials)
    for k, sc in res.scores.items():
        np.testing.assert_array_equal(sc.s_known, again.scores[k].s_known)
    # another profile field is another key: computed again
    run_row(a, dataclasses.replace(trials[0], profile=get_profile("smoke", eval_batch_sets=7)))
    assert calls_a["n"] == len(trials) + 1
    # paper 000's settings, which this row does not read (Row.settings), are not: read from the cache
    run_row(a, dataclasses.replace(trials[0], profile=profile_with("smoke", eval_every=7)))
    assert calls_a["n"] == len(trials) + 1


def test_row_scores_are_checked(smoke):
    _, trials = smoke
    d = trials[0].data
    n, m = len(d.y_test), len(d.y_unknown)
    with pytest.raises(ValueError, match="s_known has 3 scores"):
        RowScores(np.zeros(3), np.zeros(m)).check(d, "r")
    with pytest.raises(ValueError, match="non-finite"):
        RowScores(np.zeros(n), np.full(m, np.nan)).check(d, "r")
    with pytest.raises(ValueError, match="pred_known"):
        RowScores(np.zeros(n), np.zeros(m), np.full(n, 6)).check(d, "r")


def test_registry_and_settings():
    rows = all_rows()
    keys = [r.key for r in rows]
    assert keys[:3] == ["ce_msp", "cac", "cac_peer"] and keys[-1] == "homogeneity"
    assert {"ae_recon", "ae_full", "cd_ce", "cd_supcon", "pl_knn", "dn2"} <= set(keys)
    assert [r.key for r in select_rows(("homogeneity", "cac"))] == ["cac", "homogeneity"]
    with pytest.raises(ValueError, match="unknown benchmark row"):
        select_rows(("cca",))
    with pytest.raises(ValueError, match="trials must be 1..5"):
        benchmark_settings(get_profile("smoke", extra={"benchmark": {"trials": 6}}))
    with pytest.raises(ValueError, match="dataset must be one of"):
        benchmark_settings(get_profile("smoke", extra={"benchmark": {"dataset": "digits"}}))


def _records():
    """Three rows on three trials, AUROC chosen by hand."""
    au = {"A": [0.90, 0.80, 0.85], "B": [0.70, 0.60, 0.80], "C": [0.50, 0.55, 0.45]}
    return [{"method": m, "paper": "000", "notebook": "11", "trial": t, "auroc": v[t], "aupr_in": v[t],
             "aupr_out": v[t], "fpr95": 1 - v[t], "accuracy": 0.9 if m != "C" else float("nan"),
             "train_seconds": 1.0, "score_seconds": 0.5, "n_known": 10, "n_unknown": 10}
            for m, v in au.items() for t in range(3)]


def test_tables_against_hand_computation():
    recs = _records()
    table = R.open_set_table(recs)
    assert table.loc["A", "AUROC (%)"] == "85.00 ± 5.00"
    assert table.loc["C", "closed-set accuracy (%)"] == "–" and table.loc["A", "closed-set accuracy (%)"] == "90.00 ± 0.00"
    rank = R.ranking_table(recs)
    assert list(rank.index) == ["A", "B", "C"] and list(rank["trials best"]) == [3, 0, 0]
    assert rank.loc["B", "mean rank over trials"] == pytest.approx(2.0)
    # paired t by hand: differences A - B = 20, 20, 5 points
    diff = np.array([20.0, 20.0, 5.0])
    t = diff.mean() / (diff.std(ddof=1) / np.sqrt(3))
    sig = R.significance_table(recs, 0.05)
    row = sig[(sig.a == "A") & (sig.b == "B")].iloc[0]
    assert row["p (paired t)"] == pytest.approx(2 * stats.t.sf(t, 2), abs=1e-4)
    assert row["mean difference"] == pytest.approx(15.0) and row["trials a > b"] == 3
    assert row["verdict"] == ("exceeds the trial spread" if 2 * stats.t.sf(t, 2) < 0.05 else "within the trial spread")
    same = R.paired_comparison(np.array([1.0, 2.0]), np.array([0.0, 1.0]), 0.05)
    assert same["p (paired t)"] == 0.0 and same["verdict"] == "exceeds the trial spread"
    timing = R.timing_table(recs)
    assert timing.loc["A", "images scored / s"] == 40


def test_eq1_class_logits_match_sets_scored_one_by_one():
    from ood_helpers.benchmark.rows_homogeneity import eq1_class_logits
    from ood_helpers.homogeneity.model import HomogeneityModel

    torch.manual_seed(0)
    model = HomogeneityModel(torch.nn.Identity(), 8, 1, 2, 4).eval()
    train_labels = np.repeat(np.arange(3), 5)
    table = torch.randn(len(train_labels) + 4, 8)
    queries = np.arange(len(train_labels), len(table))
    got = eq1_class_logits(model, table, train_labels, queries, 3, 4, 2, np.random.default_rng(1))
    # the same draws, each set through the full model (all positions), the logit at position 0
    rng = np.random.default_rng(1)
    pools = [np.flatnonzero(train_labels == c) for c in range(3)]
    want = np.zeros((4, 3))
    for _ in range(2):
        sup = np.stack([np.stack([rng.choice(pool, 3, replace=False) for pool in pools]) for _ in range(4)])
        for q in range(4):
            for c in range(3):
                rows = torch.as_tensor(np.r_[sup[q, c], queries[q]])
                with torch.no_grad():
                    want[q, c] += model.set_logits(table[rows][None], torch.tensor([4]))[0, 0].item() / 2
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_a_row_that_cannot_run_says_why_in_its_row(smoke):
    _, trials = smoke
    seen = []
    a, _ = _spy_row("spy_a", seen)
    b, calls = _spy_row("spy_b", seen)
    b = dataclasses.replace(b, unavailable=lambda t: "needs colour images")
    res = run_benchmark([a, b], trials, progress=False)
    assert calls["n"] == 0 and [r["key"] for r in res.skipped] == ["spy_b"]
    table = R.open_set_table(res.records, res.skipped)
    assert table.loc["spy spy_b", "AUROC (%)"] == "not run: needs colour images"
    assert table.loc["spy spy_a", "trials"] == len(trials)


def test_missing_imagenet_weights_make_the_pseudo_label_rows_unavailable(smoke, monkeypatch):
    from ood_helpers.benchmark import rows_pseudo_label as P

    def offline(name):
        raise RuntimeError(f"could not load torchvision's ImageNet weights for {name}")

    monkeypatch.setattr(P, "imagenet_encoder", offline)
    P._imagenet_problem.cache_clear()
    _, trials = smoke
    d = trials[0].data
    colour = dataclasses.replace(d, **{f"x_{k}": getattr(d, f"x_{k}").expand(-1, 3, -1, -1).contiguous()
                                       for k in ("train", "val", "test", "unknown")})
    p = get_profile("smoke", extra={"pseudo_label": {"pretrained": "imagenet-resnet18"}})
    t = dataclasses.replace(trials[0], data=colour, profile=p)
    assert "ImageNet weights" in P.unavailable(t)
    P._imagenet_problem.cache_clear()
