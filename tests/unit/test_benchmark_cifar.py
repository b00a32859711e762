"""Notebook 11's cifar path on real CIFAR-10 JPEGs (the workplace's copy; skipped when absent): every row runs on
3-channel 32 px images at smoke size or says why it cannot, on one split that every row shares."""

import numpy as np
import pytest

from ood_helpers.benchmark.registry import all_rows
from ood_helpers.benchmark.runner import load_trials, run_benchmark
from ood_helpers.benchmark.settings import benchmark_settings
from ood_helpers.benchmark.trial import split_fingerprint
from ood_helpers.core.profile import get_profile
from tests.support import extract_cifar


@pytest.fixture(scope="module")
def cifar_folder(tmp_path_factory):
    """20 train and 10 test JPEGs of every CIFAR-10 class, extracted from the real copy."""
    return extract_cifar(tmp_path_factory.mktemp("cifar"), {"train": 20, "test": 10})


def test_every_row_on_a_cifar10_trial(cifar_folder, monkeypatch):
    monkeypatch.setenv("OOD_CIFAR10_DIR", str(cifar_folder))
    p = get_profile("smoke", extra={"benchmark": {"dataset": "cifar10", "trials": 1}, "cac": {"download": False}})
    trials = load_trials(p, benchmark_settings(p))
    d = trials[0].data
    assert d.x_train.shape[1:] == (3, 32, 32) and d.names_known == ["bird", "cat", "deer", "frog", "ship", "truck"]
    res = run_benchmark(all_rows(), trials, progress=False)
    # the offline stand-in of paper 003 is a grey network: its rows say so; every other row ran
    assert {r["key"] for r in res.skipped} == {"pl_knn", "dn2"}
    assert all("1 channel" in r["reason"] for r in res.skipped)
    ran = {r["key"] for r in res.records}
    assert ran == {r.key for r in all_rows()} - {"pl_knn", "dn2"}
    assert {r["split"] for r in res.records} == {split_fingerprint(d)}
    for r in res.records:
        assert 0 <= r["auroc"] <= 1 and r["n_known"] == len(d.y_test) and r["n_unknown"] == len(d.y_unknown)
        assert np.isfinite(r["accuracy"]) == (r["key"] != "ae_recon")
