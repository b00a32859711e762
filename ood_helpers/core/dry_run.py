"""The dry run: every notebook of a profile end to end on the profile's real data, class splits, set size,
networks and image sizes, with what costs time cut (Lightning's ``fast_dev_run``).

``Profile.dry_run`` turns it on (``python -m ood_helpers.run --dry-run``, ``--set dry_run=true``, or
``{"dry_run": true}`` in a notebook's ``overrides``). What it cuts is data beside the settings it cuts:
``PROFILE_DRY_RUN`` below for the profile's run-size fields, one ``DRY_RUN`` table per paper in its
``settings.py`` (registered with :func:`declare_dry_run`). A value :class:`AtMost` keeps a smaller setting
(0 = off stays off); any other value replaces the setting. A field the user sets (``--set``) wins over the
dry run's value. Outputs go to ``<root>/<profile>-dry-run/`` (:func:`output_name`), never beside a real run's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SUFFIX = "-dry-run"


@dataclass(frozen=True)
class AtMost:
    """A dry-run ceiling: ``min(setting, n)`` for an int, each element capped for a tuple of ints."""

    n: int

    def apply(self, value: Any) -> Any:
        if isinstance(value, tuple):
            return tuple(min(v, self.n) for v in value)
        return min(value, self.n)

    def __repr__(self) -> str:
        return f"at most {self.n}"


# the profile's run-size fields: one CPU process, small image batches, one trial of one model, at most 3 images
# a class in the many-class set's val and test splits (its training split stays whole)
PROFILE_DRY_RUN: dict[str, Any] = {
    "per_class": AtMost(3), "noise_images": AtMost(20), "device": "cpu", "amp": False, "num_workers": 0,
    "batch_size": AtMost(4), "micro_batch_images": 0,
    "micro_batch_sets": 0, "world_size": 1, "nodes": 1, "trials": 1, "models": 1, "eval_batch_sets": AtMost(256),
}
DRY_RUNS: dict[str, dict[str, Any]] = {}  # settings key ("cac", "homogeneity", ...) -> its paper's DRY_RUN
SETTINGS: dict[str, Mapping[str, Any]] = {}  # settings key -> its per-profile settings table


def declare_dry_run(key: str, table: Mapping[str, Any], fields: Mapping[str, Any]) -> dict[str, Any]:
    """Registers what a dry run cuts of paper ``key``'s settings ``table`` (profile name -> settings; called by
    its settings module) and returns it; the fields are checked against the settings' dataclass."""
    for base in table.values():
        shrunk(fields, base)
    DRY_RUNS[key], SETTINGS[key] = dict(fields), table
    return DRY_RUNS[key]


def shrunk(table: Mapping[str, Any], base: Any) -> dict[str, Any]:
    """Field -> the value ``table`` gives the dataclass instance ``base`` (only the fields it changes)."""
    names = {f.name for f in dataclasses.fields(base)}
    unknown = sorted(set(table) - names)
    if unknown:
        raise ValueError(f"dry-run fields {unknown} are not settings of {type(base).__name__}; known: {sorted(names)}")
    out = {}
    for name, rule in table.items():
        now = getattr(base, name)
        new = rule.apply(now) if isinstance(rule, AtMost) else rule
        if new != now:
            out[name] = new
    return out


def profile_fields(base: Any, given: Mapping[str, Any]) -> dict[str, Any]:
    """The profile fields a dry run of ``base`` (a Profile) changes, leaving out those in ``given`` (``--set``)."""
    return {k: v for k, v in shrunk(PROFILE_DRY_RUN, base).items() if k not in given}


def output_name(profile: Any) -> str:
    """The folder name a profile's outputs go to: its name, with ``-dry-run`` for a dry run."""
    name = getattr(profile, "name", profile)
    return f"{name}{SUFFIX}" if getattr(profile, "dry_run", False) else name


def describe(changes: Mapping[str, tuple[Any, Any]], what: str) -> list[str]:
    """Lines ``what.field: full -> dry`` for ``changes`` (field -> (full, dry))."""
    return [f"    {what}{name}: {full!r} -> {dry!r}" for name, (full, dry) in changes.items()]
