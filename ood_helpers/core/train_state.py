"""What ``train.fit`` carries from step to step and keeps on disk: ``FitState`` (the running state a
checkpoint stores), ``resume`` and ``save_checkpoint`` (the checkpoint, with the NumPy and torch RNG states,
so a resumed run draws what an uninterrupted one would have drawn), ``evaluate`` (the history
``<stem>.history.jsonl`` and the best weights ``<stem>.best.pt``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from ood_helpers.core import artifacts, distributed


def best_path_for(ckpt_path: str | Path) -> Path:
    """Where ``fit`` keeps the best-by-metric weights beside ``ckpt_path`` (``<stem>.best.pt``)."""
    ckpt_path = Path(ckpt_path)
    return ckpt_path.with_name(ckpt_path.stem + ".best.pt")


def history_path_for(ckpt_path: str | Path) -> Path:
    """Where ``fit`` appends its eval history beside ``ckpt_path`` (``<stem>.history.jsonl``)."""
    ckpt_path = Path(ckpt_path)
    return ckpt_path.with_name(ckpt_path.stem + ".history.jsonl")


def _rng_state(rng: np.random.Generator) -> dict:
    state = {"numpy": rng.bit_generator.state, "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(rng: np.random.Generator, state: dict) -> None:
    rng.bit_generator.state = state["numpy"]
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _append_line(path: Path, record: dict) -> None:
    # one write per line, flushed: an interrupted run leaves whole lines only
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, sort_keys=True) + "\n")
        fh.flush()


def read_history(path: str | Path) -> list[dict]:
    """The eval records (one dict per eval) of a history JSONL file; [] when absent."""
    path = Path(path)
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def finished(ckpt_path: str | Path, config: dict, steps: int) -> bool:
    """Whether ``ckpt_path`` holds a run of ``config`` that reached ``steps``."""
    ckpt_path = Path(ckpt_path)
    if not ckpt_path.exists():
        return False
    return int(artifacts.load_torch(ckpt_path, expect_config=config)["step"]) >= steps


def load_best(model: nn.Module, ckpt_path: str | Path, config: dict) -> int:
    """Loads the best-by-metric weights ``fit`` kept for ``ckpt_path`` into ``model``; returns their step."""
    state = artifacts.load_torch(best_path_for(ckpt_path), expect_config=config)
    model.load_state_dict(state["model"])
    return int(state["step"])


@dataclass
class FitState:
    """What the steps of one ``fit`` call share: the objects it trains, where it writes, and the running
    state its checkpoint keeps (step, history, best, the window of losses since the last eval)."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: torch.amp.GradScaler
    use_amp: bool
    rng: np.random.Generator
    config: dict
    ckpt_path: Path
    ctx: Any  # distributed.context(): is_main, distributed
    eval_fn: Callable[[int], dict] | None
    best_metric: str | None
    best_mode: str
    step: int = 0
    history: list[dict] = field(default_factory=list)
    best: dict = field(default_factory=lambda: {"step": None, "value": None})
    loss_sum: float = 0.0
    loss_count: int = 0
    last_saved: int = 0

    @property
    def best_path(self) -> Path:
        return best_path_for(self.ckpt_path)

    @property
    def history_path(self) -> Path:
        return history_path_for(self.ckpt_path)


def resume(run: FitState, steps: int) -> bool:
    """Loads ``run.ckpt_path`` when it exists (weights, optimizer, scheduler, scaler, RNG states, step,
    history, best, loss window) and rewrites the history file to the checkpoint's; returns whether it loaded."""
    loaded = run.ckpt_path.exists()
    if loaded:
        state = artifacts.load_torch(run.ckpt_path, expect_config=run.config)
        run.model.load_state_dict(state["model"])
        run.optimizer.load_state_dict(state["optimizer"])
        if run.scheduler is not None and state.get("scheduler") is not None:
            run.scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):
            run.scaler.load_state_dict(state["scaler"])
        _set_rng_state(run.rng, state["rng"])
        run.step, run.history, run.best = int(state["step"]), list(state["history"]), dict(state["best"])
        run.loss_sum, run.loss_count = state["loss_window"]
        if run.step > steps:
            raise ValueError(f"checkpoint {run.ckpt_path} is at step {run.step}, beyond the requested {steps} steps")
    if run.ctx.is_main:  # the log on disk may hold evals made after the checkpoint; they will be redone
        artifacts.atomic_write_text(run.history_path,
                                    "".join(json.dumps(r, sort_keys=True) + "\n" for r in run.history))
    return loaded


def save_checkpoint(run: FitState, at_step: int) -> None:
    """Rank 0 writes the checkpoint (everything ``resume`` loads); all ranks wait at a barrier."""
    if run.ctx.is_main:
        state = {
            "model": run.model.state_dict(),
            "optimizer": run.optimizer.state_dict(),
            "scheduler": run.scheduler.state_dict() if run.scheduler is not None else None,
            "scaler": run.scaler.state_dict() if run.use_amp else None,
            "rng": _rng_state(run.rng),
            "step": at_step,
            "history": run.history,
            "best": run.best,
            "loss_window": (run.loss_sum, run.loss_count),
        }
        artifacts.atomic_save_torch(state, run.ckpt_path, config=run.config)
    distributed.barrier()


def evaluate(run: FitState, at_step: int) -> None:
    """On rank 0: ``eval_fn`` in eval mode without gradients (torch's RNG untouched), its record (mean train
    loss since the last eval, metrics, lr) appended to the history, a new best kept. Resets the loss window."""
    if not run.ctx.is_main:  # rank 0 evaluates; the others wait at the next barrier
        run.loss_sum, run.loss_count = 0.0, 0
        return
    run.model.eval()
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        metrics = dict(run.eval_fn(at_step)) if run.eval_fn is not None else {}
    run.model.train()
    record = {"step": at_step, "train_loss": run.loss_sum / run.loss_count if run.loss_count else None}
    record.update({k: float(v) for k, v in metrics.items()})
    if run.optimizer.param_groups:
        record["lr"] = float(run.optimizer.param_groups[0]["lr"])
    run.history.append(record)
    _append_line(run.history_path, record)
    run.loss_sum, run.loss_count = 0.0, 0
    if run.best_metric is not None:
        _keep_if_best(run, record, metrics, at_step)


def _keep_if_best(run: FitState, record: dict, metrics: dict, at_step: int) -> None:
    """Saves the weights to ``<stem>.best.pt`` when ``record``'s best_metric beats the best so far."""
    if run.best_metric not in record:
        raise KeyError(f"eval_fn returned {sorted(metrics)}, which lacks best_metric {run.best_metric!r}")
    value = record[run.best_metric]
    better = run.best["value"] is None or (value > run.best["value"] if run.best_mode == "max"
                                           else value < run.best["value"])
    if better:
        run.best = {"step": at_step, "value": value}
        artifacts.atomic_save_torch(
            {"model": run.model.state_dict(), "step": at_step, run.best_metric: value}, run.best_path,
            config=run.config
        )
