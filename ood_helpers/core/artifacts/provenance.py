"""Provenance: what made an output (git state, package versions, thread count and CPU, config, seeds), written as a
JSON sidecar beside it."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import platform
import subprocess
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from ood_helpers import __version__
from ood_helpers.core import paths
from ood_helpers.core.artifacts.atomic_io import atomic_write_text
from ood_helpers.core.artifacts.keys import _jsonable, _profile_name

_PACKAGES = ("torch", "torchvision", "numpy", "scikit-learn", "scipy", "pandas", "matplotlib", "faiss-cpu",
             "pytorch-metric-learning", "pytorch-ood")


@functools.lru_cache(maxsize=1)
def git_state() -> dict:
    """``{"commit": sha or None, "dirty": bool or None}`` of the repository; None without git.

    Read once per process, so every output of one run names the same commit.
    """

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(paths.ROOT), *args], capture_output=True, text=True, timeout=20, check=False
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain") if commit else None
    return {"commit": commit, "dirty": None if status is None else bool(status)}


@functools.lru_cache(maxsize=1)
def package_versions() -> dict:
    """Versions of python, ood_helpers and the main numeric packages (None when absent)."""
    out = {"python": platform.python_version(), "ood_helpers": __version__}
    for dist in _PACKAGES:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def _torch_threads() -> int:
    """torch's intra-op thread count: CPU results are bit-identical only for the same count."""
    import torch

    return torch.get_num_threads()


@functools.lru_cache(maxsize=1)
def cpu_description() -> dict:
    """``{"model", "capability"}``: the CPU's model name (``/proc/cpuinfo``, else ``platform``) and the vector
    instruction set torch's kernels use (e.g. "AVX512", "AVX2"); CPU results are bit-identical only between
    machines that agree on it (and on the thread count)."""
    import torch

    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"model": model, "capability": torch.backends.cpu.get_cpu_capability()}


def provenance(profile: Any, *, config: Any = None, seeds: Any = None, files: Mapping[str, Path] | None = None) -> dict:
    """The sidecar dict: git commit and dirty flag, profile (name and fields), config, seeds,
    package versions and the sha256 of each written file. Nothing time-dependent."""
    info = {
        "profile": _profile_name(profile),
        "profile_config": _jsonable(profile) if dataclasses.is_dataclass(profile) else None,
        "config": _jsonable(config),
        "seeds": _jsonable(seeds),
        "git": git_state(),
        "versions": package_versions(),
        "torch_threads": _torch_threads(),
        "cpu": cpu_description(),
    }
    if files:
        info["files"] = {name: hashlib.sha256(Path(p).read_bytes()).hexdigest() for name, p in files.items()}
    return info


def _write_sidecar(folder: Path, name: str, profile: Any, config: Any, seeds: Any, written: list[Path]) -> Path:
    info = provenance(profile, config=config, seeds=seeds, files={p.name: p for p in written})
    info["name"] = name
    text = json.dumps(info, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    return atomic_write_text(folder / f"{name}.json", text)
