"""Test-wide settings: a non-interactive matplotlib backend, two torch threads, and every
output root (figures, artifacts, runs) moved into one session temp folder so tests never
write into the repository. OOD_DATA_DIR keeps its default unless a test sets it (``data_dir``).

The folder sets the markers (registered in pyproject.toml): tests/notebooks -> ``notebook`` and
``integration``; tests/integration -> ``integration``; tests/integration/ddp -> also ``ddp``.
``pytest -m "not integration"`` leaves the fast in-process tests (tests/unit), ``-m "not ddp"`` the torchrun
ones out, ``-m "not notebook"`` the notebook executions. Shared helpers: tests/support.py."""

import os

os.environ["MPLBACKEND"] = "agg"  # before anything imports matplotlib; notebook kernels inherit it

from pathlib import Path

import pytest
import torch

torch.set_num_threads(2)

OUTPUT_VARS = {"OOD_FIGURES_DIR": "figures", "OOD_ARTIFACTS_DIR": "artifacts", "OOD_RUNS_DIR": "runs"}
TESTS = Path(__file__).resolve().parent
# folder (relative to tests/) -> the markers its tests get; a test in a subfolder gets its parents' markers too
FOLDER_MARKERS = {"notebooks": ("notebook", "integration"), "integration": ("integration",),
                  "integration/ddp": ("ddp",)}


def pytest_collection_modifyitems(config, items):
    for item in items:
        try:
            folder = Path(item.path).resolve().parent.relative_to(TESTS)
        except ValueError:  # collected from outside tests/
            continue
        for parent in (folder, *folder.parents):
            for name in FOLDER_MARKERS.get(parent.as_posix(), ()):
                item.add_marker(name)


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


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    """A fresh, empty ``OOD_DATA_DIR`` for the test, every per-dataset ``OOD_<NAME>_DIR`` unset (the output
    roots are kept), so only what the test writes is found."""
    monkeypatch.setenv("OOD_DATA_DIR", str(tmp_path / "datadir"))
    for var in list(os.environ):
        if var.startswith("OOD_") and var.endswith("_DIR") and var not in OUTPUT_VARS and var != "OOD_DATA_DIR":
            monkeypatch.delenv(var)
    return tmp_path / "datadir"
