"""What a run will read and what a dry run cuts, said before any notebook starts.

``notebook_inputs(profile)`` derives, from the profile and each paper's settings, which datasets (and
pretrained weights) each notebook reads; ``check_inputs`` finds each one where its loader would look
(``core.data.locate``) and stops with the variable to set when one is missing, instead of a notebook dying
deep inside. ``dry_run_changes`` lists what ``--dry-run`` cuts. Notebooks call ``check_notebook_inputs``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ood_helpers.benchmark.settings import benchmark_settings
from ood_helpers.cac.settings import cac_settings
from ood_helpers.cluster_distance.datasets import CIFAR_OOD
from ood_helpers.cluster_distance.settings import CLUSTER_DISTANCE
from ood_helpers.cluster_distance.settings import KEY as CD_KEY
from ood_helpers.core.data.locate import locate, locate_folder, torch_weights
from ood_helpers.core.dry_run import (
    DRY_RUNS,
    PROFILE_DRY_RUN,
    SETTINGS,
    output_name,
    shrunk,
)
from ood_helpers.core.notebook_files import notebook_parameters
from ood_helpers.core.overrides import encode_overrides
from ood_helpers.core.profile import PROFILES
from ood_helpers.core.settings import settings_for
from ood_helpers.discovery import settings as _discovery_settings  # noqa: F401  (registers its DRY_RUN)
from ood_helpers.embedding_ood.settings import settings as embedding_ood_settings
from ood_helpers.homogeneity.settings import HOMOGENEITY, homogeneity_settings
from ood_helpers.pseudo_label.settings import pseudo_label_settings

WEIGHTS = {"imagenet-resnet18": ("ResNet18_Weights", "resnet18"),
           "imagenet-resnet152": ("ResNet152_Weights", "resnet152")}  # pseudo_label.pretrained -> torchvision


@dataclass(frozen=True)
class Need:
    """One input of a notebook: a dataset (``load_dataset`` name), pretrained ``weights`` or an optional
    ``folder`` named by a variable (a row is skipped without it)."""

    kind: str  # "dataset" | "weights" | "folder"
    name: str
    optional: bool = False


def _weights(pretrained: str) -> list[Need]:
    return [Need("weights", pretrained)] if pretrained in WEIGHTS else []


def _cac(p) -> list[str]:
    s = cac_settings(p)
    out = []
    for d in (*s.datasets, *s.peer_datasets):
        out += ["cifar10", "cifar100"] if d.startswith("cifar+") else [d]
    return out


def _embedding_ood(p) -> list[Need]:
    s = embedding_ood_settings(p)
    needs = [Need("dataset", s.id_set)]
    if s.id_set == "mnist":  # the full-data rows: Omniglot and CIFAR-10bw beside the typeset stand-ins
        needs.append(Need("dataset", "omniglot", optional=True))
    needs.append(Need("dataset", "cifar10", optional=not s.cifar))
    return needs + [Need("folder", "OOD_NOTMNIST_DIR", optional=True), Need("folder", "OOD_SUN_DIR", optional=True)]


def _cluster_distance(p) -> list[str]:
    s = settings_for(p, CD_KEY, CLUSTER_DISTANCE)
    out = []
    for name in s.id_sets:
        if name in CIFAR_OOD:
            out += [name, *(s.cifar_ood or CIFAR_OOD[name])]
    return out


def notebook_inputs(p) -> dict[str, list[Need]]:
    """Notebook number ("00".."12") -> the inputs it reads under profile ``p`` (embedded sets left out)."""
    hs = homogeneity_settings(p)
    many = [Need("dataset", p.many_class)]
    table3 = [Need("dataset", d) for d in hs.ood_datasets]
    pl = pseudo_label_settings(p)
    pl_data = [Need("dataset", "cifar10"), Need("dataset", "svhn")] if pl.data == "cifar10" else []
    bench = benchmark_settings(p)
    needs = {"00": many + table3, "01": many, "02": many, "03": many, "04": many + table3, "05": many,
             "06": [Need("dataset", d) for d in _cac(p)], "07": _embedding_ood(p),
             "08": [Need("dataset", d) for d in _cluster_distance(p)], "09": pl_data + _weights(pl.pretrained),
             "10": many, "11": [Need("dataset", bench.dataset), *_weights(pl.pretrained)], "12": []}
    return {nb: list(dict.fromkeys(n for n in items if n.kind != "dataset" or locate(n.name).variable))
            for nb, items in needs.items()}


def where(need: Need) -> tuple[str, bool, str]:
    """(where it is or would be looked for, found, what to set when missing) of one input."""
    if need.kind == "dataset":
        loc = locate(need.name)
        return (str(loc.path) if loc.found else "not found", loc.found,
                f"set {loc.variable} to a folder laid out as {loc.layout}")
    if need.kind == "weights":
        import torchvision

        enum, arch = WEIGHTS[need.name]
        path = torch_weights(getattr(torchvision.models, enum).IMAGENET1K_V1.url.rsplit("/", 1)[-1])
        return str(path), path.is_file(), (f"copy torchvision's {arch} IMAGENET1K_V1 weights to {path} (TORCH_HOME "
                                           "moves it), or --set pseudo_label.pretrained=source")
    folder = locate_folder(need.name)
    return (str(folder) if folder else f"${need.name} unset"), folder is not None, f"set {need.name} to a folder"


def input_lines(p, notebooks: list[str]) -> tuple[list[str], list[str]]:
    """(a line per input of ``notebooks`` saying where it is read, a line per missing required input)."""
    inputs = notebook_inputs(p)
    lines, missing = [], {}
    for nb in notebooks:
        for need in inputs.get(nb, []):
            place, found, fix = where(need)
            mark = "ok" if found else ("optional, its rows are skipped" if need.optional else "MISSING")
            lines.append(f"    {nb}: {need.kind} {need.name}: {place} [{mark}]")
            if not found and not need.optional:
                missing.setdefault((need.kind, need.name, fix), []).append(nb)
    return lines, [f"{kind} {name!r} (notebook {', '.join(nbs)}) not found: {fix}"
                   for (kind, name, fix), nbs in missing.items()]


def check_inputs(p, notebooks: list[str], log=print) -> None:
    """Prints where each input of ``notebooks`` is read; raises FileNotFoundError naming every missing one."""
    lines, missing = input_lines(p, notebooks)
    if lines:
        log("inputs (notebook: what, where):\n" + "\n".join(lines), flush=True)
    if missing:
        raise FileNotFoundError("missing inputs, nothing was run:\n  " + "\n  ".join(missing))


def check_notebook_inputs(p, notebook: str) -> None:
    """A notebook's first cell: says what notebook ``notebook`` ("04") reads and stops when one is missing."""
    check_inputs(p, [notebook])


