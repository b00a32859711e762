"""Settings of one paper's method per profile (epochs, widths, sweep grids), kept beside the method
instead of in :class:`~ood_helpers.core.profile.Profile`, and overridable through the profile's ``extra``.

A method defines a frozen dataclass and one instance per profile name::

    CAC = {"smoke": CACSettings(epochs=1), "quick": CACSettings(epochs=8), ...}
    settings = settings_for(profile, "cac", CAC)

and a user changes one field from the command line with
``python -m ood_helpers.run --set 'extra={"cac": {"epochs": 3}}'`` (or a notebook's ``overrides``).
Unknown keys and mistyped values are refused by name before anything trains.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from ood_helpers.core.dry_run import DRY_RUNS, shrunk
from ood_helpers.core.overrides import coerce_value, merged_extra

T = TypeVar("T")


def settings_for(profile: Any, key: str, table: Mapping[str, T]) -> T:
    """``table[profile.name]`` with the fields of ``profile.extra[key]`` replaced (typed as declared); in a dry run
    (``profile.dry_run``) first cut by the paper's ``DRY_RUN`` table (``core.dry_run``), ``extra`` winning."""
    name = getattr(profile, "name", profile)
    if name not in table:
        raise ValueError(f"{key} settings have no entry for profile {name!r}; profiles with settings: {', '.join(table)}")
    base = table[name]
    changes = (getattr(profile, "extra", None) or {}).get(key, {})
    if not isinstance(changes, Mapping):
        raise ValueError(f'extra[{key!r}] must be a JSON object of {key} settings such as {{"epochs": 2}}; got {changes!r}')
    hints = typing.get_type_hints(type(base))
    fields = [f.name for f in dataclasses.fields(base)]
    typed = {}
    for field, value in changes.items():
        if field not in fields:
            close = difflib.get_close_matches(field, fields, n=1)
            maybe = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"unknown {key} setting {field!r}{maybe}; known: {', '.join(fields)}")
        typed[field] = coerce_value(hints[field], value, f"{key} setting {field!r}")
    if getattr(profile, "dry_run", False):
        typed = {**shrunk(DRY_RUNS.get(key, {}), base), **typed}
    return dataclasses.replace(base, **typed)


def with_settings(profile: Any, key: str, **fields) -> Any:
    """``profile`` with these fields of method ``key``'s settings replaced (in ``extra[key]``, as
    ``--set KEY.FIELD=VALUE`` puts them); ``settings_for`` types and checks them when the method reads them."""
    return dataclasses.replace(profile, extra=merged_extra(profile.extra, key, fields))


def unknown_method_keys(profile: Any, known: set[str]) -> list[str]:
    """Keys of ``profile.extra`` that name no method in ``known`` (a typo such as ``"cca"``)."""
    return sorted(set(getattr(profile, "extra", None) or {}) - set(known))
