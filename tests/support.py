"""Helpers shared by the test folders (fixtures live in ``tests/conftest.py``); imported as ``from tests.support
import ...``. Sections: training counters, weights, the workplace's CIFAR-10 copy, the benchmark's smoke trial,
notebook table checks."""

from __future__ import annotations

import contextlib
import importlib
import tarfile
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
import torch
from ood_helpers.core.profile import get_profile
from ood_helpers.homogeneity.settings import HOMOGENEITY_FIELDS, with_homogeneity_settings
from torch.optim.optimizer import register_optimizer_step_pre_hook

ROOT = Path(__file__).resolve().parents[1]  # the repository


# --- training counters: the cache tests ------------------------------------------------------------------------

@contextlib.contextmanager
def count_training():
    """{"steps": optimizer steps, "backward": backward passes} made inside the block (any optimizer,
    any tensor): a network loaded from its checkpoint makes neither, a deterministic retrain makes both."""
    counts = {"steps": 0, "backward": 0}
    real_backward = torch.Tensor.backward

    def backward(self, *args, **kwargs):
        counts["backward"] += 1
        return real_backward(self, *args, **kwargs)

    handle = register_optimizer_step_pre_hook(lambda opt, args, kwargs: counts.__setitem__("steps", counts["steps"] + 1))
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(torch.Tensor, "backward", backward)
            yield counts
    finally:
        handle.remove()


# --- weights: comparing trained networks (the DDP tests) -------------------------------------------------------

def weights(state: dict) -> dict:
    """A checkpoint's (``{"model": state_dict, ...}``) trained weights, without BatchNorm's running statistics
    and batch counters (DDP keeps rank 0's, so they differ from one process's by design)."""
    return {k: v for k, v in state["model"].items() if "running" not in k and "num_batches" not in k}


def assert_same_parameters(a: torch.nn.Module | dict, b: torch.nn.Module | dict, atol: float = 1e-5):
    """The same names and, name by name, the same values within ``atol`` (modules or name -> tensor dicts)."""
    a = dict(a.named_parameters()) if isinstance(a, torch.nn.Module) else a
    b = dict(b.named_parameters()) if isinstance(b, torch.nn.Module) else b
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name].detach(), b[name].detach(), rtol=0, atol=atol, msg=name)


# --- the workplace's CIFAR-10 JPEG copy ------------------------------------------------------------------------

# ``../shared/data/cifar10-jpg.tar.gz`` next to the repository (a developer file the product never reads): tests
# extract the few files they need from it, and skip with the reason when it is absent
TARBALL = ROOT.parent / "shared" / "data" / "cifar10-jpg.tar.gz"


def extract_cifar(out, per_split: dict, classes=None) -> Path:
    """``out/cifar10-jpg`` holding the first ``per_split[split]`` JPEGs of each class (of ``classes``, default
    all ten) of each split named ("train", "test"); skips the calling test when the copy is absent."""
    if not TARBALL.is_file():
        pytest.skip(f"{TARBALL} (the workplace's CIFAR-10 JPEG copy) is absent on this machine")
    with tarfile.open(TARBALL, "r:gz") as tar:
        members = [m for m in tar if m.isfile() and len(parts := m.name.split("/")) == 4
                   and (classes is None or parts[2] in classes)
                   and int(parts[3].split(".")[0]) < per_split.get(parts[1], 0)]
        tar.extractall(out, members=members, filter="data")
    return Path(out) / "cifar10-jpg"


# --- the benchmark's smoke trial (the row tests) ---------------------------------------------------------------

def smoke_trial_data():
    """Trial 0 of the CAC paper's MNIST splits on MNIST-5000 at the smoke profile's cut (40 / 10 / 20 images a
    class), as the smoke profile's notebook 11 loads it."""
    from ood_helpers.cac.data import load_trial

    return load_trial("mnist5k", 0, per_class=(40, 10, 20))


def make_trial(data, profile=None):
    """A ``BenchmarkTrial``: trial 0 of ``data`` under ``profile`` (default smoke), seeded as the runner seeds it."""
    from ood_helpers.benchmark.trial import BenchmarkTrial
    from ood_helpers.core.profile import get_profile
    from ood_helpers.core.seeding import trial_seed

    p = profile or get_profile("smoke")
    return BenchmarkTrial(data, 0, trial_seed(p.seed, 0), p)


