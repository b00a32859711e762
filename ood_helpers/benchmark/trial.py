"""What every row of the open-set benchmark (notebook 11) receives and returns.

A row is one method of the five papers, run by the code of its own notebook, on one trial of the CAC
paper's 6-known / 4-unknown splits (``cac.splits``): it gets a :class:`BenchmarkTrial` (the trial's images
as ``cac.data.TrialData``, known classes relabelled 0..5) and returns a :class:`RowScores` (a score per
known and per unknown test image, larger = more unknown, and closed-set predictions where the method
classifies). Every row sees the same ``TrialData`` object of a trial: ``split_fingerprint`` digests its
classes and images, and the runner records it beside every row's numbers, so a test can prove that the
splits are identical across rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ood_helpers.core import artifacts
from ood_helpers.cac.data import TrialData


@dataclass(frozen=True)
class BenchmarkTrial:
    """One trial as every row sees it.

    ``data``: known-class train / val / test images (uint8 [N, C, H, W]) with labels 0..N_known-1, and the
    unknown test images (``x_unknown``); rows train on ``x_train`` / ``y_train`` (plus ``x_val`` / ``y_val``
    for model selection) only and score ``x_test`` (known) and ``x_unknown``. ``seed`` is
    ``seeding.trial_seed(profile.seed, trial)``; ``profile`` the notebook's profile (its name keys caches);
    ``device`` where training runs.
    """

    data: TrialData
    trial: int
    seed: int
    profile: object
    device: str = "cpu"

    @property
    def num_classes(self) -> int:
        return self.data.num_classes

    @property
    def channels(self) -> int:
        return int(self.data.x_train.shape[1])

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(int(v) for v in self.data.x_train.shape[1:])


def split_fingerprint(data: TrialData) -> str:
    """A digest of the trial's known / unknown classes and every image and label of every part."""
    parts = [getattr(data, f"{kind}_{part}") for part in ("train", "val", "test", "unknown") for kind in ("x", "y")]
    return artifacts.config_hash(data.name, list(data.split.known), list(data.split.unknown),
                                 artifacts.tensor_digest(*parts))


@dataclass
class RowScores:
    """What a row returns for one trial.

    ``s_known`` / ``s_unknown``: one score per image of ``data.x_test`` / ``data.x_unknown``, larger = more
    unknown (the convention of ``core.metrics.ood``). ``pred_known``: the closed-set class (0..N_known-1)
    of each known test image, or None when the method does not classify (label-free detectors).
    ``train_seconds``: wall time spent training in this call (about 0 when the networks came from a cache,
    say so in ``note``); ``score_seconds``: wall time of scoring both test sets. ``note``: anything a reader
    of the row must know (the network it reuses, a stand-in, why a number is missing).
    """

    s_known: np.ndarray
    s_unknown: np.ndarray
    pred_known: np.ndarray | None = None
    train_seconds: float = 0.0
    score_seconds: float = 0.0
    note: str = ""
    extra: dict = field(default_factory=dict)

    def check(self, data: TrialData, row: str) -> "RowScores":
        """``self`` when its arrays fit ``data``, else a ValueError naming the row and the mismatch."""
        want = {"s_known": len(data.y_test), "s_unknown": len(data.y_unknown)}
        for name, n in want.items():
            arr = np.asarray(getattr(self, name), dtype=np.float64).ravel()
            if arr.shape != (n,):
                raise ValueError(f"row {row!r}: {name} has {arr.size} scores, expected one per image ({n})")
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"row {row!r}: {name} holds non-finite scores")
            setattr(self, name, arr)
        if self.pred_known is not None:
            pred = np.asarray(self.pred_known).ravel()
            if pred.shape != (want["s_known"],) or pred.min(initial=0) < 0 or pred.max(initial=0) >= data.num_classes:
                raise ValueError(f"row {row!r}: pred_known must hold one class in 0..{data.num_classes - 1} per known "
                                 f"test image ({want['s_known']}), got shape {pred.shape}")
            self.pred_known = pred.astype(np.int64)
        return self
