"""The named run sizes: smoke (tests), quick (CPU default), cifar (one GPU), paper (the papers' scale).

A profile is plain data. A notebook receives the profile *name* as its papermill
parameter and resolves everything else here; any single field can still be
overridden (``get_profile("quick", trials=2)``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Profile:
    name: str
    device: str = "auto"  # "auto" picks cuda when available, else cpu
    # ----- data -----
    many_class: str = "mnist-pairs"  # the many-class set playing ImageNet's part
    class_split: tuple[int, int, int] = (80, 10, 10)  # seen / validation / test class counts
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
    eval_every: int = 25  # homogeneity validation points for Fig. 2
    lr_pretrain: float = 1e-3
    # paper: one lr, 3e-5 at batch 2048. With 400 CPU steps of 32 sets, 1e-3 for the Transformer and a
    # near-frozen ResNet gave the best quick-profile Table 1 (class homogeneity top-1 on 1-100, 2 trials:
    # 52% at 1e-3/1e-6, 43% at 1e-3/3e-5, 29% at 3e-4/3e-4, 6% at 3e-3/3e-5; see issue 3's note)
    lr_homogeneity: float = 1e-3
    lr_homogeneity_encoder: float = 1e-6  # the pretrained ResNet's lr inside the homogeneity model; 0 = lr_homogeneity
    amp: bool = True  # mixed precision, only used on cuda
    num_workers: int = 0
    # ----- evaluation -----
    trials: int = 5
    queries_per_class: int = 10  # paper: 1000 (Table 1) / all test images
    eval_ranges: tuple[int, ...] = (2, 4, 6, 8, 10)  # Tables 2 and 4: growing ranges of test classes
    seed: int = 0
    extra: dict = field(default_factory=dict)  # method-specific knobs of later notebooks

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

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
        homogeneity_steps=400,
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
    return dataclasses.replace(PROFILES[name], **overrides)


def resolve_device(profile: Profile) -> str:
    """'cuda' or 'cpu' for the profile's ``device`` field ('auto' picks cuda when available)."""
    import torch

    if profile.device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if profile.device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(
            f"profile {profile.name!r} asks for device {profile.device!r} but no CUDA GPU is visible; "
            "pass device='cpu' to run it on the CPU (slowly)"
        )
    return profile.device
