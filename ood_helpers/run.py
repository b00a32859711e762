"""Runs the notebooks in order with papermill: ``python -m ood_helpers.run --profile quick``.

Executed copies go to ``runs/<profile>/`` (never over the sources), papermill's working
directory is the notebooks folder, every cell has an execution timeout, and a failure
stops the run naming the notebook, the failing cell's error and the executed copy.
A summary with each notebook's wall time is printed and written to ``runs/<profile>/summary.json``.
``--set FIELD=VALUE`` replaces profile fields in every notebook (its ``overrides`` parameter).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ood_helpers.core import paths
from ood_helpers.core.artifacts import atomic_write_text, cpu_description, git_state
from ood_helpers.core.dry_run import SUFFIX, output_name
from ood_helpers.core.notebook_files import (find_notebooks, notebook_parameters, parse_value,
                                             select_notebooks)
from ood_helpers.core.overrides import coerce_field, decode_overrides, encode_overrides, parse_assignments
from ood_helpers.core.profile import PROFILES
from ood_helpers.preflight import announce, check_profile, print_listing, print_plan

KERNEL = "python3"
# Per-cell execution timeout (seconds) by profile; --timeout overrides it.
DEFAULT_TIMEOUTS = {"smoke": 600, "quick": 3600, "cifar": 6 * 3600, "paper": 7 * 24 * 3600, "dry-run": 1800}
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class NotebookFailed(RuntimeError):
    """A notebook raised; the message names it, the failing cell's error and the executed copy."""

    def __init__(self, notebook: Path, output: Path, error: str):
        self.notebook, self.output, self.error = notebook, output, error
        self.results: list[NotebookResult] = []  # what ran before and including this one
        super().__init__(f"notebook {notebook.name} failed:\n{error}\nexecuted copy: {output}")


@dataclass
class NotebookResult:
    notebook: str
    status: str  # "ok" | "failed"
    seconds: float
    output: str
    error: str | None = None


# ===== running =====


def _error_text(err: BaseException) -> str:
    from papermill.exceptions import PapermillExecutionError

    if isinstance(err, PapermillExecutionError):
        tb = _ANSI.sub("", "\n".join(err.traceback)).strip().splitlines()
        tail = "\n".join(tb[-25:])
        return f"cell {err.cell_index} of the executed copy (In [{err.exec_count}]) raised {err.ename}: {err.evalue}\n{tail}"
    return f"{type(err).__name__}: {_ANSI.sub('', str(err)).strip()}"


def run_notebook(
    notebook: Path,
    output: Path,
    parameters: dict,
    *,
    timeout: int,
    kernel: str = KERNEL,
    progress: bool = True,
) -> NotebookResult:
    """Executes ``notebook`` into ``output`` with papermill (cwd = the notebook's folder);
    returns its result; raises NotebookFailed when a cell raises or times out."""
    import papermill

    if output.resolve() == notebook.resolve():
        raise ValueError(f"refusing to write the executed copy over its source {notebook}")
    output.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(notebook),
            str(output),
            parameters=parameters,
            kernel_name=kernel,
            execution_timeout=timeout,
            cwd=str(notebook.parent),
            progress_bar=progress,
        )
    except Exception as err:  # papermill, nbclient (timeouts, dead kernels) and IO errors alike
        raise NotebookFailed(notebook, output, _error_text(err)) from err
    return NotebookResult(notebook.name, "ok", round(time.perf_counter() - t0, 2), str(output))


def machine_description(threads: int = 0) -> str:
    """Host, system, CPU (model, the instruction set torch's kernels use), the torch threads the notebooks
    train with (``threads``, the profile's; 0 = torch's default) and the accelerator, for the run's summary
    and the report: CPU numbers rerun bit for bit only with the same thread count and instruction set."""
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    cpu = cpu_description()
    used = f"{threads} torch threads (the profile's)" if threads else (
        f"torch's default threads (OMP_NUM_THREADS {os.environ.get('OMP_NUM_THREADS', 'unset')})")
    return (f"{platform.node()} ({platform.system()} {platform.machine()}, {cpu['model']}, {cpu['capability']}, "
            f"{os.cpu_count()} CPUs, {used}, {gpu}, Python {platform.python_version()}, torch {torch.__version__})")


