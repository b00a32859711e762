"""The notebooks the runner (``ood_helpers.run``) runs: found in a folder, chosen by ``--only`` / ``--from``,
their parameters cell read by papermill, ``-p`` values typed by papermill's CLI rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ood_helpers.core import paths


def find_notebooks(folder: str | Path | None = None) -> list[Path]:
    """The ``*.ipynb`` files of ``folder`` (default ``notebooks/``) in name order; names starting
    with '_' or '.' are skipped (drafts, checkpoints)."""
    folder = Path(folder) if folder is not None else paths.NOTEBOOKS
    if not folder.is_dir():
        raise FileNotFoundError(f"notebooks folder {folder} does not exist")
    found = sorted(p for p in folder.glob("*.ipynb") if not p.name.startswith((".", "_")))
    if not found:
        raise FileNotFoundError(f"no *.ipynb notebooks in {folder}")
    return found


def _matches(notebook: Path, token: str) -> bool:
    return notebook.name == token or notebook.stem == token or notebook.name.startswith(token)


def select_notebooks(notebooks: list[Path], only: list[str] | None = None, start: str | None = None) -> list[Path]:
    """``notebooks`` from the first matching ``start`` on, restricted to those matching ``only``
    (a token matches a notebook whose name starts with it, e.g. "04")."""
    names = ", ".join(p.name for p in notebooks)
    chosen = notebooks
    if start:
        hits = [i for i, p in enumerate(notebooks) if _matches(p, start)]
        if not hits:
            raise ValueError(f"--from {start} matches no notebook; notebooks: {names}")
        chosen = notebooks[hits[0] :]
    if only:
        tokens = [t for item in only for t in item.split(",") if t.strip()]
        missing = [t for t in tokens if not any(_matches(p, t) for p in notebooks)]
        if missing:
            raise ValueError(f"--only {', '.join(missing)} matches no notebook; notebooks: {names}")
        chosen = [p for p in chosen if any(_matches(p, t) for t in tokens)]
        if not chosen:
            raise ValueError(f"--only {', '.join(tokens)} with --from {start} leaves no notebook; notebooks: {names}")
    return chosen


def parse_value(text: str) -> Any:
    """A ``-p`` value typed by papermill's CLI rules: True/False/None, int, float, else str."""
    if text in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[text]
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def notebook_parameters(notebook: Path) -> dict:
    """papermill's view of the notebook's parameters cell: name -> {inferred_type_name, default, help}."""
    import papermill

    return papermill.inspect_notebook(str(notebook))