def dry_run_changes(p) -> list[str]:
    """Lines ``field: full -> dry run`` of what a dry run of ``p`` cut (profile fields, then each paper's)."""
    full = dataclasses.replace(PROFILES[p.name], extra={})
    lines = [f"    {k}: {getattr(full, k)!r} -> {getattr(p, k)!r}" for k in PROFILE_DRY_RUN
             if getattr(full, k) != getattr(p, k)]
    for key, table in SETTINGS.items():
        if p.name in table:
            base, now = table[p.name], settings_for(p, key, table)
            lines += [f"    {key}.{k}: {getattr(base, k)!r} -> {getattr(now, k)!r}"
                      for k in shrunk(DRY_RUNS[key], base) if getattr(base, k) != getattr(now, k)]
    return lines


def announce(p, notebooks: list[str], *, log=print, check_data: bool = True) -> None:
    """Before the first notebook: what a dry run of ``p`` cut, where each input of ``notebooks`` (numbers such
    as "04") is read; raises FileNotFoundError naming the missing ones (unless ``check_data`` is false)."""
    if p.dry_run:
        log(f"dry run of profile {p.name!r}: outputs in <root>/{output_name(p)}/; cut (full -> dry run):\n"
            + "\n".join(dry_run_changes(p)), flush=True)
    if check_data:
        check_inputs(p, notebooks, log=log)


def print_listing(notebooks: list, profile: str, overrides: dict | None = None) -> None:
    """``--list``: the overrides beside the profile's values, then each notebook's parameters."""
    if overrides:
        print(f"--set, every notebook's `overrides` parameter: {encode_overrides(overrides)}")
        for name, value in overrides.items():
            if name != "extra":
                print(f"    {name} = {value!r}  (profile {profile}: {getattr(PROFILES[profile], name)!r})")
        for method, fields in (overrides.get("extra") or {}).items():  # one paper's settings: METHOD.FIELD
            for name, value in (fields.items() if isinstance(fields, dict) else [("", fields)]):
                default = getattr(HOMOGENEITY[profile], name, "?") if method == "homogeneity" else "see its settings"
                print(f"    {method}.{name} = {value!r}  (profile {profile}: {default!r})")
    for nb in notebooks:
        print(nb.name)
        for name, spec in notebook_parameters(nb).items():
            help_text = f"  # {spec['help']}" if spec.get("help") else ""
            print(f"    {name}: {spec['inferred_type_name']} = {spec['default']}{help_text}")
