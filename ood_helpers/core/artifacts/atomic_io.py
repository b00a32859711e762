"""Atomic writes and checked loads: every file lands in one step (temp file in the same folder, then
``os.replace``), so an interrupted run never leaves half a file behind or clobbers an older good one."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ood_helpers.core.artifacts.keys import canonical_json


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp makes 0600 files; results should get the usual mode (0644 under umask 022).
_FILE_MODE = 0o666 & ~_read_umask()


class ArtifactError(RuntimeError):
    """A cached file or checkpoint that cannot be used as it is."""


class CorruptArtifactError(ArtifactError):
    """The file is truncated or not a readable checkpoint."""


class ConfigMismatchError(ArtifactError):
    """The file was written for another configuration than the one expected."""


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
