"""The profile, not the machine, sets the training thread count (issue 24, item 5).

CPU kernels split their sums by thread, so one and two torch threads train different weights from one seed.
The runner's notebooks set torch's thread count from ``Profile.threads``; run under ``OMP_NUM_THREADS=1`` and
``=2``, notebook 02 of the smoke profile must write byte-identical files, sidecars included (each records the
thread count its process trained with: the profile's 2, not the environment's 1)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support import ROOT


def _run_notebook_02(tmp: Path, omp_threads: str) -> Path:
    env = {**os.environ, "OMP_NUM_THREADS": omp_threads, "MPLBACKEND": "agg", "OOD_ARTIFACTS_DIR": str(tmp / "a"),
           "OOD_FIGURES_DIR": str(tmp / "f"), "OOD_RUNS_DIR": str(tmp / "r")}
    done = subprocess.run([sys.executable, "-m", "ood_helpers.run", "--profile", "smoke", "--only", "02"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return tmp


def test_notebook_tables_do_not_depend_on_omp_num_threads(tmp_path):
    one = _run_notebook_02(tmp_path / "one", "1")
    two = _run_notebook_02(tmp_path / "two", "2")
    files = sorted(p.relative_to(one / "f") for p in (one / "f").rglob("*") if p.is_file())
    assert any(f.suffix == ".csv" for f in files) and any(f.suffix == ".json" for f in files), files
    assert files == sorted(p.relative_to(two / "f") for p in (two / "f").rglob("*") if p.is_file())
    differ = [str(f) for f in files if (one / "f" / f).read_bytes() != (two / "f" / f).read_bytes()]
    assert differ == []
    sidecars = [json.loads((one / "f" / f).read_text()) for f in files if f.suffix == ".json"]
    assert {s["torch_threads"] for s in sidecars} == {2}
    summary = json.loads((one / "r" / "smoke" / "summary.json").read_text())
    assert "2 torch threads (the profile's)" in summary["machine"]
