"""The named run sizes: smoke (tests), quick (CPU default), cifar (one GPU), paper (the papers' scale).

A profile is plain data. A notebook receives the profile *name* as its papermill
parameter and resolves everything else here; any single field can still be
overridden (``get_profile("quick", trials=2)``).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

from ood_helpers.core.dry_run import profile_fields
from ood_helpers.core.profile_checks import (AUGMENTATIONS, CLASS_ORDERS, MANY_CLASS_COUNTS, MAX_SET_SIZE,  # noqa: F401
                                             MIN_SET_SIZE, check_fields, check_together)


@dataclass(frozen=True)
class Profile:
    """The run size and the data every notebook shares; each paper's hyper-parameters live in its own
    settings (``<paper>/settings.py``, read with ``settings_for(profile, key, table)``), overridable through
    ``extra`` (``--set cac.epochs=3``)."""

    name: str
    device: str = "auto"  # "auto" picks cuda when available, else cpu
    # ----- data -----
    many_class: str = "mnist-pairs"  # the many-class set playing ImageNet's part
    class_split: tuple[int, int, int] = (80, 10, 10)  # seen / validation / test class counts
    # consecutive ranges of which class order: "paper" (appendix A.2's shuffle) | "novel-digit" (MNIST-pairs:
    # no seen class contains the digit 9, every test class does; core/data/splits.py)
    class_order: str = "paper"
    per_class: tuple[int, int, int] = (60, 20, 20)  # images per class in train / val / test (mnist-pairs)
    image_size: int | None = None  # None keeps each dataset's native size
    noise_images: int = 1000  # images a split of the noise sets (gaussian, uniform; Table 3)
    channels: int = 1
    augmentation: str = "auto"  # classifier training recipe: auto | imagenet | cifar | digits | none (see core/data/transforms.py)
    # ----- the shared backbone -----
    resnet_width: int = 16  # torchvision ResNet-18 uses 64
    small_stem: bool = True  # 3x3 stride-1 stem without max-pool, for 28-32 px inputs
    # ----- run size: batches, precision, streaming, micro-batches, processes, trials, seeds -----
    batch_size: int = 128  # images per classifier step
    amp: bool = True  # mixed precision, only used on cuda
    num_workers: int = 0  # DataLoader worker processes (0 = load in the training process)
    micro_batch_images: int = 0  # classifier images per forward/backward; 0 = the whole batch (per process)
    micro_batch_sets: int = 0  # homogeneity sets per forward/backward (gradient accumulation); 0 = the whole batch
    world_size: int = 1  # training processes in all; > 1 launches torchrun (DDP, NCCL on GPUs, gloo on CPU)
    nodes: int = 1  # machines the world_size processes span (torchrun --nnodes); world_size / nodes run on each
    eval_batch_sets: int = 4096  # sets scored per forward pass by eq. 1 and the pair matrix
    # torch CPU threads of a notebook's process (and of its one-process training); 0 = torch's default
    # (OMP_NUM_THREADS, else the cores). CPU training is bit-identical only for the same count, so the CPU
    # profiles fix it: the same profile trains the same weights whatever the machine's cores or environment
    threads: int = 0
    trials: int = 5  # evaluation trials (draws of queries, supports, splits) of each trained model
    # independently trained models (training replicates) of the methods a headline claim compares: replicate
    # m trains every network with seed trial_seed(seed, m); tables pool models x trials
    models: int = 1
    seed: int = 0
    # a dry run (core/dry_run.py): the profile's data, splits and networks, its run size and each paper's steps,
    # epochs, trials and evaluation sizes cut to seconds, on the CPU; outputs in <root>/<name>-dry-run/
    dry_run: bool = False
    extra: dict = field(default_factory=dict)  # each paper's settings overrides, by key (cac, homogeneity, ...)

    def __post_init__(self):
        check_fields(self)

    def validate(self) -> "Profile":
        """``self`` when its fields fit together, else a ValueError naming the fields; called by
        ``get_profile``, ``from_dict`` and ``run.check_profile`` before anything trains: mnist-pairs composes
        per_class pairs a class (no 0 there); class_order 'novel-digit' needs MNIST-pairs' 100 classes;
        class_split sums to at most the classes of the many-class set. Each paper checks its own settings
        against the profile when it reads them (e.g. ``homogeneity_settings``)."""
        check_together(self)
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Profile":
        """The Profile whose ``to_dict()`` is ``data`` (lists back to tuples), e.g. after JSON."""
        tuples = {f.name for f in dataclasses.fields(cls) if isinstance(f.default, tuple)}
        return cls(**{k: tuple(v) if k in tuples and isinstance(v, list) else v for k, v in data.items()}).validate()

    def per_process(self, count: int) -> int:
        """``count`` (a global batch) divided by ``world_size``: what one training process takes."""
        return count // self.world_size

    @property
    def num_classes(self) -> int:
        return sum(self.class_split)


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke",
        device="cpu",
        small_stem=False,  # as in quick: the stride-2 stem keeps smoke runs to seconds
        class_split=(8, 2, 2),
        per_class=(12, 8, 8),
        resnet_width=4,
        batch_size=32,
        trials=2,
        models=2,
        augmentation="none",
        threads=2,
    ),
    "quick": Profile(
        name="quick",
        device="cpu",
        # measured on 2 CPU cores: torchvision's stride-2 stem + max-pool runs ~9x faster than the
        # small stem on 28x56 MNIST-pairs and still reaches ~87% top-1 on the 80 seen classes
        small_stem=False,
        augmentation="none",  # tuned without shifts (issue 3); "digits" adds 2 px shifts
        threads=2,
        models=3,
        # 3 evaluation trials of each of the 3 models: the verdicts pair methods by trained model, whose spread
        # (~5 points on Table 1) dwarfs a trial's (~1), so trials 4-5 bought little for their 40 s of notebooks 04-05
        trials=3,
    ),
    "cifar": Profile(
        name="cifar",
        many_class="cifar100",
        per_class=(450, 50, 100),  # CIFAR-100: first 50 training images of a class are validation
        image_size=32,
        channels=3,
        resnet_width=64,
        batch_size=256,
        num_workers=4,
    ),
    "paper": Profile(
        name="paper",
        many_class="imagenet",
        class_split=(800, 100, 100),
        per_class=(0, 50, 50),  # 0 = every image; val = first 50 training images, test = ImageNet val
        image_size=224,
        channels=3,
        resnet_width=64,
        small_stem=False,
        batch_size=256,
        num_workers=8,
        # 2048 sets x 25 images at 224 px do not fit one GPU: 32 sets (800 images) a forward/backward,
        # accumulated; bench_train.py measures the memory of a micro-batch size on your GPU
        micro_batch_sets=32,
    ),
}


def get_profile(name: str, **overrides) -> Profile:
    """The named profile with any fields replaced; unknown names and fields are refused."""
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; known profiles: {', '.join(PROFILES)}")
    known = {f.name for f in dataclasses.fields(Profile)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown profile field(s) {unknown}; known fields: {sorted(known)}")
    overrides = {k: v for k, v in overrides.items() if v is not None}
    prof = dataclasses.replace(PROFILES[name], **overrides)
    if prof.dry_run:  # the dry run's cuts, except the fields given here
        prof = dataclasses.replace(prof, **profile_fields(prof, overrides))
    return prof.validate()


def resolve_device(profile: Profile) -> str:
    """'cuda' (under torchrun 'cuda:<LOCAL_RANK>') or 'cpu' for the profile's ``device`` field ('auto' picks
    cuda when available); on CUDA also allows TF32 matmuls and convolutions."""
    import torch

    device = profile.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(
            f"profile {profile.name!r} asks for device {profile.device!r} but no CUDA GPU is visible; "
            "pass device='cpu' to run it on the CPU (slowly)"
        )
    if device == "cuda" and "LOCAL_RANK" in os.environ:  # a torchrun rank trains on its own GPU
        device = f"cuda:{int(os.environ['LOCAL_RANK'])}"
    if device.startswith("cuda"):  # TF32 tensor cores for fp32 matmuls and convolutions (10-bit mantissa)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    return device
