"""Every location the project reads or writes, as absolute paths from the repository root.

Notebooks run from any working directory (papermill ``--cwd``, JupyterLab), so nothing
here depends on ``os.getcwd()``. Each root can be moved by an environment variable,
which is how the tests keep their outputs in a temporary folder.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # core/ -> ood_helpers/ -> the repository
NOTEBOOKS = ROOT / "notebooks"


def _env_path(var: str, default: Path) -> Path:
    value = os.environ.get(var)
    return Path(value).expanduser().resolve() if value else default


def data_root() -> Path:
    """Where datasets are downloaded to or looked for (``OOD_DATA_DIR``, default ``data/``)."""
    return _env_path("OOD_DATA_DIR", ROOT / "data")


def figures_dir(profile: str) -> Path:
    """``figures/<profile>/`` (root moved by ``OOD_FIGURES_DIR``); created on demand."""
    path = _env_path("OOD_FIGURES_DIR", ROOT / "figures") / profile
    path.mkdir(parents=True, exist_ok=True)
    return path


def artifacts_dir(profile: str) -> Path:
    """Checkpoints, embeddings and results of one profile (root moved by ``OOD_ARTIFACTS_DIR``)."""
    path = _env_path("OOD_ARTIFACTS_DIR", ROOT / "artifacts") / profile
    path.mkdir(parents=True, exist_ok=True)
    return path


def runs_dir(profile: str) -> Path:
    """Executed notebook copies, ``runs/<profile>/`` (root moved by ``OOD_RUNS_DIR``)."""
    path = _env_path("OOD_RUNS_DIR", ROOT / "runs") / profile
    path.mkdir(parents=True, exist_ok=True)
    return path
