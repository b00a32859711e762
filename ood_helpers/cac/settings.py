"""CAC's settings per profile, read with ``settings_for(profile, "cac", CAC_SETTINGS)`` (override any field with
``--set 'extra={"cac": {"epochs": [5]}}'``)."""

from __future__ import annotations

from dataclasses import dataclass

from ood_helpers.cac.data import PAPER_SETS, STAND_INS
from ood_helpers.core.dry_run import AtMost, declare_dry_run
from ood_helpers.core.settings import settings_for


@dataclass(frozen=True)
class CACSettings:
    datasets: tuple[str, ...] = ("mnist5k",)  # Table 2-3 columns: mnist5k, or the paper's sets (cac.data.PAPER_SETS)
    trials: int = 5  # per dataset, the first n of the paper's 5 splits
    epochs: tuple[int, ...] = ()  # per stage; () = each dataset's recipe (paper Table 4)
    width: float = 1.0  # OSRCI channel multiplier (paper: 1)
    per_class: tuple[int, int, int] = (320, 80, 100)  # mnist5k train / val / test images a class
    digits_trials: int = 5  # the digits-8x8 MLP stand-in (Table 2-3 extra column, Figs. 2-3)
    digits_epochs: int = 60
    lambdas: tuple[float, ...] = (0.05, 0.1, 0.2, 0.4, 0.8)  # Fig. 2 at alpha 10 [A]
    alphas: tuple[int, ...] = (2, 5, 10, 20, 40)  # Fig. 2 at lambda 0.1; integers as the official --alpha [A]
    peer_datasets: tuple[str, ...] = ("digits",)  # where pytorch-ood's CACLoss is trained too
    split_version: str = "old"  # old = the paper's v1 splits; neal = those of [18]
    keep: float = 0.95  # Figs. 4-5: theta accepts this share of known test images [A]
    toy_steps: int = 1500  # full-batch SGD steps of each toy network (Fig. 1)
    fig4_dataset: str = "mnist5k"
    download: bool = True  # torchvision sets: download when missing


_PAPER_SETS = ("mnist", "svhn", "cifar10", "cifar+10", "cifar+50")
CAC_SETTINGS = {
    "smoke": CACSettings(trials=1, epochs=(1,), width=0.125, per_class=(40, 10, 20), digits_trials=2, digits_epochs=3,
                         lambdas=(0.1, 0.4), alphas=(5, 10), toy_steps=100),
    # measured (issue 11 note): MNIST-5000 at width 0.25 trains ~800 img/s on one idle core; 3 trials x 3 epochs
    # of CE and CAC plus 5 digits trials of 5 losses and the sweeps fit the ~2 minute budget
    "quick": CACSettings(trials=3, epochs=(3,), width=0.25, digits_epochs=30),
    "cifar": CACSettings(datasets=_PAPER_SETS, peer_datasets=("digits", "cifar10"), fig4_dataset="cifar10"),
    "paper": CACSettings(datasets=(*_PAPER_SETS, "tinyimagenet"), peer_datasets=("digits", "cifar10"),
                         fig4_dataset="cifar10"),
}


# what a dry run (core/dry_run.py) cuts: one trial, one short epoch or a couple of steps, small batches
DRY_RUN = declare_dry_run("cac", CAC_SETTINGS, {
    "trials": AtMost(1), "epochs": (1,), "digits_trials": AtMost(1), "digits_epochs": AtMost(1), "lambdas": (0.1,),
    "alphas": (10,), "toy_steps": AtMost(5),
})


def cac_settings(profile) -> CACSettings:
    s = settings_for(profile, "cac", CAC_SETTINGS)

    bad = [d for d in (*s.datasets, *s.peer_datasets) if d not in (*PAPER_SETS, *STAND_INS)]
    if bad:
        raise ValueError(f"cac datasets {bad} unknown; expected names from {(*STAND_INS, *PAPER_SETS)}")
    if not 1 <= s.trials <= 5 or not 1 <= s.digits_trials <= 5:
        raise ValueError(f"cac trials must be 1..5 (the paper has 5 splits); got {s.trials}, {s.digits_trials}")
    if s.fig4_dataset not in (*s.datasets, "digits"):
        raise ValueError(f"cac fig4_dataset {s.fig4_dataset!r} must be one of the datasets run: {(*s.datasets, 'digits')}")
    if "digits" in s.datasets:
        raise ValueError("cac datasets must not list 'digits': the digits stand-in always runs as its own column")
    if s.split_version not in ("old", "neal"):
        raise ValueError(f"cac split_version must be 'old' or 'neal', got {s.split_version!r}")
    if not 0 < s.keep <= 1:
        raise ValueError(f"cac keep must be in (0, 1], got {s.keep}")
    return s
