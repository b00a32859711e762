"""Paper 000's settings per profile, read with ``homogeneity_settings(profile)`` like every paper's (override any
field with ``--set homogeneity.homogeneity_steps=2``, or ``extra={"homogeneity": {...}}`` in a notebook's
overrides). ``Profile`` keeps the run size and the data every notebook shares; what trains and evaluates the
class-homogeneity model lives here."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ood_helpers.core.dry_run import AtMost, declare_dry_run
from ood_helpers.core.profile_checks import MAX_SET_SIZE, MIN_SET_SIZE, check_batch_split
from ood_helpers.core.settings import settings_for, with_settings


@dataclass(frozen=True)
class HomogeneitySettings:
    # ----- the set model -----
    set_size: int = 25  # k of the homogeneity task (paper: 25)
    transformer_layers: int = 2  # paper: 6
    transformer_heads: int = 4  # paper: 16
    transformer_head_dim: int = 16  # paper: 64
    # ----- the seen-class classifiers (notebook 02) and Table 3's per-dataset ones -----
    pretrain_steps: int = 600
    lr_pretrain: float = 1e-3
    own_classifier_steps: int = 0  # Table 3's per-dataset classifiers; 0 = pretrain_steps
    own_classifier_image_size: int = 0  # their input size in px; 0 = image_size (paper: the datasets' own 28-32 px)
    # ----- the homogeneity model (notebook 03) -----
    set_batch_size: int = 16  # sets per homogeneity step (paper: 2048)
    homogeneity_steps: int = 300
    eval_every: int = 25  # validation points for Fig. 2 (above homogeneity_steps: step 0 and the last only)
    # paper: one lr, 3e-5 at batch 2048. With 400 CPU steps of 32 sets, 1e-3 for the Transformer and a
    # near-frozen ResNet gave the best quick-profile Table 1 (class homogeneity top-1 on 1-100, 2 trials:
    # 52% at 1e-3/1e-6, 43% at 1e-3/3e-5, 29% at 3e-4/3e-4, 6% at 3e-3/3e-5; see issue 3's note)
    lr_homogeneity: float = 1e-3
    lr_homogeneity_encoder: float = 1e-6  # the pretrained ResNet's lr inside the homogeneity model; 0 = lr_homogeneity
    # "constant" (the paper's Adam) or "cosine": the head and joint stages' learning rates decay to 0 over each
    # stage's steps (benchmarks/study_seeds_threads.py: the spread over training seeds)
    lr_schedule: str = "constant"
    # the validation metric that picks the joint stage's checkpoint: "val_unseen_acc" (set-homogeneity accuracy
    # on the unseen validation classes) or "val_unseen_eq1" (eq. 1 top-1 there, what Tables 1-3 report)
    select_by: str = "val_unseen_acc"
    # steps of the Transformer alone on cached embeddings of the frozen encoder before joint training
    # (hundreds of times cheaper a step than through the ResNet); 0 = none, as in the paper
    head_pretrain_steps: int = 0
    head_pretrain_sets: int = 0  # sets per head-pretraining step; 0 = set_batch_size
    # each validation point of Fig. 2 / the eq. 1 curve: queries a validation class (fresh supports each; every
    # query scores one set per validation class) and fixed sets a class group (0 = min(1024, max(32, 16 x
    # set_batch_size)))
    eval_eq1_queries_per_class: int = 20
    eval_sets: int = 0
    # notebook 01: test images each subset classifier is checked on (0 = 5 a trained class), and held-out test
    # images a subset model maps in the guided-backprop similarity table
    subset_check_images: int = 0
    gbp_images_per_subset: int = 100
    # ----- evaluation (notebooks 04-05) -----
    queries_per_class: int = 10  # paper: 1000 (Table 1) / all test images; beyond a class's test images, drawn again
    eval_ranges: tuple[int, ...] = (2, 4, 6, 8, 10)  # Tables 2 and 4: growing ranges of test classes
    ood_datasets: tuple[str, ...] = ("mnist5k", "digits")  # Table 3: datasets never trained on
    noise_datasets: tuple[str, ...] = ("gaussian", "uniform")


LR_SCHEDULES = ("constant", "cosine")
SELECT_BY = ("val_unseen_acc", "val_unseen_eq1")
HOMOGENEITY_FIELDS = tuple(f.name for f in dataclasses.fields(HomogeneitySettings))
_GPU_RECIPE = dict(transformer_layers=6, transformer_heads=16, transformer_head_dim=64, homogeneity_steps=3_000,
                   eval_every=100, lr_homogeneity=3e-5, lr_homogeneity_encoder=0.0)
_PAPER_TABLE3 = ("mnist", "fashion-mnist", "cifar10", "cifar100")
HOMOGENEITY = {
    "smoke": HomogeneitySettings(set_size=5, transformer_layers=1, transformer_heads=2, transformer_head_dim=4,
                                 set_batch_size=4, pretrain_steps=6, homogeneity_steps=6, eval_every=3,
                                 queries_per_class=2, eval_ranges=(1, 2), lr_schedule="cosine",
                                 select_by="val_unseen_eq1"),
    "quick": HomogeneitySettings(
        set_size=10,  # paper: 25; 10 fits 20 test images a class and keeps notebooks 02+03 under 4 min
        set_batch_size=32,
        pretrain_steps=400,
        # issue 10's study (notebook 03, benchmarks/study_homogeneity.py): 400 joint steps of 32 sets left eq. 1
        # far below cosine NN on the same embeddings (test classes 75 % vs 95 %, 1-100: 52 % vs 85 %); the
        # Transformer first trained alone for 2,000 steps of 128 sets on cached embeddings (~40 s), then 200
        # joint steps, reached 88 % / 74 % in less time
        # benchmarks/study_seeds_threads.py (docs/000-class-homogeneity.md), 5 seeds at 2 threads, Table 1 top-1 on
        # 1-100: 75.6 +- 5.0 with 128 sets a head step and 200 joint steps, 76.2 +- 2.4 with 64 and 100 (the
        # joint stage's step 0 was kept in 4 of 5 runs either way), 70.9 +- 4.3 with 1,000 head steps of 128:
        # the head stage needs its steps more than its sets. A model trains in 34 s instead of 63 (2 threads, AVX-512)
        head_pretrain_steps=2000,
        head_pretrain_sets=64,
        homogeneity_steps=100,
        lr_schedule="cosine",
        select_by="val_unseen_eq1",
    ),
    # CIFAR-100 is this profile's training set (classes 1-80), so it is no Table 3 column here
    "cifar": HomogeneitySettings(**_GPU_RECIPE, ood_datasets=_PAPER_TABLE3[:3], set_batch_size=128, pretrain_steps=15_000, lr_pretrain=1e-3,
                                 own_classifier_steps=10_000,  # MNIST / Fashion-MNIST / CIFAR-10 at 32 px: ~40 epochs
                                 queries_per_class=100),
    "paper": HomogeneitySettings(**_GPU_RECIPE, ood_datasets=_PAPER_TABLE3, set_batch_size=2048, pretrain_steps=450_000, lr_pretrain=1e-1,
                                 # Table 3's classifiers at the datasets' own 32 px, not 450k steps at 224
                                 own_classifier_steps=15_000, own_classifier_image_size=32,
                                 queries_per_class=1000, eval_ranges=(10, 20, 40, 80, 100)),
}


# what a dry run (core/dry_run.py) cuts: a couple of steps of a couple of sets, a handful of queries; sets of at most
# 3 images (k = 25 needs 25 images a class in every split, and eq. 1's cost grows with k)
DRY_RUN = declare_dry_run("homogeneity", HOMOGENEITY, {
    "set_size": AtMost(3),
    "pretrain_steps": AtMost(2), "own_classifier_steps": AtMost(2), "set_batch_size": AtMost(2),
    "homogeneity_steps": AtMost(2), "eval_every": AtMost(2), "head_pretrain_steps": AtMost(2),
    "head_pretrain_sets": AtMost(2), "queries_per_class": AtMost(1), "eval_eq1_queries_per_class": AtMost(1),
    "eval_sets": 4, "subset_check_images": 8, "gbp_images_per_subset": AtMost(2),
})


def homogeneity_settings(profile) -> HomogeneitySettings:
    """The profile's paper-000 settings with ``extra["homogeneity"]`` applied, checked against each other and
    against the profile's data and processes before anything trains."""
    s = settings_for(profile, "homogeneity", HOMOGENEITY)
    where = f"homogeneity settings of profile {getattr(profile, 'name', profile)!r}: "
    for name in ("set_batch_size", "queries_per_class", "eval_eq1_queries_per_class", "gbp_images_per_subset",
                 "eval_every", "transformer_layers", "transformer_heads", "transformer_head_dim"):
        if getattr(s, name) < 1:
            raise ValueError(where + f"{name} must be an int >= 1, got {getattr(s, name)!r}")
    for name in ("eval_sets", "subset_check_images", "pretrain_steps", "homogeneity_steps", "own_classifier_steps",
                 "own_classifier_image_size", "head_pretrain_steps", "head_pretrain_sets"):
        if getattr(s, name) < 0:
            raise ValueError(where + f"{name} must be an int >= 0, got {getattr(s, name)!r}")
    if s.select_by not in SELECT_BY:
        raise ValueError(where + f"select_by must be one of {SELECT_BY}, got {s.select_by!r}")
    if s.lr_schedule not in LR_SCHEDULES:
        raise ValueError(where + f"lr_schedule must be one of {LR_SCHEDULES}, got {s.lr_schedule!r}")
    if not MIN_SET_SIZE <= s.set_size <= MAX_SET_SIZE:
        raise ValueError(where + f"set_size (images per set) must be an int in {MIN_SET_SIZE}..{MAX_SET_SIZE}, "
                         f"got {s.set_size!r}")
    ranges = s.eval_ranges
    if not ranges or any(n < 1 for n in ranges) or any(b <= a for a, b in zip(ranges, ranges[1:])):
        raise ValueError(where + f"eval_ranges must be increasing ints >= 1 (test classes of each growing range, "
                         f"e.g. (2, 4, 6)), got {ranges!r}")
    if hasattr(profile, "class_split"):
        _check_against_profile(s, profile, where)
    return s


