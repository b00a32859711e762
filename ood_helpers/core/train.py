"""The one training loop of the project (the ResNet-18 classifiers built on it: ``classifier``).

``fit`` is generic over a batch function and a loss function, so the classifiers, the
class-homogeneity model and the later methods (autoencoder, CAC, ...) share it: Adam or
any optimizer, mixed precision on CUDA, checkpoint + resume (model, optimizer, scheduler,
step, NumPy and torch RNG states, so a resumed CPU run ends bit-identical to an
uninterrupted one), a NaN/inf guard that keeps the last good checkpoint, tqdm progress,
periodic evaluation logged as JSON lines, and a "best" checkpoint by one metric.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ood_helpers.core import artifacts
from ood_helpers.core.data.loading import MicroBatch, Step
from ood_helpers.core.seeding import deterministic_on_cpu


@dataclass
class FitResult:
    """What ``fit`` did: the step reached, the eval history and the best checkpoint."""

    step: int
    history: list[dict] = field(default_factory=list)
    best_step: int | None = None
    best_value: float | None = None
    best_path: Path | None = None
    resumed_from: int = 0
    seconds: float = 0.0


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


class _LossModule(nn.Module):
    """``loss_fn(model, batch)`` as a module's forward, so DistributedDataParallel sees every
    forward that builds a loss (its gradient hooks need that), whatever method loss_fn calls."""

    def __init__(self, model: nn.Module, loss_fn: Callable[[nn.Module, Any], torch.Tensor]):
        super().__init__()
        self.model, self.loss_fn = model, loss_fn

    def forward(self, batch):
        return self.loss_fn(self.model, batch)


def micro_seed(seed: int, step: int, index: int) -> int:
    """The torch seed of micro-batch ``index`` of ``step``: dropout then depends on neither the
    process that runs it nor on resumption."""
    return int(np.random.SeedSequence([int(seed), int(step), int(index)]).generate_state(1, np.uint64)[0] >> 1)


def finished(ckpt_path: str | Path, config: dict, steps: int) -> bool:
    """Whether ``ckpt_path`` holds a run of ``config`` that reached ``steps``."""
    ckpt_path = Path(ckpt_path)
    if not ckpt_path.exists():
        return False
    return int(artifacts.load_torch(ckpt_path, expect_config=config)["step"]) >= steps


def fit(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    *,
    loss_fn: Callable[[nn.Module, Any], torch.Tensor],
    steps: int,
    ckpt_path: str | Path,
    config: dict,
    batch_fn: Callable[[int, np.random.Generator], Any] | None = None,
    steps_from: Callable[[int], Iterator[Step]] | None = None,
    seed: int | None = None,
    rng: np.random.Generator | int = 0,
    device: str = "cpu",
    amp: bool = False,
    scheduler: Any = None,
    checkpoint_every: int | None = None,
    eval_fn: Callable[[int], dict] | None = None,
    eval_every: int | None = None,
    best_metric: str | None = None,
    best_mode: str = "max",
    grad_clip: float | None = None,
    desc: str = "train",
    progress: bool = True,
) -> FitResult:
    """Trains ``model`` for ``steps`` optimizer steps, resuming from ``ckpt_path`` when it exists.

    Batches come either from ``batch_fn(step, rng)`` (one batch a step, drawn from ``rng``,
    whose state the checkpoint keeps) or from ``steps_from(start_step)``, an iterator of
    ``data.loading.Step``s, each the weighted micro-batches of one step (gradient accumulation:
    the step minimises the weighted sum of ``loss_fn(model, micro.data)``, one backward per
    micro-batch, so memory is bounded by the micro-batch). With ``seed``, torch's RNG is
    seeded per micro-batch (``micro_seed``). Under torchrun the model is wrapped in
    DistributedDataParallel and only rank 0 evaluates and writes files.

    ``config`` (JSON-able) is stored in every checkpoint; a checkpoint written for another
    config is refused (ConfigMismatchError), a truncated one too (CorruptArtifactError).
    Every ``eval_every`` steps the mean training loss and ``eval_fn(step)`` (run in eval mode
    without gradients, also at step 0) are appended to ``<stem>.history.jsonl``; with ``best_metric``,
    the best weights go to ``<stem>.best.pt``. A NaN/inf loss raises FloatingPointError
    naming the step and leaves the last checkpoint as it was. The model ends with the
    weights of the last step; returns a FitResult.
    """
    from ood_helpers.core import distributed

    if not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps must be an int >= 0, got {steps!r}")
    if (batch_fn is None) == (steps_from is None):
        raise ValueError("pass exactly one of batch_fn (one batch a step) and steps_from (micro-batched steps)")
    if best_mode not in ("max", "min"):
        raise ValueError(f"best_mode must be 'max' or 'min', got {best_mode!r}")
    if best_metric is not None and eval_fn is None:
        raise ValueError(f"best_metric={best_metric!r} needs an eval_fn that returns it")
    eval_every = int(eval_every or steps or 1)
    checkpoint_every = int(checkpoint_every or eval_every)
    if eval_every < 1 or checkpoint_every < 1:
        raise ValueError(f"eval_every and checkpoint_every must be >= 1, got {eval_every}, {checkpoint_every}")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    ckpt_path = Path(ckpt_path)
    best_path, history_path = best_path_for(ckpt_path), history_path_for(ckpt_path)
    use_amp = bool(amp) and str(device).startswith("cuda")
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    ctx = distributed.context()
    if str(device).startswith("cuda"):
        torch.backends.cudnn.benchmark = True  # fixed-size batches: cuDNN times its kernels once, keeps the fastest
    model.to(device)

    # ===== resume =====
    step, history, best = 0, [], {"step": None, "value": None}
    loss_sum, loss_count = 0.0, 0
    loaded = ckpt_path.exists()
    if loaded:
        state = artifacts.load_torch(ckpt_path, expect_config=config)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state.get("scheduler") is not None:
            scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        _set_rng_state(rng, state["rng"])
        step, history, best = int(state["step"]), list(state["history"]), dict(state["best"])
        loss_sum, loss_count = state["loss_window"]
        if step > steps:
            raise ValueError(f"checkpoint {ckpt_path} is at step {step}, beyond the requested {steps} steps")
    resumed_from = step
    if ctx.is_main:  # the log on disk may hold evals made after the checkpoint; they will be redone
        artifacts.atomic_write_text(history_path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in history))
    if loaded and step >= steps:  # finished: nothing to draw, no process group to build
        return FitResult(step, history, best["step"], best["value"], best_path if best["step"] is not None else None,
                         resumed_from, 0.0)

    def save(at_step: int) -> None:
        if ctx.is_main:
            state = {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "scaler": scaler.state_dict() if use_amp else None,
                "rng": _rng_state(rng),
                "step": at_step,
                "history": history,
                "best": best,
                "loss_window": (loss_sum, loss_count),
            }
            artifacts.atomic_save_torch(state, ckpt_path, config=config)
        distributed.barrier()

    def evaluate(at_step: int) -> None:
        nonlocal loss_sum, loss_count, best
        if not ctx.is_main:  # rank 0 evaluates; the others wait at the next barrier
            loss_sum, loss_count = 0.0, 0
            return
        model.eval()
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            metrics = dict(eval_fn(at_step)) if eval_fn is not None else {}
        model.train()
        record = {"step": at_step, "train_loss": loss_sum / loss_count if loss_count else None}
        record.update({k: float(v) for k, v in metrics.items()})
        if optimizer.param_groups:
            record["lr"] = float(optimizer.param_groups[0]["lr"])
        history.append(record)
        _append_line(history_path, record)
        loss_sum, loss_count = 0.0, 0
        if best_metric is not None:
            if best_metric not in record:
                raise KeyError(f"eval_fn returned {sorted(metrics)}, which lacks best_metric {best_metric!r}")
            value = record[best_metric]
            better = best["value"] is None or (value > best["value"] if best_mode == "max" else value < best["value"])
            if better:
                best = {"step": at_step, "value": value}
                artifacts.atomic_save_torch(
                    {"model": model.state_dict(), "step": at_step, best_metric: value}, best_path, config=config
                )

    def legacy_steps(start: int) -> Iterator[Step]:
        for s in range(start, steps):
            yield Step(1, iter([MicroBatch(batch_fn(s, rng), 1.0, 0)]))

    # ===== train =====
    start_time = time.perf_counter()
    loss_module = _LossModule(model, loss_fn)
    if ctx.distributed:
        from torch.nn.parallel import DistributedDataParallel

        dev = torch.device(device)
        loss_module = DistributedDataParallel(loss_module, device_ids=[dev.index] if dev.type == "cuda" else None)
    model.train()
    if step == 0 and eval_fn is not None and not history:
        evaluate(0)
        save(0)
    last_saved = step
    bar = tqdm(total=steps, initial=step, desc=desc, disable=not (progress and ctx.is_main), leave=False)
    step_iter = steps_from(step) if steps_from is not None else legacy_steps(step)
    rng_devices = [torch.device(device).index or 0] if str(device).startswith("cuda") else []
    try:
        with torch.random.fork_rng(devices=rng_devices, enabled=seed is not None), deterministic_on_cpu(device):
            while step < steps:
                this = next(step_iter)
                optimizer.zero_grad(set_to_none=True)
                total = torch.zeros((), device=device)
                for n, micro in enumerate(this.micro):
                    if seed is not None:
                        torch.manual_seed(micro_seed(seed, step, micro.index))
                    sync = n == this.count - 1 or not ctx.distributed
                    with (contextlib.nullcontext() if sync else loss_module.no_sync()), \
                            torch.autocast(device_type="cuda", dtype=torch.float16, enabled=use_amp):
                        loss = loss_module(micro.data) * micro.weight
                    scaler.scale(loss).backward()
                    total += loss.detach().float()
                value = float(distributed.mean_over_ranks(total))
                if not math.isfinite(value):
                    raise FloatingPointError(
                        f"{desc}: loss is {value} at step {step + 1} of {steps}; nothing was saved, the last good "
                        f"checkpoint {ckpt_path} (step {last_saved}) is kept. Lower the learning rate or check the "
                        "batch, then rerun to resume from it."
                    )
                if grad_clip is not None:
                    scaler.unscale_(optimizer)
                    nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
                scaler.step(optimizer)
                scaler.update()
                if scheduler is not None:
                    scheduler.step()
                step += 1
                loss_sum, loss_count = loss_sum + value, loss_count + 1
                bar.update(1)
                bar.set_postfix(loss=f"{value:.4f}", refresh=False)
                if step % eval_every == 0 or step == steps:
                    evaluate(step)
                if step % checkpoint_every == 0 or step == steps:
                    save(step)
                    last_saved = step
    finally:
        bar.close()
    return FitResult(
        step=step,
        history=history,
        best_step=best["step"],
        best_value=best["value"],
        best_path=best_path if best["step"] is not None else None,
        resumed_from=resumed_from,
        seconds=time.perf_counter() - start_time,
    )


def load_best(model: nn.Module, ckpt_path: str | Path, config: dict) -> int:
    """Loads the best-by-metric weights ``fit`` kept for ``ckpt_path`` into ``model``; returns their step."""
    state = artifacts.load_torch(best_path_for(ckpt_path), expect_config=config)
    model.load_state_dict(state["model"])
    return int(state["step"])
