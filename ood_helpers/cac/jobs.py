"""CAC's training under torchrun: ``train_trial`` with ``world_size`` > 1 hands its trial to ``world_size``
processes (the ``ood_helpers.distributed`` call job), each running ``train_one``, then loads the result.

The trial travels as a file, not as the arguments that built it: ``train_trial`` gets its data in memory
from several callers (notebook 06's experiment, the benchmark rows), and every rank must train on exactly
those images. The file lies beside the checkpoints (``artifacts/<profile>/cac/``; a folder all nodes share
in a multi-node run) and is removed when the run ends.
"""

from __future__ import annotations

from .. import artifacts, distributed
from ..profiles import resolve_device
from .data import TrialData

TARGET = "ood_helpers.cac.jobs:train_one"


def train_one(profile, payload_file: str, loss: str, recipe: dict, seed: int, alpha: float, lbda: float,
              device: str = "cpu", micro_batches: int | None = None) -> None:
    """One torchrun rank: trains the network ``train_trial`` asked for on the trial saved at ``payload_file``."""
    from .training import Recipe, train_trial

    data = artifacts.load_torch(payload_file)["data"]
    if not isinstance(data, TrialData):
        raise TypeError(f"{payload_file} holds a {type(data).__name__}, not a cac.data.TrialData")
    recipe = Recipe(**{k: tuple(v) if isinstance(v, list) else v for k, v in recipe.items()})
    if device.startswith("cuda"):  # each rank on its own GPU
        device = resolve_device(profile)
    train_trial(data, loss, recipe, profile=profile, seed=seed, alpha=alpha, lbda=lbda, device=device,
                progress=distributed.context().is_main, micro_batches=micro_batches)


def train_elsewhere_unless_finished(profile, stages: list, data: TrialData, **kwargs) -> None:
    """With ``world_size`` > 1, outside torchrun, and any of ``stages`` ((checkpoint, config, steps) each)
    unfinished: runs ``train_one(profile, payload_file, **kwargs)`` on ``world_size`` processes with ``data``
    saved beside the last stage's checkpoint, so that the caller's ``fit`` calls only load."""
    if not distributed.must_launch(profile, stages):
        return
    last = stages[-1][0]
    distributed.launch_with_file(profile, TARGET, last.with_name(last.stem + ".trial.pt"), {"data": data}, kwargs)
    if distributed.must_launch(profile, stages):
        raise RuntimeError(f"torchrun ended but {last} holds no finished run of its config")
