"""Test-wide settings: a non-interactive matplotlib backend, two torch threads, and every
output root (figures, artifacts, runs) moved into one session temp folder so tests never
write into the repository. OOD_DATA_DIR keeps its default unless a test sets it."""

import os

os.environ["MPLBACKEND"] = "agg"  # before anything imports matplotlib; notebook kernels inherit it

from pathlib import Path

import pytest
import torch

torch.set_num_threads(2)

OUTPUT_VARS = {"OOD_FIGURES_DIR": "figures", "OOD_ARTIFACTS_DIR": "artifacts", "OOD_RUNS_DIR": "runs"}


@pytest.fixture(scope="session", autouse=True)
def ood_dirs(tmp_path_factory) -> dict[str, Path]:
    """``{"figures": Path, "artifacts": Path, "runs": Path}``: the session's output roots."""
    root = tmp_path_factory.mktemp("ood_outputs")
    dirs = {sub: root / sub for sub in OUTPUT_VARS.values()}
    with pytest.MonkeyPatch.context() as mp:
        for var, sub in OUTPUT_VARS.items():
            dirs[sub].mkdir()
            mp.setenv(var, str(dirs[sub]))
        yield dirs


@pytest.fixture
def one_thread():
    """torch on one thread for the test: the torchrun ranks run on one thread each (launch sets
    OMP_NUM_THREADS), and a one-process reference must too, else its conv backward sums in another order
    (and Adam turns the rounding noise of gradients that are zero in exact arithmetic, such as the
    attention's key bias, into lr-sized steps)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
