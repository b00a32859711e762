"""Cache keys: canonical JSON of a config, its hash, a digest of tensors, and the fingerprint of the code that
makes an artifact, derived from that code's import closure inside the package."""

from __future__ import annotations

import ast
import dataclasses
import functools
import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ood_helpers import __version__
from ood_helpers.core import paths
from ood_helpers.core.dry_run import output_name

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_PACKAGE_ROOT = Path(__file__).resolve().parents[3]  # the folder holding ood_helpers/


def _profile_name(profile: Any) -> str:
    """The folder name of a profile's outputs: its name (``<name>-dry-run`` for a dry run, ``core.dry_run``)."""
    name = output_name(profile)
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


# ----- the code fingerprint: written by hand, no library derives a module's import closure from source -----


def _module_file(name: str) -> Path | None:
    """The source file of module ``name`` ("ood_helpers.cac.training"), or None when it is not one."""
    base = _PACKAGE_ROOT.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _imported_modules(name: str, tree: ast.AST) -> set[str]:
    """The ood_helpers modules ``tree`` (module ``name``) imports, at top level or inside functions."""
    package = name if _module_file(name).name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            while target.startswith("ood_helpers.") and _module_file(target) is None:
                target = target.rpartition(".")[0]
            if target.startswith("ood_helpers.") and target != name:
                found.add(target)
    return found


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return tree


@functools.lru_cache(maxsize=None)
def _module_code(name: str, source: str) -> tuple[str, frozenset]:
    """(hash of the syntax tree without docstrings and comments, the ood_helpers modules it imports)."""
    tree = ast.parse(source, filename=name)
    imports = frozenset(_imported_modules(name, tree))
    return hashlib.sha256(ast.dump(_strip_docstrings(tree), include_attributes=False).encode("utf-8")).hexdigest(), imports


@functools.lru_cache(maxsize=None)
def _read_source(name: str) -> str:
    """The module's source as this process first read it: Python imports a module once, so an edit made while
    a run goes on (another session, an editor) must not change that run's keys halfway and retrain."""
    path = _module_file(name)
    if not name.startswith("ood_helpers") or path is None:
        raise ValueError(f"no module {name!r} with a .py source in the ood_helpers package; name modules like "
                         "'ood_helpers.cac.training' (a module's own __name__)")
    return path.read_text(encoding="utf-8")


def code_closure(*module_names: str) -> dict[str, str]:
    """Module name -> code hash for ``module_names`` and every ood_helpers module they import, directly or
    transitively (function-local imports included), with the packages above each (their ``__init__`` runs)."""
    hashes, todo = {}, list(module_names)
    while todo:
        name = todo.pop()
        if name in hashes:
            continue
        hashes[name], imports = _module_code(name, _read_source(name))
        parents = {name.rsplit(".", i)[0] for i in range(1, name.count("."))}  # Python runs their __init__ too
        todo.extend(sorted((imports | parents) - hashes.keys()))
    return hashes


def code_fingerprint(*module_names: str) -> str:
    """16 hex digits of the code that makes an artifact: the named modules (pass the maker's ``__name__``)
    and their import closure inside the package (``code_closure``).

    Hashes each module's syntax tree without docstrings and comments: editing a comment or a docstring, or a
    module the maker does not import, keeps every cache; any change to code it runs (a loss, a sampler, a
    default) makes a new key. Nobody keeps module lists. The tree's text can change between Python minor
    versions, so a new Python retrains too.
    """
    if not module_names:
        raise ValueError("name at least one module, e.g. code_fingerprint(__name__)")
    return hashlib.sha256(canonical_json(code_closure(*module_names)).encode("utf-8")).hexdigest()[:16]


def tensor_digest(*arrays: Any) -> str:
    """16 hex digits of sha256 over tensors / arrays (values, shapes, dtypes): the data part of a cache key."""
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
