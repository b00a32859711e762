"""The cifar and paper profiles in dry-run mode (``python -m ood_helpers.run --profile NAME --dry-run``), on the CPU,
over small fake copies of every dataset they read (``tests/fake_data.py``: the real on-disk formats, each named by
the variable its loader reads) and the workplace's real CIFAR-10 JPEGs (skipped, with the reason, when absent).

Each run goes through the runner in a fresh process, as a user starts it; the tests then read what the notebooks
wrote to ``<root>/<profile>-dry-run/``: tables that hold finite numbers, sidecars whose configs carry the profile's
real class split, image size and network width, and nothing under the profile's own folder. A missing dataset
stops the run before any notebook starts, naming the variable to set.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time

import pandas as pd
import pytest

from ood_helpers.core.profile import PROFILES
from tests.fake_data import write_all
from tests.support import ROOT

# make test's budget (under 20 minutes on 2 AVX2 cores) leaves the dry runs about 3 minutes on this project's
# 2-core test machines, where a full-width ResNet-18 embeds about 10 images a second; measured one by one there
# (2026-12-07, cores shared), the cifar dry run's notebooks took 00 17 s, 01 72 s, 02 80 s, 03 167 s, 04 over 5 min,
# 06 88 s, 07 44 s, 08 over 3 min: the test runs the ones that reach every loader and network kind in that
# budget, and notebook 12 over what they wrote; the rest run with `--dry-run` by hand or on a GPU machine
NOTEBOOKS = {"cifar": "00,02,07,12", "paper": "00,12"}
TIMINGS: dict[str, float] = {}


@pytest.fixture(scope="module")
def fake_env(tmp_path_factory) -> dict[str, str]:
    """The environment of a dry run: every dataset faked under one folder, the session's output roots."""
    env = write_all(tmp_path_factory.mktemp("fake_datasets"))
    return {**os.environ, **env, "MPLBACKEND": "agg"}


def run_dry(profile: str, env: dict, *extra: str) -> subprocess.CompletedProcess:
    only = NOTEBOOKS[profile]
    args = [sys.executable, "-m", "ood_helpers.run", "--profile", profile, "--dry-run", "--no-progress",
            *(["--only", only] if only else []), *extra]
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200, check=False)


def finite_numbers(table: pd.DataFrame) -> list[float]:
    """Every number of ``table`` (numeric cells, and the leading number of "12.3 ± 0.4" cells)."""
    out = []
    for value in table.to_numpy().ravel():
        text = str(value).split("±")[0].strip().rstrip("%")
        try:
            out.append(float(text))
        except ValueError:
            continue
    return out


@pytest.mark.parametrize("profile", ["cifar", "paper"])
def test_dry_run_runs_every_notebook_on_the_profiles_data(profile, fake_env, ood_dirs):
    def real_run_files() -> set:  # the profile's own folders (other tests, e.g. test_paper_dry_run, may fill them)
        return {p for root in ("figures", "runs") for p in (ood_dirs[root] / profile).rglob("*")}

    before = real_run_files()
    t0 = time.perf_counter()
    done = run_dry(profile, fake_env)
    TIMINGS[profile] = time.perf_counter() - t0
    print(f"{profile} dry run: {TIMINGS[profile]:.0f} s")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "dry run of profile" in done.stdout and "-> 2" in done.stdout  # it says what it cut
    summary = json.loads((ood_dirs["runs"] / f"{profile}-dry-run" / "summary.json").read_text())
    assert summary["overrides"]["dry_run"] is True and all(nb["status"] == "ok" for nb in summary["notebooks"])
    assert real_run_files() == before  # nothing written to the real profile's folders
    figures = ood_dirs["figures"] / f"{profile}-dry-run"
    real = PROFILES[profile]
    sidecars = sorted(figures.glob("*.json"))
    assert len(sidecars) > 10
    checked = 0
    for path in sidecars:
        config = json.loads(path.read_text()).get("config") or {}
        prof = config.get("profile") if isinstance(config.get("profile"), dict) else config
        if "class_split" in prof:  # the profile's real data and networks, cut only in run size
            checked += 1
            assert prof["dry_run"] and prof["device"] == "cpu"
            assert tuple(prof["class_split"]) == real.class_split and prof["image_size"] == real.image_size
            assert prof["resnet_width"] == real.resnet_width and prof["many_class"] == real.many_class
    assert checked
    tables = sorted(figures.glob("*.csv"))
    assert tables
    numbers = [x for path in tables for x in finite_numbers(pd.read_csv(path))]
    assert numbers and any(math.isfinite(x) for x in numbers)


def test_a_missing_dataset_stops_the_dry_run_before_any_notebook(fake_env, ood_dirs):
    env = {**fake_env, "OOD_FASHION_MNIST_DIR": str(ood_dirs["runs"] / "no-such-folder")}
    done = run_dry("cifar", env, "--only", "04")
    assert done.returncode == 2
    assert "OOD_FASHION_MNIST_DIR" in done.stderr and "fashion-mnist" in done.stderr
    assert "[1/" not in done.stdout  # no notebook started
