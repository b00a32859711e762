"""The stages of paper 003 as torchrun ranks run them (``core.worker`` target ``run_stage``): the payload
file names the stage and holds its arguments (images, networks: what JSON cannot carry)."""

from __future__ import annotations

from ood_helpers.core import artifacts
from ood_helpers.pseudo_label.finetune import finetune
from ood_helpers.pseudo_label.stages import scan_step, self_label, train_source

STAGES = {"train_source": train_source, "finetune": finetune, "scan_step": scan_step, "self_label": self_label}


def run_stage(profile, payload_file: str) -> None:
    """One torchrun rank of a stage (``stages.launch_unless_finished`` wrote the payload)."""
    p = artifacts.load_torch(payload_file)
    STAGES[p["stage"]](*p["args"], profile=profile, **p["kwargs"])
