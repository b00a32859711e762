"""Everything the notebooks write: figures, tables, caches and checkpoints.

One figure saver and one table writer for every method. Outputs are byte-stable across
reruns (no timestamps anywhere, keys sorted), each carries a JSON sidecar saying what made
it, and every file lands atomically (temp file in the same folder, then ``os.replace``), so
an interrupted run never leaves half a file behind or clobbers an older good one.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import functools
import hashlib
import importlib.util
import io
import json
import os
import platform
import re
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from . import __version__, paths

def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp makes 0600 files; results should get the usual mode (0644 under umask 022).
_FILE_MODE = 0o666 & ~_read_umask()
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
# Distributions whose versions go into every sidecar (cache keys hold the ood_helpers version only).
_PACKAGES = ("torch", "torchvision", "numpy", "scikit-learn", "scipy", "pandas", "matplotlib", "faiss-cpu",
             "pytorch-metric-learning", "pytorch-ood")


class ArtifactError(RuntimeError):
    """A cached file or checkpoint that cannot be used as it is."""


class CorruptArtifactError(ArtifactError):
    """The file is truncated or not a readable checkpoint."""


class ConfigMismatchError(ArtifactError):
    """The file was written for another configuration than the one expected."""


# ===== names and keys =====


def _profile_name(profile: Any) -> str:
    name = getattr(profile, "name", profile)
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"profile must be a Profile or a profile name like 'quick', got {profile!r}")
    return name


def _check_name(name: str, what: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name) or name in {".", ".."}:
        raise ValueError(
            f"{what} must be a plain file name of letters, digits, '_', '-' or '.', got {name!r}"
        )
    return name


def _jsonable(obj: Any) -> Any:
    """``obj`` as plain JSON types (dicts, lists, str, numbers, None), recursively."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return _jsonable(dataclasses.asdict(obj))
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (set, frozenset)):
        return sorted(_jsonable(v) for v in obj)
    if isinstance(obj, Path):
        return str(obj)
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if hasattr(obj, "tolist"):  # numpy scalars/arrays and torch tensors
        return _jsonable(obj.tolist())
    raise TypeError(
        f"cannot turn {type(obj).__name__} {obj!r} into JSON; "
        "expected dicts, lists, tuples, numbers, strings, None, Paths, dataclasses or numpy values"
    )


