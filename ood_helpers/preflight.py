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
from ood_helpers.core.launch import check_world_size
from ood_helpers.core.overrides import encode_overrides, field_types, notebook_profile
from ood_helpers.core.profile import PROFILES
from ood_helpers.core.settings import settings_for
from ood_helpers.discovery import settings as _discovery_settings  # noqa: F401  (registers its DRY_RUN)
from ood_helpers.embedding_ood.settings import settings as embedding_ood_settings
from ood_helpers.homogeneity.settings import HOMOGENEITY, HOMOGENEITY_FIELDS, homogeneity_settings
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


def plan_lines(p) -> dict[str, str]:
    """``--plan``: notebook number -> the work it will do under ``p``, from the profile and the papers' settings
    (networks x steps x batch x image size, evaluation sizes); read, not measured."""
    hs, size = homogeneity_settings(p), f"{p.image_size or 'native'} px"
    net = f"ResNet-18 width {p.resnet_width} at {size}"
    tf = f"Transformer {hs.transformer_layers} x {hs.transformer_heads} heads x {hs.transformer_head_dim}"
    cac, eo, pl = cac_settings(p), embedding_ood_settings(p), pseudo_label_settings(p)
    cd, bench = settings_for(p, CD_KEY, CLUSTER_DISTANCE), benchmark_settings(p)
    classes = f"{p.num_classes} classes {tuple(p.class_split)} of {p.many_class}"
    return {
        "00": f"load {classes} and Table 3's {', '.join(hs.ood_datasets)}; sample grids",
        "01": f"class-subset classifiers: {net}, {hs.pretrain_steps} steps x {p.batch_size} images; guided backprop "
              f"on {hs.gbp_images_per_subset} images a subset x {p.trials} trials",
        "02": f"2 x {p.models} classifiers ({net}) x {hs.pretrain_steps} steps x {p.batch_size} images; test top-1",
        "03": f"2 variants x {p.models}: {tf} on {net}, {hs.homogeneity_steps} steps x {hs.set_batch_size} sets of "
              f"{hs.set_size}, eval every {hs.eval_every} ({hs.eval_eq1_queries_per_class} eq. 1 queries a val class)",
        "04": f"Tables 1-3: {hs.queries_per_class} queries a class x {p.trials} trials x {p.models} models over "
              f"{classes}; {len(hs.ood_datasets)} own classifiers x "
              f"{hs.own_classifier_steps or hs.pretrain_steps} steps",
        "05": f"Table 4: pair matrix of {tf} over the test classes' images, ranges {hs.eval_ranges} x "
              f"{p.trials} trials",
        "06": f"CAC / CE on {', '.join(cac.datasets)} x {cac.trials} trials, epochs {cac.epochs or 'recipe'}, width "
              f"{cac.width}; digits MLP {cac.digits_trials} x {cac.digits_epochs} epochs; sweeps {len(cac.lambdas)} "
              f"x {len(cac.alphas)}",
        "07": f"AE + classifier on {eo.id_set}: {eo.trials} trials x ({eo.pretrain_epochs} + {eo.joint_epochs} epochs) "
              f"x {len(eo.pairs)} pairs; CIFAR-10 conv AE: {eo.cifar and f'{eo.cifar_epochs} epochs' or 'off'}",
        "08": f"{', '.join(cd.methods)} x {', '.join(cd.archs)} x {', '.join(cd.id_sets)} x {cd.trials} trials: "
              f"{cd.ce_steps} / {cd.contrastive_steps} steps x {cd.batch_size} images",
        "09": f"{pl.data}, {pl.pretrained}: SimCLR {pl.simclr_epochs}, SCAN {pl.scan_epochs}, self-label "
              f"{pl.selflabel_epochs}, fine-tune {pl.finetune_epochs} epochs x {pl.trials} trials",
        "10": f"open-world streams over {classes} with {tf}",
        "11": f"every method on {bench.dataset} x {bench.trials} trials",
        "12": "the report, from the files above",
    }


def print_plan(profile: str, overrides: dict, notebooks: list[str]) -> int:
    """``--plan``: each notebook's work and inputs under ``profile`` with ``overrides``; returns 0."""
    p = notebook_profile(profile, encode_overrides(overrides))
    plans = plan_lines(p)
    lines, _ = input_lines(p, notebooks)
    print(f"plan of profile {p.name!r}{' (dry run)' if p.dry_run else ''}, device {p.device}:")
    for nb in notebooks:
        print(f"  {nb}: {plans.get(nb, '?')}")
        print("\n".join(line for line in lines if line.startswith(f"    {nb}:")))
    return 0


def check_profile(profile: str, fields: dict, parameters: dict | None = None):
    """Raises ValueError when the profile with ``fields`` (``--set``) replaced cannot run here, before
    any notebook starts: a field out of its range or fields that do not fit together (``Profile.validate``),
    paper 000's settings against the profile (``homogeneity_settings``: set_size against per_class,
    eval_ranges against class_split, set batches over micro-batches and processes), more processes than
    devices. ``parameters`` (``-p``) that name profile fields (``trials``, ...) or paper 000's settings
    (``set_size``, ...) are applied the way a notebook applies them (``overrides.notebook_profile``: 0 / None /
    "" keep the profile's value). Returns the resolved Profile."""
    known = field_types()
    named = {k: v for k, v in (parameters or {}).items() if k in known}
    paper = {k: v for k, v in (parameters or {}).items() if k in HOMOGENEITY_FIELDS}
    resolved = notebook_profile(profile, encode_overrides(fields), **named, homogeneity=paper).validate()
    homogeneity_settings(resolved)
    check_world_size(resolved)
    return resolved
