"""The index of every figure of a profile (file, the paper figure it regenerates, a thumbnail) and the
profile's provenance: commits named by the sidecars, when the files were written, the machine and the
wall time of each notebook from the runner's ``runs/<profile>/summary.json``."""

from __future__ import annotations

import base64
import io
import math
import os
import platform
from collections import Counter

import pandas as pd

from ood_helpers.report.registry import FIGURES, TABLES, figure_spec, notebooks
from ood_helpers.report.sources import Missing, Sources

THUMB_WIDTH = 240  # pixels


def figure_index(src: Sources) -> pd.DataFrame:
    """One row per figure file of the folder plus one per registered figure that is absent:
    file, notebook, paper, the paper figure, status ("present" | "missing" | "not in the registry")."""
    rows, found = [], src.figure_names()
    for stem in found:
        spec = figure_spec(stem)
        rows.append({"figure": stem, "notebook": spec.notebook if spec else "–", "paper": spec.paper if spec else "–",
                     "paper figure": spec.paper_figure if spec else "–",
                     "status": "present" if spec else "not in the registry",
                     "commit": _commit(src.sidecar(stem)), "written": src.written_at(stem, ".png")})
    for spec in FIGURES:
        if not spec.optional and not any(spec.matches(s) for s in found):
            name = spec.name + ("*" if spec.prefix else "")
            rows.append({"figure": name, "notebook": spec.notebook, "paper": spec.paper,
                         "paper figure": spec.paper_figure, "status": "missing", "commit": "–", "written": "–"})
    frame = pd.DataFrame(rows, columns=["figure", "notebook", "paper", "paper figure", "status", "commit", "written"])
    return frame.sort_values(["notebook", "figure"], kind="stable").reset_index(drop=True)


def thumbnail(path, width: int = THUMB_WIDTH) -> str:
    """A PNG thumbnail of the image at ``path``, ``width`` pixels wide, as a base64 data URI."""
    from PIL import Image

    with Image.open(path) as img:
        img = img.convert("RGB")
        height = max(1, round(img.height * width / img.width))
        small = img.resize((width, height), Image.LANCZOS)
    buf = io.BytesIO()
    small.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _commit(sidecar) -> str:
    if isinstance(sidecar, Missing) or not isinstance(sidecar, dict):
        return "–"
    git = sidecar.get("git") or {}
    commit = git.get("commit")
    return "–" if not commit else commit[:10] + (" (dirty)" if git.get("dirty") else "")


def _executed_copy(src: Sources, nb: str) -> dict | None:
    """Status, wall time and end of notebook ``nb`` from papermill's metadata in its executed copy
    ``runs/<profile>/<nb>_*.ipynb`` (None when there is no copy)."""
    import json

    copies = sorted(src.runs_folder.glob(f"{nb}_*.ipynb"))
    if not copies:
        return None
    try:
        meta = json.loads(copies[0].read_text(encoding="utf-8")).get("metadata", {}).get("papermill", {})
    except (OSError, ValueError):
        return None
    duration = meta.get("duration")
    status = "failed" if meta.get("exception") else "ok" if duration is not None else "running"
    return {"notebook": copies[0].name, "status": status, "seconds": float(duration) if duration is not None else math.nan,
            "finished": (meta.get("end_time") or "–")[:19].replace("T", " "), "from": f"executed copy {copies[0].name}"}


def wall_times(src: Sources) -> pd.DataFrame:
    """Each notebook with its status and wall time: from the runner's latest ``summary.json`` where that run
    included it, else from papermill's record in the executed copy (the runner rewrites the summary on every
    run); "missing" where neither has it."""
    runs = src.runs()
    by_nb = {}
    if not isinstance(runs, Missing):
        for r in runs.get("notebooks", []):
            by_nb[r["notebook"][:2]] = r
    rows = []
    for nb in sorted(set(notebooks()) | {"12"}):
        r, copy = by_nb.get(nb), _executed_copy(src, nb)
        if r:
            rows.append({"notebook": r["notebook"], "status": r["status"], "seconds": float(r["seconds"]),
                         "finished": copy["finished"] if copy else "–", "from": "runs summary.json"})
        elif copy:
            rows.append(copy)
        else:
            rows.append({"notebook": nb, "status": "missing", "seconds": math.nan, "finished": "–", "from": "–"})
    return pd.DataFrame(rows, columns=["notebook", "status", "seconds", "finished", "from"])


def provenance(src: Sources) -> dict:
    """Where the profile's files came from: the commits their sidecars name (with counts), when the
    files were written (oldest and newest), the runner's latest run and the machine building the report."""
    commits: Counter = Counter()
    times = []
    names = [s.name for s in TABLES] + src.figure_names()
    for name in names:
        side = src.sidecar(name)
        if not isinstance(side, Missing):
            commits[_commit(side)] += 1
            for suffix in (".csv", ".png", ".json"):
                if (t := src.written_at(name, suffix)):
                    times.append(t)
                    break
    runs = src.runs()
    run_info = "missing" if isinstance(runs, Missing) else (
        f"{len(runs.get('notebooks', []))} notebook(s), {runs.get('total_seconds', float('nan')):.0f} s in all, "
        f"commit {_commit(runs)}, overrides {runs.get('overrides') or 'none'}")
    machine = (runs.get("machine") if not isinstance(runs, Missing) else None) or "not recorded by the runner"
    return {
        "profile": src.profile,
        "folder": str(src.folder),
        "commits": dict(commits.most_common()) or {"–": 0},
        "written": f"{min(times)} to {max(times)}" if times else "missing",
        "runner summary": run_info,
        "machine of the run": machine,
        "report built on": f"{platform.node()} ({platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, "
                           f"Python {platform.python_version()})",
    }