def canonical_json(obj: Any) -> str:
    """``obj`` as JSON with sorted keys and fixed separators: the same text for equal configs."""
    return json.dumps(_jsonable(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=True)


def config_hash(*parts: Any) -> str:
    """16 hex digits hashing ``parts`` (config dicts, profiles, strings, data fingerprints) and
    the ood_helpers version. Configs of cached artifacts carry a ``code_fingerprint`` of the
    modules that made them, so a code change never reuses a stale cache."""
    text = canonical_json({"ood_helpers": __version__, "parts": list(parts)})
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _module_source(name: str) -> str:
    """Source text of ``ood_helpers.<name>`` (e.g. "losses.homogeneity"), read from its file."""
    spec = importlib.util.find_spec(f"{__package__}.{name}")
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        raise ValueError(f"no module ood_helpers.{name} with a .py source; name modules like 'train' or 'models.resnet'")
    return Path(spec.origin).read_text(encoding="utf-8")


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return tree


@functools.lru_cache(maxsize=None)
def _module_code_hash(name: str, source: str) -> str:
    tree = _strip_docstrings(ast.parse(source, filename=name))
    return hashlib.sha256(ast.dump(tree, include_attributes=False).encode("utf-8")).hexdigest()


def code_fingerprint(*module_names: str) -> str:
    """16 hex digits of the code of the named ood_helpers modules ("train", "models.homogeneity").

    Hashes each module's syntax tree without docstrings and comments: editing a comment or a
    docstring keeps every cache, any change to code (a loss, a sampler, a default) makes a new
    key. Put it in the config of every cached artifact, naming the modules that made it. The
    tree's text can change between Python minor versions, so a new Python retrains too.
    """
    if not module_names:
        raise ValueError("name at least one module, e.g. code_fingerprint('train', 'models.resnet')")
    hashes = {name: _module_code_hash(name, _module_source(name)) for name in sorted(set(module_names))}
    return hashlib.sha256(canonical_json(hashes).encode("utf-8")).hexdigest()[:16]


def tensor_digest(*arrays: Any) -> str:
    """16 hex digits of sha256 over tensors / arrays (values, shapes, dtypes): the data part of a cache key."""
    import numpy as np
    import torch

    h = hashlib.sha256()
    for a in arrays:
        arr = np.ascontiguousarray(torch.as_tensor(a).detach().cpu().numpy())
        h.update(arr.tobytes() + str(arr.shape).encode() + str(arr.dtype).encode())
    return h.hexdigest()[:16]


def cache_path(profile: Any, kind: str, key: str, suffix: str = ".pt") -> Path:
    """``artifacts/<profile>/<kind>/<key><suffix>``, its folder created."""
    _check_name(kind, "kind")
    _check_name(key, "key")
    if suffix and not re.match(r"^\.[A-Za-z0-9_.]+$", suffix):
        raise ValueError(f"suffix must look like '.pt' or '.jsonl', got {suffix!r}")
    folder = paths.artifacts_dir(_profile_name(profile)) / kind
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{key}{suffix}"


# ===== atomic writes =====


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yields a temp path beside ``path``; on success it replaces ``path`` in one step.

    On any error the temp file is removed and an existing ``path`` stays as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    os.chmod(tmp, _FILE_MODE)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:  # flush to disk before the rename makes it visible
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Writes ``data`` to ``path`` atomically; returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Writes ``text`` (UTF-8, newlines as given) to ``path`` atomically; returns the path."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_save_torch(obj: Any, path: str | os.PathLike, *, config: Any = None) -> Path:
    """``torch.save(obj)`` to ``path`` atomically; returns the path.

    With ``config``, ``obj`` must be a dict and the config is stored under ``"config"`` so
    that ``load_torch(path, expect_config=...)`` can refuse a file made for another config.
    """
    import torch

    if config is not None:
        if not isinstance(obj, dict):
            raise TypeError(f"with config=..., obj must be a dict to hold it, got {type(obj).__name__}")
        obj = {**obj, "config": json.loads(canonical_json(config))}
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return Path(path)


def _config_diff(stored: Any, expected: Any, prefix: str = "") -> list[str]:
    if isinstance(stored, dict) and isinstance(expected, dict):
        out = []
        for key in sorted(set(stored) | set(expected)):
            name = f"{prefix}.{key}" if prefix else key
            if key not in stored:
                out.append(f"{name}: missing in file, expected {expected[key]!r}")
            elif key not in expected:
                out.append(f"{name}: file has {stored[key]!r}, not expected")
            else:
                out.extend(_config_diff(stored[key], expected[key], name))
        return out
    return [] if stored == expected else [f"{prefix or 'config'}: file has {stored!r}, expected {expected!r}"]


def load_torch(
    path: str | os.PathLike,
    *,
    expect_config: Any = None,
    map_location: Any = "cpu",
    weights_only: bool = False,
) -> Any:
    """The object saved at ``path`` by ``atomic_save_torch``.

    Raises FileNotFoundError when it is missing, CorruptArtifactError when it is truncated
    or unreadable, ConfigMismatchError when ``expect_config`` is given and differs from the
    ``"config"`` stored in the file (each message names the file and the problem).
    ``weights_only`` defaults to False because these are the project's own files, which may
    hold numpy arrays and histories beside the tensors.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        obj = torch.load(path, map_location=map_location, weights_only=weights_only)
    except Exception as err:  # torch raises several types for a damaged zip/pickle
        raise CorruptArtifactError(
            f"checkpoint {path} ({path.stat().st_size} bytes) is truncated or corrupt and cannot be "
            f"loaded ({type(err).__name__}: {err}); delete it to recompute"
        ) from err
    if expect_config is not None:
        if not isinstance(obj, dict) or "config" not in obj:
            raise ConfigMismatchError(
                f"checkpoint {path} stores no config to check against the expected one; delete it to recompute"
            )
        expected = json.loads(canonical_json(expect_config))
        stored = json.loads(canonical_json(obj["config"]))
        diff = _config_diff(stored, expected)
        if diff:
            shown = "; ".join(diff[:5]) + (f"; and {len(diff) - 5} more" if len(diff) > 5 else "")
            raise ConfigMismatchError(
                f"checkpoint {path} was written for a different config ({shown}); "
                "delete it or use the matching config"
            )
    return obj


# ===== provenance =====


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
    }
    if files:
        info["files"] = {name: hashlib.sha256(Path(p).read_bytes()).hexdigest() for name, p in files.items()}
    return info


def _write_sidecar(folder: Path, name: str, profile: Any, config: Any, seeds: Any, written: list[Path]) -> Path:
    info = provenance(profile, config=config, seeds=seeds, files={p.name: p for p in written})
    info["name"] = name
    text = json.dumps(info, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    return atomic_write_text(folder / f"{name}.json", text)


# ===== figures and tables =====

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
