"""The named run sizes: smoke (tests), quick (CPU default), cifar (one GPU), paper (the papers' scale).

A profile is plain data. A notebook receives the profile *name* as its papermill
parameter and resolves everything else here; any single field can still be
overridden (``get_profile("quick", trials=2)``).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

from ood_helpers.core.profile_checks import (AUGMENTATIONS, CLASS_ORDERS, MANY_CLASS_COUNTS, MAX_SET_SIZE,  # noqa: F401
                                             MIN_SET_SIZE, check_fields, check_together)


@dataclass(frozen=True)
class Profile:
    name: str
    device: str = "auto"  # "auto" picks cuda when available, else cpu
    # ----- data -----
    many_class: str = "mnist-pairs"  # the many-class set playing ImageNet's part
    class_split: tuple[int, int, int] = (80, 10, 10)  # seen / validation / test class counts
    # consecutive ranges of which class order: "paper" (appendix A.2's shuffle) | "novel-digit" (MNIST-pairs:
    # no seen class contains the digit 9, every test class does; data/splits.py)
    class_order: str = "paper"
    per_class: tuple[int, int, int] = (60, 20, 20)  # images per class in train / val / test (mnist-pairs)
    ood_datasets: tuple[str, ...] = ("mnist5k", "digits")  # Table 3: datasets never trained on
    noise_datasets: tuple[str, ...] = ("gaussian", "uniform")
    image_size: int | None = None  # None keeps each dataset's native size
    channels: int = 1
    # ----- networks -----
    resnet_width: int = 16  # torchvision ResNet-18 uses 64
    small_stem: bool = True  # 3x3 stride-1 stem without max-pool, for 28-32 px inputs
    set_size: int = 25  # k of the homogeneity task (paper: 25)
    transformer_layers: int = 2  # paper: 6
    transformer_heads: int = 4  # paper: 16
    transformer_head_dim: int = 16  # paper: 64
    # ----- training -----
    batch_size: int = 128  # images per classifier step
    set_batch_size: int = 16  # sets per homogeneity step (paper: 2048)
    pretrain_steps: int = 600
    homogeneity_steps: int = 300
    eval_every: int = 25  # homogeneity validation points for Fig. 2 (above homogeneity_steps: step 0 and the last only)
    lr_pretrain: float = 1e-3
    # paper: one lr, 3e-5 at batch 2048. With 400 CPU steps of 32 sets, 1e-3 for the Transformer and a
    # near-frozen ResNet gave the best quick-profile Table 1 (class homogeneity top-1 on 1-100, 2 trials:
    # 52% at 1e-3/1e-6, 43% at 1e-3/3e-5, 29% at 3e-4/3e-4, 6% at 3e-3/3e-5; see issue 3's note)
    lr_homogeneity: float = 1e-3
    lr_homogeneity_encoder: float = 1e-6  # the pretrained ResNet's lr inside the homogeneity model; 0 = lr_homogeneity
    # steps of the Transformer alone on cached embeddings of the frozen encoder before joint training
    # (hundreds of times cheaper a step than through the ResNet); 0 = none, as in the paper
    head_pretrain_steps: int = 0
    head_pretrain_sets: int = 0  # sets per head-pretraining step; 0 = set_batch_size
    amp: bool = True  # mixed precision, only used on cuda
    # ----- scale: streaming, micro-batches, processes -----
    augmentation: str = "auto"  # classifier training recipe: auto | imagenet | cifar | digits | none (see data/transforms.py)
    num_workers: int = 0  # DataLoader worker processes (0 = load in the training process)
    micro_batch_images: int = 0  # classifier images per forward/backward; 0 = the whole batch (per process)
    micro_batch_sets: int = 0  # homogeneity sets per forward/backward (gradient accumulation); 0 = the whole batch
    world_size: int = 1  # training processes on this machine; > 1 launches torchrun (DDP, NCCL on GPUs, gloo on CPU)
    own_classifier_steps: int = 0  # Table 3's per-dataset classifiers; 0 = pretrain_steps
    own_classifier_image_size: int = 0  # their input size in px; 0 = image_size (paper: the datasets' own 28-32 px)
    # ----- evaluation -----
    trials: int = 5
    queries_per_class: int = 10  # paper: 1000 (Table 1) / all test images; beyond a class's test images, drawn again
    eval_batch_sets: int = 4096  # sets scored per forward pass by eq. 1 and the pair matrix
    eval_ranges: tuple[int, ...] = (2, 4, 6, 8, 10)  # Tables 2 and 4: growing ranges of test classes
    seed: int = 0
    extra: dict = field(default_factory=dict)  # method-specific knobs of later notebooks

    def __post_init__(self):
        check_fields(self)

    def validate(self) -> "Profile":
        """``self`` when its fields fit together, else a ValueError naming the fields; called by
        ``get_profile``, ``from_dict`` and ``run.check_profile`` before anything trains.

        - set_size in 2..25 (as ``homogeneity.sampling.check_set_size``);
        - per_class vs set_size: a training set and a validation set (Fig. 2) hold set_size images of
          one class, eq. 1 compares a test query with set_size - 1 other test images of its class, so
          each nonzero per_class entry must be >= set_size (0 = every image of the split);
        - mnist-pairs composes per_class pairs a class: no 0 there;
        - eval_ranges (growing ranges of test classes) end at or below class_split[2];
        - class_split sums to at most the classes of the many-class set.

        ``eval_every`` above ``homogeneity_steps`` is allowed: ``train.fit`` then evaluates at step 0
        and at the last step only.
        """
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
        set_size=5,
        transformer_layers=1,
        transformer_heads=2,
        transformer_head_dim=4,
        batch_size=32,
        set_batch_size=4,
        pretrain_steps=6,
        homogeneity_steps=6,
        eval_every=3,
        trials=2,
        queries_per_class=2,
        eval_ranges=(1, 2),
        augmentation="none",
    ),
    "quick": Profile(
        name="quick",
        device="cpu",
        # measured on 2 CPU cores: torchvision's stride-2 stem + max-pool runs ~9x faster than the
        # small stem on 28x56 MNIST-pairs and still reaches ~87% top-1 on the 80 seen classes
        small_stem=False,
        set_size=10,  # paper: 25; 10 fits 20 test images a class and keeps notebooks 02+03 under 4 min
        set_batch_size=32,
        pretrain_steps=400,
        # issue 10's study (notebook 03, benchmarks/study_homogeneity.py): 400 joint steps of 32 sets left eq. 1
        # far below cosine NN on the same embeddings (test classes 75 % vs 95 %, 1-100: 52 % vs 85 %); the
        # Transformer first trained alone for 2,000 steps of 128 sets on cached embeddings (~40 s), then 200
        # joint steps, reached 88 % / 74 % in less time
        head_pretrain_steps=2000,
        head_pretrain_sets=128,
        homogeneity_steps=200,
        augmentation="none",  # tuned without shifts (issue 3); "digits" adds 2 px shifts
    ),
    "cifar": Profile(
        name="cifar",
        many_class="cifar100",
        per_class=(450, 50, 100),  # CIFAR-100: first 50 training images of a class are validation
        ood_datasets=("mnist", "fashion-mnist", "cifar10", "cifar100"),
        image_size=32,
        channels=3,
        resnet_width=64,
        transformer_layers=6,
        transformer_heads=16,
        transformer_head_dim=64,
        batch_size=256,
        set_batch_size=128,
        pretrain_steps=15_000,
        homogeneity_steps=3_000,
        eval_every=100,
        lr_pretrain=1e-3,
        lr_homogeneity=3e-5,
        lr_homogeneity_encoder=0.0,
        num_workers=4,
        own_classifier_steps=10_000,  # MNIST / Fashion-MNIST / CIFAR-10 at 32 px: ~40 epochs of batch 256
        queries_per_class=100,
    ),
    "paper": Profile(
        name="paper",
        many_class="imagenet",
        class_split=(800, 100, 100),
        per_class=(0, 50, 50),  # 0 = every image; val = first 50 training images, test = ImageNet val
        ood_datasets=("mnist", "fashion-mnist", "cifar10", "cifar100"),
        image_size=224,
        channels=3,
        resnet_width=64,
        small_stem=False,
        transformer_layers=6,
        transformer_heads=16,
        transformer_head_dim=64,
        batch_size=256,
        set_batch_size=2048,
        pretrain_steps=450_000,
        homogeneity_steps=3_000,
        eval_every=100,
        lr_pretrain=1e-1,
        lr_homogeneity=3e-5,
        lr_homogeneity_encoder=0.0,
        num_workers=8,
        # 2048 sets x 25 images at 224 px do not fit one GPU: 32 sets (800 images) a forward/backward,
        # accumulated; bench_train.py measures the memory of a micro-batch size on your GPU
        micro_batch_sets=32,
        own_classifier_steps=15_000,  # Table 3's classifiers at the datasets' own 32 px, not 450k steps at 224
        own_classifier_image_size=32,
        queries_per_class=1000,
        eval_ranges=(10, 20, 40, 80, 100),
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
    return dataclasses.replace(PROFILES[name], **overrides).validate()


def resolve_device(profile: Profile) -> str:
    """'cuda' (under torchrun 'cuda:<LOCAL_RANK>') or 'cpu' for the profile's ``device`` field ('auto' picks
    cuda when available)."""
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
    return device
