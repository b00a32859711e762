"""The one figure saver and the one table writer of every method: byte-stable outputs (no timestamps, keys
sorted) under ``figures/<profile>/``, each with its provenance sidecar."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from ood_helpers.core import paths
from ood_helpers.core.artifacts.atomic_io import atomic_write_bytes, atomic_write_text
from ood_helpers.core.artifacts.keys import _check_name, _profile_name
from ood_helpers.core.artifacts.provenance import _write_sidecar


PNG_METADATA = {"Software": None}
PDF_METADATA = {"CreationDate": None, "Producer": None, "Creator": None}


def save_figure(fig, name: str, profile: Any, *, config: Any = None, seeds: Any = None, dpi: int = 150) -> list[Path]:
    """Writes ``figures/<profile>/<name>.png`` and ``.pdf`` (byte-identical on a rerun) and the
    ``<name>.json`` provenance sidecar; returns the three paths. The figure stays open."""
    import matplotlib

    _check_name(name, "figure name")
    if Path(name).suffix.lower() in {".png", ".pdf", ".svg", ".json"}:
        raise ValueError(f"figure name must not carry an extension (both PNG and PDF are written), got {name!r}")
    if not hasattr(fig, "savefig"):
        raise TypeError(f"expected a matplotlib Figure, got {type(fig).__name__}")
    folder = paths.figures_dir(_profile_name(profile))
    written = []
    # A fixed hashsalt keeps generated ids stable; bbox 'tight' is deterministic.
    with matplotlib.rc_context({"svg.hashsalt": "ood-helpers", "pdf.compression": 6}):
        for fmt, meta in (("png", PNG_METADATA), ("pdf", PDF_METADATA)):
            buf = io.BytesIO()
            fig.savefig(buf, format=fmt, dpi=dpi, metadata=meta, bbox_inches="tight")
            written.append(atomic_write_bytes(folder / f"{name}.{fmt}", buf.getvalue()))
    return written + [_write_sidecar(folder, name, profile, config, seeds, written)]


def save_figures(figures, profile: Any, *, config: Any = None, seeds: Any = None) -> list[Path]:
    """``save_figure`` for each ``name: figure`` of ``figures`` (a mapping, or (name, figure) pairs, in order);
    returns every path written."""
    pairs = figures.items() if hasattr(figures, "items") else figures
    written = []
    for name, fig in pairs:
        written += save_figure(fig, name, profile, config=config, seeds=seeds)
    return written


def _frame_for_text(df):
    """``df`` with a meaningful index turned into leading columns (plain RangeIndex dropped)."""
    import pandas as pd

    if isinstance(df.index, pd.RangeIndex) and df.index.name is None:
        return df.reset_index(drop=True)
    return df.reset_index()


def save_table(
    df, name: str, profile: Any, *, config: Any = None, seeds: Any = None, latex: bool = True
) -> list[Path]:
    """Writes ``figures/<profile>/<name>.csv``, ``.md`` (and ``.tex``) plus the JSON sidecar;
    returns the paths. A numeric summary attached by ``tables.trials_table`` (``df.attrs["summary"]``)
    is written too, as ``<name>_summary.csv``, so results can be read back as numbers."""
    import pandas as pd
    from tabulate import tabulate

    _check_name(name, "table name")
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, got {type(df).__name__}")
    folder = paths.figures_dir(_profile_name(profile))
    flat = _frame_for_text(df)
    flat.columns = [" / ".join(map(str, c)) if isinstance(c, tuple) else str(c) for c in flat.columns]
    written = [
        atomic_write_text(folder / f"{name}.csv", flat.to_csv(index=False, lineterminator="\n")),
        atomic_write_text(folder / f"{name}.md", flat.to_markdown(index=False) + "\n"),
    ]
    if latex:
        written.append(
            atomic_write_text(folder / f"{name}.tex", tabulate(flat, headers="keys", tablefmt="latex_booktabs", showindex=False) + "\n")
        )
    summary = df.attrs.get("summary")
    if isinstance(summary, pd.DataFrame):
        written.append(
            atomic_write_text(folder / f"{name}_summary.csv", summary.to_csv(index=False, lineterminator="\n"))
        )
    return written + [_write_sidecar(folder, name, profile, config, seeds, written)]


def output_path(name: str, profile: Any, suffix: str) -> Path:
    """Where ``save_figure`` / ``save_table`` put ``<name><suffix>`` for this profile."""
    _check_name(name, "output name")
    return paths.figures_dir(_profile_name(profile)) / f"{name}{suffix}"
