"""Where a profile departs from each paper's recipe, derived from the settings themselves: every field of a paper's
settings (``<paper>/settings.py``; paper 000 also reads the shared ``Profile``'s data and backbone fields) whose
value in this profile differs from its value in the ``paper`` profile, sorted into categories by field name:
head stage, learning rates, set size, stand-in data, augmentation, scale. Fields that change no result (devices,
threads, workers, trial counts, plotting grids) are left out.

The report marks each table and claim of a paper with its deviations, and a claim whose test needs the paper's
recipe in some fields (``claim_blocked``) reads "not testable here" with the deviating fields as its reason.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from ood_helpers.cac.settings import CAC_SETTINGS
from ood_helpers.cluster_distance.settings import CLUSTER_DISTANCE
from ood_helpers.core.profile import PROFILES
from ood_helpers.embedding_ood.settings import EMBEDDING_OOD
from ood_helpers.homogeneity.settings import HOMOGENEITY
from ood_helpers.pseudo_label.settings import PSEUDO_LABEL

PAPER_PROFILE = "paper"
# paper -> (settings key, {profile name: settings}) of the package that reproduces it
SETTINGS = {"000": ("homogeneity", HOMOGENEITY), "001": ("cluster_distance", CLUSTER_DISTANCE),
            "002": ("embedding_ood", EMBEDDING_OOD), "003": ("pseudo_label", PSEUDO_LABEL),
            "004": ("cac", CAC_SETTINGS)}
# the shared Profile fields a paper's recipe reads (paper 000's classifier and data; the others carry their own)
PROFILE_FIELDS = {"000": ("many_class", "class_split", "per_class", "image_size", "channels", "augmentation",
                          "resnet_width", "small_stem", "batch_size")}
# fields that change no result of the recipe: devices, processes, trial counts, what is plotted or swept
IGNORED = frozenset({"name", "device", "amp", "num_workers", "threads", "world_size", "nodes", "micro_batch_images",
                     "micro_batch_sets", "eval_batch_sets", "trials", "digits_trials", "models", "seed", "extra",
                     "eval_every", "download", "peer_datasets", "fig4_dataset", "scatter_points", "sweep_alphas",
                     "lambdas", "alphas", "toy_steps", "keep", "split_version"})
# what a paper-profile value of 0 / None / () means, where the settings give it a meaning (their comments)
MEANING = {"lr_homogeneity_encoder": "0 = lr_homogeneity", "head_pretrain_steps": "0 = no head stage",
           "head_pretrain_sets": "0 = set_batch_size", "own_classifier_steps": "0 = pretrain_steps",
           "own_classifier_image_size": "0 = image_size", "per_class": "0 = every image",
           "image_size": "None = native size", "epochs": "() = each dataset's recipe"}
CATEGORIES = (("head stage", r"^head_pretrain"), ("learning rates", r"(^|_)lr(_|$)"),
              ("set size", r"^set_(size|batch_size)$"),
              ("stand-in data", r"^(many_class|id_sets?|data|datasets|ood_datasets|noise_datasets|pretrained|cifar)$"),
              ("augmentation", r"^augmentation$"), ("scale", r""))


@dataclass(frozen=True)
class Deviation:
    """One field of a paper's recipe that this profile changes: its category, name, value here and the paper's."""

    category: str
    field: str
    value: object
    paper: object

    def __str__(self) -> str:
        meaning = f"; {MEANING[self.field]}" if self.field in MEANING else ""
        return f"{self.field} {_show(self.value)} (paper {_show(self.paper)}{meaning})"


def _show(value) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(map(_show, value)) + (",)" if len(value) == 1 else ")")
    return f"{value:g}" if isinstance(value, float) else str(value)


def category(field: str) -> str:
    return next(name for name, pattern in CATEGORIES if re.search(pattern, field))


def _differences(here, paper, fields) -> list[Deviation]:
    return [Deviation(category(f), f, getattr(here, f), getattr(paper, f)) for f in fields
            if f not in IGNORED and getattr(here, f) != getattr(paper, f)]


def deviations(paper: str, profile: str) -> tuple[Deviation, ...]:
    """Every recipe field of ``paper`` that ``profile`` changes (none for the paper profile, for papers without
    settings, or for a profile the paper's settings do not list)."""
    if paper not in SETTINGS or profile == PAPER_PROFILE:
        return ()
    _, table = SETTINGS[paper]
    if profile not in table or PAPER_PROFILE not in table:
        return ()
    here, ref = table[profile], table[PAPER_PROFILE]
    out = _differences(here, ref, [f.name for f in dataclasses.fields(here)])
    if paper in PROFILE_FIELDS and profile in PROFILES:
        out = _differences(PROFILES[profile], PROFILES[PAPER_PROFILE], PROFILE_FIELDS[paper]) + out
    order = [name for name, _ in CATEGORIES]
    return tuple(sorted(out, key=lambda d: order.index(d.category)))


def marks(paper: str, profile: str, fields: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """One mark a category: "learning rates: lr_homogeneity 0.001 (paper 3e-05), ..."; only ``fields`` if given."""
    by_category: dict[str, list[str]] = {}
    for d in deviations(paper, profile):
        if fields is None or d.field in fields:
            by_category.setdefault(d.category, []).append(str(d))
    return tuple(f"{c}: {', '.join(found)}" for c, found in by_category.items())


def claim_blocked(paper: str, profile: str, needs: tuple[str, ...]) -> str:
    """The reason a claim whose test needs the paper's values of fields ``needs`` is not testable in ``profile``
    ("" when the profile keeps them all)."""
    changed = marks(paper, profile, needs)
    if not changed:
        return ""
    return "the claim's test needs the paper's recipe, which this profile changes: " + "; ".join(changed)
