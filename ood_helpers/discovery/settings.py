"""Discovery settings per profile, read with ``discovery_settings(profile)`` (override any field with
``--set 'extra={"discovery": {"streams": 5}}'``)."""

from __future__ import annotations

from dataclasses import dataclass

from ood_helpers.homogeneity.paper_values import M_HOM, M_NN_COS_FT, M_NN_COS_PRE, M_NN_EUC_FT, M_NN_EUC_PRE
from ood_helpers.core.dry_run import AtMost, declare_dry_run
from ood_helpers.core.settings import settings_for

ORDERS = ("shuffled", "blocks")
CRITERIA = ("mean", "min")
M_HOM_V2 = "Class homogeneity (variant 2)"  # trained on sets of 2..k images (notebook 03); optional
M_CENTROID = "Distance to class centroid (nb. 08 S1, pretrained)"  # notebook 08's detector as the is-it-new test
METHODS = (M_HOM, M_NN_COS_PRE, M_NN_COS_FT, M_NN_EUC_PRE, M_NN_EUC_FT, M_CENTROID)
ALL_METHODS = (*METHODS, M_HOM_V2)


@dataclass(frozen=True)
class DiscoverySettings:
    known_classes: int = 20  # seen classes labelled in each stream (drawn per stream); 0 = every seen class
    orders: tuple[str, ...] = ORDERS  # stream orders: shuffled | blocks (classes arrive a block at a time)
    streams: int = 3  # seeded streams per order (the table's trials)
    block_classes: int = 5  # classes per block in the "blocks" order
    # thresholds tried on the validation streams: these quantiles of the best score of the validation
    # images against the initial memory (a grid per method, in its own score units). Above 0.8 every
    # method opens hundreds of classes in quick (measured) and eq. 1's cost grows with the classes held
    threshold_quantiles: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
    criterion: str = "mean"  # threshold choice: mean | min of (known accuracy, new-class clustering accuracy)
    methods: tuple[str, ...] = METHODS  # any of ALL_METHODS
    curve_bins: int = 10  # points of the accuracy-along-the-stream figure
    batch_sets: int = 4096  # eq. 1 sets per forward pass


DISCOVERY = {
    "smoke": DiscoverySettings(known_classes=0, streams=2, block_classes=2, threshold_quantiles=(0.3, 0.5, 0.7),
                               curve_bins=4),
    "quick": DiscoverySettings(),
    "cifar": DiscoverySettings(known_classes=40, streams=5, block_classes=10),
    "paper": DiscoverySettings(known_classes=100, streams=5, block_classes=20),
}


# what a dry run (core/dry_run.py) cuts: one trial, one short epoch or a couple of steps, small batches
DRY_RUN = declare_dry_run("discovery", DISCOVERY, {
    "streams": AtMost(1), "orders": ("shuffled",), "threshold_quantiles": (0.5,), "curve_bins": AtMost(4),
    "batch_sets": AtMost(256),
})


def discovery_settings(profile) -> DiscoverySettings:
    """The profile's settings with ``extra["discovery"]`` applied, checked before anything runs."""
    s = settings_for(profile, "discovery", DISCOVERY)
    bad = [o for o in s.orders if o not in ORDERS]
    if bad or not s.orders:
        raise ValueError(f"discovery orders must be a non-empty subset of {ORDERS}, got {s.orders}")
    if s.criterion not in CRITERIA:
        raise ValueError(f"discovery criterion must be one of {CRITERIA}, got {s.criterion!r}")
    if not s.threshold_quantiles or any(not 0 <= q <= 1 for q in s.threshold_quantiles):
        raise ValueError(f"discovery threshold_quantiles must be numbers in [0, 1], got {s.threshold_quantiles}")
    unknown = [m for m in s.methods if m not in ALL_METHODS]
    if unknown or not s.methods:
        raise ValueError(f"discovery methods {unknown or '()'} unknown; choose from {ALL_METHODS}")
    for name in ("streams", "block_classes", "curve_bins", "batch_sets"):
        if getattr(s, name) < 1:
            raise ValueError(f"discovery {name} must be >= 1, got {getattr(s, name)}")
    if s.known_classes < 0:
        raise ValueError(f"discovery known_classes must be >= 0 (0 = every seen class), got {s.known_classes}")
    return s