def write_summary(profile: str, results: list[NotebookResult], parameters: dict, overrides: dict | None = None,
                  folder: str | None = None) -> Path:
    """``runs/<folder>/summary.json`` (``folder``: default the profile's name; written atomically) listing each
    notebook's status and time, the extra parameters and the profile overrides."""
    summary = {
        "profile": profile,
        "parameters": parameters,
        "overrides": json.loads(encode_overrides(overrides) or "{}"),
        "git": git_state(),
        "machine": machine_description(int((overrides or {}).get("threads", PROFILES[profile].threads))),
        "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "total_seconds": round(sum(r.seconds for r in results), 2),
        "notebooks": [asdict(r) for r in results],
    }
    return atomic_write_text(
        paths.runs_dir(folder or profile) / "summary.json", json.dumps(summary, indent=2, sort_keys=True) + "\n"
    )


def format_summary(results: list[NotebookResult]) -> str:
    """A plain-text table of notebook, status and wall time."""
    from tabulate import tabulate

    rows = [(r.notebook, r.status, f"{r.seconds:.1f}") for r in results]
    rows.append(("total", "", f"{sum(r.seconds for r in results):.1f}"))
    return tabulate(rows, headers=["notebook", "status", "seconds"], tablefmt="simple")


def run_all(
    profile: str,
    notebooks: list[Path],
    extra: dict | None = None,
    *,
    timeout: int | None = None,
    kernel: str = KERNEL,
    progress: bool = True,
    log=print,
    overrides: dict | None = None,
    check_data: bool = True,
) -> list[NotebookResult]:
    """Runs ``notebooks`` in order for ``profile``; stops at the first failure (raising
    NotebookFailed after writing the summary). Extra parameters go only to notebooks whose
    parameters cell declares them; ``overrides`` (profile field -> value) go to every notebook
    as its ``overrides`` parameter, JSON text. Before the first notebook it says what a dry run cuts and
    where each input is read, and raises FileNotFoundError naming any missing (``check_data``)."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; known profiles: {', '.join(PROFILES)}")
    dry = bool((overrides or {}).get("dry_run", PROFILES[profile].dry_run))
    timeout = DEFAULT_TIMEOUTS.get("dry-run" if dry else profile, 3600) if timeout is None else timeout
    if timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout}")
    extra = dict(extra or {})
    if "overrides" in extra:
        raise ValueError("pass profile fields with --set FIELD=VALUE (run_all's `overrides`), not -p overrides")
    encoded = encode_overrides(overrides)  # validates every field and value before anything runs
    fields = decode_overrides(encoded)
    for name, value in extra.items():  # a notebook would refuse the pair; say so before anything runs
        if value and name in fields and coerce_field(name, value) != fields[name]:
            raise ValueError(f"-p {name} {value!r} and --set {name}={fields[name]!r} disagree; give the field one way")
    resolved = check_profile(profile, fields, extra)
    announce(resolved, [nb.name[:2] for nb in notebooks], log=log, check_data=check_data)
    declared = {nb: notebook_parameters(nb) for nb in notebooks}
    for nb, params in declared.items():
        for name in ("profile", "overrides"):
            if name not in params:
                raise ValueError(f"notebook {nb.name} has no `{name}` parameter in a cell tagged 'parameters'")
    unused = [name for name in extra if not any(name in params for params in declared.values())]
    if unused:
        raise ValueError(f"parameter(s) {unused} are declared by none of the selected notebooks: "
                         f"{', '.join(nb.name for nb in notebooks)}")
    folder = output_name(resolved)  # <profile>-dry-run for a dry run
    out_dir = paths.runs_dir(folder)
    results: list[NotebookResult] = []
    for i, nb in enumerate(notebooks, 1):
        params = {"profile": profile, "overrides": encoded, **{k: v for k, v in extra.items() if k in declared[nb]}}
        shown = {k: v for k, v in params.items() if k != "overrides" or v}
        log(f"[{i}/{len(notebooks)}] {nb.name}  ({', '.join(f'{k}={v!r}' for k, v in shown.items())})", flush=True)
        t0 = time.perf_counter()
        try:
            result = run_notebook(nb, out_dir / nb.name, params, timeout=timeout, kernel=kernel, progress=progress)
        except NotebookFailed as err:
            seconds = round(time.perf_counter() - t0, 2)
            results.append(NotebookResult(nb.name, "failed", seconds, str(err.output), err.error))
            write_summary(profile, results, extra, fields, folder)
            err.results = results
            raise
        results.append(result)
        log(f"    done in {result.seconds:.1f} s -> {result.output}", flush=True)
    write_summary(profile, results, extra, fields, folder)
    return results


# ===== command line =====


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m ood_helpers.run",
        description="Run the notebooks in order with papermill; executed copies go to runs/<profile>/.",
    )
    p.add_argument("--profile", default="quick", help=f"run size: {' | '.join(PROFILES)} (default quick)")
    p.add_argument("--only", action="append", metavar="NN", help="run only notebooks whose name starts with NN (repeat or comma-separate)")
    p.add_argument("--from", dest="start", metavar="NN", help="start at the first notebook whose name starts with NN")
    p.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="extra papermill parameter, passed to the notebooks that declare it")
    p.add_argument("--set", dest="assignments", action="append", default=[], metavar="FIELD=VALUE",
                   help="replace a profile field or a paper's setting in every notebook, e.g. --set trials=2 --set "
                        "class_split=4,2,2 --set homogeneity.pretrain_steps=2 --set cac.epochs=3 "
                        "(repeatable; sent as each notebook's `overrides` parameter)")
    p.add_argument("--notebooks", type=Path, default=None, help=f"notebooks folder (default {paths.NOTEBOOKS})")
    p.add_argument("--timeout", type=int, default=None, help="per-cell execution timeout in seconds (default by profile)")
    p.add_argument("--kernel", default=KERNEL, help="Jupyter kernel name (default python3)")
    p.add_argument("--dry-run", action="store_true",
                   help="every notebook on the profile's real data, splits and networks with steps, epochs, batches, "
                        "trials and evaluation sizes cut, on the CPU; outputs in <root>/<profile>-dry-run/ "
                        "(= --set dry_run=true)")
    p.add_argument("--skip-data-check", action="store_true",
                   help="start even when an input is not found locally (e.g. to let torchvision download it)")
    p.add_argument("--list", action="store_true", help="list the notebooks and their parameters, run nothing")
    p.add_argument("--plan", action="store_true", help="print each notebook's work and inputs, run nothing")
    p.add_argument("--no-progress", action="store_true", help="no per-cell progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    """The command line; returns the exit status (0 ok, 1 a notebook failed, 2 bad arguments)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.profile not in PROFILES:
        parser.error(f"unknown profile {args.profile!r}; known profiles: {', '.join(PROFILES)}")
    try:
        overrides = parse_assignments(args.assignments)
        if args.dry_run:
            overrides.setdefault("dry_run", True)
        notebooks = select_notebooks(find_notebooks(args.notebooks), args.only, args.start)
    except (FileNotFoundError, ValueError) as err:
        parser.error(str(err))
    if args.list:
        print_listing(notebooks, args.profile, overrides)
        return 0
    if args.plan:
        return print_plan(args.profile, overrides, [nb.name[:2] for nb in notebooks])
    extra = {name: parse_value(value) for name, value in args.parameter}
    if "profile" in extra:
        parser.error("pass the profile with --profile, not -p profile")
    if "overrides" in extra:
        parser.error("pass profile fields with --set FIELD=VALUE, not -p overrides")
    try:
        results = run_all(args.profile, notebooks, extra, timeout=args.timeout, kernel=args.kernel,
                          progress=not args.no_progress, overrides=overrides, check_data=not args.skip_data_check)
    except (ValueError, FileNotFoundError) as err:
        parser.error(str(err))
    except NotebookFailed as err:
        print("\n" + format_summary(err.results), flush=True)
        print(f"\nFAILED: {err}", file=sys.stderr, flush=True)
        print(f"summary: {paths.runs_dir(_folder(args.profile, overrides)) / 'summary.json'}", file=sys.stderr)
        return 1
    print("\n" + format_summary(results))
    print(f"summary: {paths.runs_dir(_folder(args.profile, overrides)) / 'summary.json'}")
    return 0


def _folder(profile: str, overrides: dict) -> str:
    return f"{profile}{SUFFIX}" if overrides.get("dry_run") else profile


if __name__ == "__main__":
    sys.exit(main())