def _check_against_profile(s: HomogeneitySettings, p, where: str) -> None:
    """The checks between these settings and the profile's data and processes."""
    k = s.set_size
    needs = (("train", "a training set holds set_size images of one seen class"),
             ("val", "a validation set of Fig. 2 holds set_size images of one class"),
             ("test", "eq. 1 compares a query with set_size - 1 other images of its class"))
    short = [f"per_class[{i}] = {n} {split} images a class, but {why}"
             for i, ((split, why), n) in enumerate(zip(needs, p.per_class)) if 0 < n < k]
    if short:
        raise ValueError(where + f"set_size={k} does not fit per_class={tuple(p.per_class)}: " + "; ".join(short)
                         + f". Use set_size <= {min(n for n in p.per_class if n)} or per_class entries "
                         f">= {k} (0 = every image)")
    if p.many_class in s.ood_datasets:
        raise ValueError(where + f"ood_datasets={tuple(s.ood_datasets)} holds {p.many_class!r}, the set the networks "
                         "train on (many_class): Table 3's datasets are never trained on; leave it out")
    test = p.class_split[2]
    if s.eval_ranges[-1] > test:
        raise ValueError(where + f"eval_ranges={tuple(s.eval_ranges)} reaches {s.eval_ranges[-1]} test classes "
                         f"but class_split={tuple(p.class_split)} has {test} (class_split[2]); every range must "
                         f"be <= {test}")
    check_batch_split(where, "set_batch_size", s.set_batch_size, "micro_batch_sets", p.micro_batch_sets,
                      p.world_size, "sets")


def with_homogeneity_settings(profile, **fields):
    """``profile`` with these paper-000 settings replaced (kept in ``extra["homogeneity"]``, as --set puts them)."""
    return with_settings(profile, "homogeneity", **fields)


def table3_datasets(profile) -> tuple[str, ...]:
    """The datasets Table 3 classifies and never trains on: the OOD sets, then the noise sets."""
    s = homogeneity_settings(profile)
    return (*s.ood_datasets, *s.noise_datasets)
