"""What notebooks 00-11 wrote, read back from ``figures/<profile>/`` and ``runs/<profile>/summary.json``.

The report never recomputes a number: every value it shows comes through this module, from the
CSV tables, their JSON sidecars and the runner's summary. A file that is not there is a
:class:`Missing` (shown as "missing"), never an empty table or a zero.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from ood_helpers.core import paths

NUMERIC = ("mean", "std", "n", "models", "paper")  # the value columns of a tables.trials_table summary (models: newer)


@dataclass(frozen=True)
class Missing:
    """A notebook output that is not in the profile's folder; ``path`` is where it was looked for."""

    path: Path

    def __str__(self) -> str:
        return f"`{self.path.name}` is not in `{self.path.parent}`"


class Sources:
    """The files of one profile: ``summary(name)``, ``table(name)``, ``trials(name)``, ``sidecar(name)``,
    ``figure(name)`` and ``runs()``; each returns a :class:`Missing` when the file is absent."""

    def __init__(self, profile: str, folder: str | None = None):
        if not isinstance(profile, str) or not profile:
            raise ValueError(f"profile must be a profile name such as 'quick', got {profile!r}")
        self.profile = profile  # the recipe the tables are compared under; ``folder``: where they are (a dry run's)
        self.folder = paths.figures_dir(folder or profile)
        self.runs_folder = paths.runs_dir(folder or profile)

    def path(self, name: str, suffix: str) -> Path:
        return self.folder / f"{name}{suffix}"

    def _csv(self, name: str, suffix: str):
        path = self.path(name, suffix)
        if not path.is_file():
            return Missing(path)
        return pd.read_csv(path, keep_default_na=False, na_values=[""])

    def summary(self, name: str):
        """``<name>_summary.csv``: one row per cell, the key columns then mean, std, n, paper."""
        return self._csv(name, "_summary.csv")

    def table(self, name: str):
        """``<name>.csv`` as the notebook showed it (strings such as "12.3 ± 0.4")."""
        return self._csv(name, ".csv")

    def trials(self, name: str):
        """``<name>_trials.csv``: the per-trial records."""
        return self._csv(name, "_trials.csv")

    def markdown(self, name: str):
        path = self.path(name, ".md")
        return path.read_text(encoding="utf-8") if path.is_file() else Missing(path)

    def sidecar(self, name: str):
        """The JSON provenance sidecar of a table or figure (a summary shares its table's sidecar)."""
        path = self.path(name.removesuffix("_summary"), ".json")
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else Missing(path)

    def figure(self, name: str):
        """The PNG of figure ``name``."""
        path = self.path(name, ".png")
        return path if path.is_file() else Missing(path)

    def figure_names(self) -> list[str]:
        """Every figure of the folder (a PNG with a JSON sidecar beside it), sorted."""
        return sorted(p.stem for p in self.folder.glob("*.png") if p.with_suffix(".json").is_file())

    def written_at(self, name: str, suffix: str) -> str | None:
        """UTC time (ISO, seconds) the file was last written, None when absent."""
        path = self.path(name, suffix)
        if not path.is_file():
            return None
        return datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")

    def runs(self):
        """``runs/<profile>/summary.json`` of the runner's latest run, or Missing."""
        path = self.runs_folder / "summary.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else Missing(path)


def key_columns(summary: pd.DataFrame) -> list[str]:
    """The key columns of a summary: every column but mean, std, n, models (trained models among the n values,
    in summaries written since issue 24) and paper."""
    lacking = [c for c in ("mean", "std", "n") if c not in summary.columns]
    if lacking:
        raise ValueError(f"not a tables.trials_table summary: it lacks {lacking}; columns {list(summary.columns)}")
    return [c for c in summary.columns if c not in NUMERIC]
