"""Profile overrides: ``--set FIELD=VALUE`` (a Profile field) or ``--set METHOD.FIELD=VALUE`` (one paper's
setting, e.g. ``cac.epochs=3``, kept in ``Profile.extra``) on the command line, one JSON text in a notebook.

``parse_assignments`` turns ``["trials=2", "class_split=4,2,2"]`` into values of the
types declared on :class:`~ood_helpers.core.profile.Profile`; ``encode_overrides`` /
``decode_overrides`` carry them to a notebook as its ``overrides`` papermill parameter, and
``notebook_profile`` resolves the notebook's profile with them. Field names and types are read
from the dataclass, so a field added to ``Profile`` can be set without touching this module.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import json
import types
import typing
from typing import Any

from ood_helpers.core.profile import Profile, get_profile
from ood_helpers.core.seeding import set_thread_count

_BOOLS = {"true": True, "1": True, "false": False, "0": False}
_WORDS = {bool: "true or false (or 1 / 0)", int: "an integer", float: "a number", str: "text"}


class _Bad(ValueError):
    """A value that does not fit a type; coerce_field words the message."""


def field_types() -> dict[str, Any]:
    """Profile field name -> its resolved type (``name`` left out: it is chosen with --profile)."""
    hints = typing.get_type_hints(Profile)
    return {f.name: hints[f.name] for f in dataclasses.fields(Profile) if f.name != "name"}


def _describe(hint: Any) -> str:
    """What a value of type ``hint`` looks like, in words."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join("none" if a is type(None) else _describe(a) for a in args)
    if origin in (tuple, list):
        if origin is tuple and args and args[-1] is not Ellipsis:
            each = f"each {_describe(args[0])}" if len(set(args)) == 1 else ", ".join(map(_describe, args))
            return f"{len(args)} values ({each}) separated by commas, e.g. 4,2,2 or [4,2,2]"
        return f"values ({_describe(args[0]) if args else 'any'}) separated by commas, or a list such as [2,4]"
    if hint is dict or origin is dict:
        return 'a JSON object such as {"augment": false}'
    return _WORDS.get(hint, getattr(hint, "__name__", str(hint)))


def _literal(text: str) -> Any:
    """A JSON or Python literal: ``[4,2,2]``, ``(4,2,2)``, ``{"a": false}``, ``'text'``."""
    try:
        return json.loads(text)
    except ValueError:
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError):
            raise _Bad(text) from None


