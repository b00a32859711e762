"""The one entry point of a torchrun rank: ``python -m ood_helpers.core.worker --target MODULE:FUNCTION``.

Every rank runs ``target(profile, **kwargs)`` and exits. The worker knows its targets only as
"ood_helpers.<module>:<function>" strings, imported by name, so this low layer imports no paper; the target
and its JSON keyword arguments are checked before torchrun starts (``call_args``, by ``launch``) and again in
each rank before the process group is built.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import os
import re
import sys
from typing import Callable

import torch.distributed as dist

from ood_helpers.core.distributed import barrier, init_process_group
from ood_helpers.core.profile import PROFILES, Profile
from ood_helpers.core.seeding import set_thread_count

_TARGET = re.compile(r"^ood_helpers(\.[A-Za-z_][A-Za-z0-9_]*)+:[A-Za-z_][A-Za-z0-9_]*$")


def parse_kwargs(text: str) -> dict:
    """The JSON object ``text`` of ``--kwargs``; ValueError naming the problem otherwise."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"--kwargs must be a JSON object such as '{{\"trial\": 0}}', got {text!r} ({err})") from None
    if not isinstance(value, dict):
        raise ValueError(f"--kwargs must be a JSON object (keyword arguments by name), got a {type(value).__name__}: "
                         f"{text!r}")
    return value


def resolve_target(target: str, kwargs: dict) -> Callable:
    """The function ``target`` ("ood_helpers.<module>:<function>"), checked to accept ``(profile, **kwargs)``;
    ValueError naming the problem otherwise. Only this package's functions can be called."""
    if not isinstance(target, str) or not _TARGET.match(target):
        raise ValueError(f"--target must name a function of the ood_helpers package as "
                         f"'ood_helpers.<module>:<function>' (e.g. ood_helpers.cac.training:train_one), got {target!r}")
    module_name, name = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        raise ValueError(f"--target {target!r}: cannot import {module_name!r} ({err})") from None
    fn = getattr(module, name, None)
    if not inspect.isfunction(fn):
        raise ValueError(f"--target {target!r}: {module_name} has no function {name!r}")
    try:
        inspect.signature(fn).bind(None, **kwargs)
    except TypeError as err:
        raise ValueError(f"--kwargs {sorted(kwargs)} do not fit {target}{inspect.signature(fn)}, called as "
                         f"{name}(profile, **kwargs): {err}") from None
    return fn


def call_args(target: str, kwargs: dict) -> list[str]:
    """The worker's ``--target`` / ``--kwargs`` arguments for ``target(profile, **kwargs)``, checked here (before
    torchrun starts): the target must resolve and take these keyword arguments, which must be JSON-able."""
    try:
        text = json.dumps(kwargs, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise ValueError(f"worker kwargs must be JSON-able (str, int, float, bool, None, lists, dicts): {err}"
                         ) from None
    resolve_target(target, parse_kwargs(text))
    return ["--target", target, "--kwargs", text]


def main(argv: list[str] | None = None) -> int:
    """Entry point of each torchrun rank: runs one target on every rank (DDP inside it) and exits."""
    parser = argparse.ArgumentParser(prog="torchrun ... -m ood_helpers.core.worker",
                                     description="Run one training function of ood_helpers on every rank (DDP).")
    parser.add_argument("--target", required=True, help="ood_helpers.<module>:<function>, run as fn(profile, **kwargs)")
    parser.add_argument("--kwargs", default="{}", help="the function's keyword arguments, as a JSON object")
    parser.add_argument("--profile", required=True, help=f"one of {', '.join(PROFILES)}")
    parser.add_argument("--overrides", default="{}", help="profile fields to replace, as a JSON object")
    args = parser.parse_args(argv)
    try:  # before the process group and any data: a typo fails at once, naming the problem
        kwargs = parse_kwargs(args.kwargs)
        target = resolve_target(args.target, kwargs)
    except ValueError as err:
        parser.error(str(err))
    if args.profile not in PROFILES:
        parser.error(f"unknown profile {args.profile!r}; known profiles: {', '.join(PROFILES)}")
    profile = Profile.from_dict({**PROFILES[args.profile].to_dict(), **json.loads(args.overrides)})
    world = int(os.environ.get("WORLD_SIZE", 1))
    if world != profile.world_size:
        parser.error(f"torchrun started {world} processes but the profile says world_size={profile.world_size}; "
                     "pass --overrides '{\"world_size\": N}' with the total number of processes")
    if world > 1:
        init_process_group()
    else:  # torchrun's ranks keep the cores / processes their launcher gave them
        set_thread_count(profile.threads)
    try:
        target(profile, **kwargs)
        barrier()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