# --- notebook table checks: tests/notebooks/test_notebooks.py and tests/notebooks/notebook_tables_<NN>.py ------
# A ``notebook_tables_<NN>`` module defines ``NOTEBOOK`` (the notebook's stem) and ``check(profile, table)``;
# ``table(name)`` reads ``figures/smoke/<name>.csv`` written by this run.

def _constants(names, modules):
    """The named constants from the first of ``modules`` defining all of them (method names are
    moving between modules; any home will do)."""
    for module in modules:
        try:
            found = importlib.import_module(module)
        except ImportError:
            continue
        if all(hasattr(found, n) for n in names):
            return [getattr(found, n) for n in names]
    pytest.fail(f"none of {modules} defines {names}; update the table checks of tests/notebooks/test_notebooks.py")


class Tables:
    """The CSV tables one notebook run wrote, each checked to come from this run."""

    def __init__(self, folder, started_ns, notebook):
        self.folder, self.started_ns, self.notebook = folder, started_ns, notebook

    def __call__(self, name: str) -> pd.DataFrame:
        path = self.folder / f"{name}.csv"
        assert path.is_file(), f"{self.notebook}: {name}.csv was not written to {self.folder}"
        # 1 s of slack for the file system's coarse clock; an older file is a leftover, not this run's
        assert path.stat().st_mtime_ns >= self.started_ns - 10**9, f"{path} is older than the run of {self.notebook}"
        # a trials_table summary (<table>_summary.csv) shares its table's sidecar
        sidecars = [self.folder / f"{name}.json", self.folder / f"{name.removesuffix('_summary')}.json"]
        assert any(f.is_file() for f in sidecars), f"{self.notebook}: {name}.csv has no JSON sidecar"
        return pd.read_csv(path)


def one_row_each(df, keys, expected, where):
    """``df`` has exactly one row per tuple of ``expected`` in its ``keys`` columns, and no other row."""
    keys = [keys] if isinstance(keys, str) else list(keys)
    got = Counter(tuple(str(v) for v in row) for row in df[keys].itertuples(index=False))
    want = Counter(tuple(str(v) for v in (e if isinstance(e, tuple) else (e,))) for e in expected)
    missing, extra = sorted(want - got), sorted(got - want)
    assert not missing and not extra, f"{where}: rows by {keys} missing {missing}, unexpected or repeated {extra}"


def in_range(df, column, low, high, where):
    """Every value of ``column`` is a number (no NaN) within [low, high]."""
    values = pd.to_numeric(df[column], errors="coerce")
    bad = df[values.isna() | (values < low) | (values > high)]
    assert bad.empty, f"{where}: {column!r} not a number in [{low}, {high}]:\n{bad.to_string()}"


def positive_ints(df, column, where):
    values = pd.to_numeric(df[column], errors="coerce")
    ok = values.notna() & (values >= 1) & (values == values.round())
    assert ok.all(), f"{where}: {column!r} must hold positive counts:\n{df[~ok].to_string()}"


def check_summary(summary, keys, expected, trials, low, high, where):
    """A ``tables.trials_table`` summary: one row per expected key, means within [low, high], ``n`` =
    the trials behind each mean and a finite std >= 0 when there are several."""
    one_row_each(summary, keys, expected, where)
    in_range(summary, "mean", low, high, where)
    assert (summary["n"] == trials).all(), f"{where}: every mean should average {trials} trial(s):\n{summary}"
    if trials > 1:
        in_range(summary, "std", 0, high - low, where)


def check_means_of_trials(summary, trials_df, keys, value, scale, where):
    """Each summary mean equals ``scale`` x the mean of its rows in the raw per-trial records."""
    recomputed = trials_df.groupby(keys)[value].mean() * scale
    for _, row in summary.iterrows():
        key = tuple(row[k] for k in keys) if len(keys) > 1 else row[keys[0]]
        assert row["mean"] == pytest.approx(recomputed.loc[key], abs=1e-6), f"{where}: mean of {key}"


def profile_with(name: str, **fields):
    """``get_profile(name, ...)`` where paper 000's settings among ``fields`` (``set_size``, ``pretrain_steps``,
    ...: ``homogeneity.settings.HOMOGENEITY_FIELDS``) go to ``extra["homogeneity"]``, as ``--set
    homogeneity.FIELD=VALUE`` puts them; the profile's other fields are replaced as usual."""
    paper = {k: fields.pop(k) for k in list(fields) if k in HOMOGENEITY_FIELDS}
    profile = get_profile(name, **fields)
    return with_homogeneity_settings(profile, **paper) if paper else profile