def _coerce(hint: Any, value: Any) -> Any:
    """``value`` (text from --set, or a JSON / Python value) as a value of type ``hint``; raises _Bad."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    text = value.strip() if isinstance(value, str) else None
    if origin in (typing.Union, types.UnionType):
        if type(None) in args and (value is None or (text or "").lower() in ("none", "null")):
            return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(arg, value)
            except _Bad:
                pass
    elif origin in (tuple, list):
        if text is not None:  # "4,2,2", "[4,2,2]" or "(4,2,2)"
            value = _literal(text) if text[:1] in ("[", "(") else [t.strip() for t in text.split(",") if t.strip()]
        fixed = origin is tuple and args and args[-1] is not Ellipsis
        if isinstance(value, (list, tuple)) and (not fixed or len(value) == len(args)):
            items = [_coerce(a, v) for a, v in zip(args if fixed else [args[0] if args else Any] * len(value), value)]
            return tuple(items) if origin is tuple else items
    elif hint is dict or origin is dict:
        value = _literal(text) if text is not None else value
        if isinstance(value, dict):
            return dict(value)
    elif hint is bool:
        if isinstance(value, bool) or (type(value) is int and value in (0, 1)):
            return bool(value)
        if (text or "").lower() in _BOOLS:
            return _BOOLS[text.lower()]
    elif hint in (int, float):
        if type(value) is int or (hint is float and isinstance(value, float)):
            return hint(value)
        try:
            return hint(text)  # TypeError when not text: None, a list, a float for an int, a bool
        except (TypeError, ValueError):
            pass
    elif hint is str:
        if text is not None:
            quoted = len(text) >= 2 and text[0] == text[-1] and text[0] in "'\""
            return _literal(text) if quoted else text
    elif hint is Any:
        return value
    elif isinstance(hint, type):
        value = _literal(text) if text is not None else value
        if isinstance(value, hint):
            return value
    else:
        return value  # a typing construct not known here: passed on unchecked
    raise _Bad(value)


def coerce_value(hint: Any, value: Any, what: str) -> Any:
    """``value`` as a value of type ``hint``, else a ValueError naming ``what`` and the expected form
    (for typed settings outside Profile, e.g. ``core.settings``)."""
    try:
        return _coerce(hint, value)
    except _Bad:
        raise ValueError(f"{what} expects {_describe(hint)}; got {value!r}") from None


def coerce_field(name: str, value: Any) -> Any:
    """``value`` as the type of the Profile field ``name``; unknown fields and bad values raise ValueError."""
    known = field_types()
    if name == "name":
        raise ValueError("'name' cannot be set: the profile is chosen with --profile (a notebook: its `profile` parameter)")
    if name not in known:
        close = difflib.get_close_matches(name, known, n=1)
        maybe = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown profile field {name!r}{maybe}; known fields: {', '.join(known)}; a paper's "
                         "setting is METHOD.FIELD (e.g. homogeneity.set_size=5, cac.epochs=3)")
    hint = known[name]
    try:
        return _coerce(hint, value)
    except _Bad:
        kind = hint.__name__ if isinstance(hint, type) and not typing.get_args(hint) else str(hint)
        raise ValueError(f"profile field {name!r} ({kind}) expects {_describe(hint)}; got {value!r}") from None


def merged_extra(extra: dict | None, key: str, fields: dict) -> dict:
    """A copy of ``extra`` (``Profile.extra``) with ``fields`` added to the settings of method ``key``."""
    merged = dict(extra or {})
    merged[key] = {**(merged.get(key) or {}), **fields}
    return merged


def parse_assignments(items: list[str] | None) -> dict:
    """``["trials=2", "amp=false", "cac.epochs=3"]`` -> ``{"trials": 2, "amp": False,
    "extra": {"cac": {"epochs": "3"}}}``: Profile fields typed here; ``METHOD.FIELD`` goes to that method's
    settings in ``extra`` (typed by ``settings.settings_for`` when the method reads them). Refuses malformed
    items, unknown fields, ``name`` and a field set twice."""
    out: dict[str, Any] = {}
    methods: dict[str, dict] = {}
    for item in items or []:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ValueError(f"--set {item!r}: expected FIELD=VALUE or METHOD.FIELD=VALUE, e.g. --set trials=2 or "
                             "--set cac.epochs=3")
        method, dot, field = name.partition(".")
        if dot:
            if not method or not field or "." in field:
                raise ValueError(f"--set {item!r}: a method setting is METHOD.FIELD=VALUE, e.g. cac.epochs=3")
            if field in methods.setdefault(method, {}):
                raise ValueError(f"--set {name} is given twice; set each field once")
            methods[method][field] = text.strip()
            continue
        if name in out:
            raise ValueError(f"--set {name} is given twice; set each field once")
        try:
            out[name] = coerce_field(name, text)
        except ValueError as err:
            raise ValueError(f"--set {item}: {err}") from None
    for method, fields in methods.items():
        given = (out.get("extra") or {}).get(method) or {}
        both = sorted(set(given) & set(fields))
        if both:
            raise ValueError(f"--set extra and --set {method}.{both[0]} both set {method} setting {both[0]!r}; "
                             "set it once")
        out["extra"] = merged_extra(out.get("extra"), method, fields)
    return out


def _validated(overrides: Any) -> dict:
    if not isinstance(overrides, dict):
        raise ValueError(f'overrides must be a JSON object such as {{"trials": 2}}; got {overrides!r}')
    return {name: coerce_field(name, value) for name, value in overrides.items()}


def encode_overrides(overrides: dict | None) -> str:
    """Canonical JSON text of validated overrides (sorted keys, tuples as lists); "" when there are none."""
    checked = _validated(overrides or {})
    return json.dumps(checked, sort_keys=True, separators=(", ", ": ")) if checked else ""


def decode_overrides(text: str | None) -> dict:
    """The inverse of :func:`encode_overrides` ("" -> {}); validates and types every field again."""
    if not text or not text.strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError as err:
        raise ValueError(f'overrides must be JSON text such as {{"trials": 2}}; cannot read {text!r}: {err}') from None
    return _validated(value)


def notebook_profile(profile: str, overrides: str = "", **notebook_params) -> Profile:
    """The Profile a notebook runs with: ``profile`` with the decoded ``overrides`` and the notebook's
    own parameters, named by field (0 / None / "" mean "the profile's value"); a parameter that is a dict
    names one paper's settings (``homogeneity={"set_size": set_size}``, into ``extra``). A field given both
    ways with different values is refused. Sets torch's thread count to the profile's ``threads``."""
    decoded = decode_overrides(overrides)
    methods = {k: {f: v for f, v in fields.items() if v} for k, fields in notebook_params.items()
               if isinstance(fields, dict)}
    given = {k: coerce_field(k, v) for k, v in notebook_params.items() if v and k not in methods}
    clashes = [(k, given[k], decoded[k]) for k in given if k in decoded and given[k] != decoded[k]]
    for key, fields in methods.items():
        set_before = (decoded.get("extra") or {}).get(key) or {}
        clashes += [(f"{key}.{f}", v, set_before[f]) for f, v in fields.items() if f in set_before
                    and str(set_before[f]) != str(v)]
    if clashes:
        raise ValueError("; ".join(f"{k} is given twice: notebook parameter {k}={mine!r}, overrides {k}={theirs!r}"
                                   for k, mine, theirs in clashes) + "; give each field one way")
    fields = {**decoded, **given}
    for key, chosen in methods.items():
        if chosen:
            fields["extra"] = merged_extra(fields.get("extra"), key, chosen)
    nones = {k: None for k, v in fields.items() if v is None}  # get_profile drops None values: set them after
    prof = get_profile(profile, **{k: v for k, v in fields.items() if v is not None})
    prof = dataclasses.replace(prof, **nones) if nones else prof
    set_thread_count(prof.threads)
    return prof
