"""The one training loop of the project (the ResNet-18 classifiers built on it: ``classifier``).

``fit`` is generic over a batch function and a loss function, so the classifiers, the
class-homogeneity model and the later methods (autoencoder, CAC, ...) share it: Adam or
any optimizer, mixed precision on CUDA, checkpoint + resume (model, optimizer, scheduler,
step, NumPy and torch RNG states, so a resumed CPU run ends bit-identical to an
uninterrupted one), a NaN/inf guard that keeps the last good checkpoint, tqdm progress,
periodic evaluation logged as JSON lines, and a "best" checkpoint by one metric.

Reading order: ``fit`` checks its arguments (``_check_arguments``), loads the checkpoint
(``train_state.resume``), then ``_run_steps`` repeats ``_train_step`` (``_accumulate`` the micro-batches' gradients,
``_optimizer_step``), ``train_state.evaluate`` and ``train_state.save_checkpoint``; ``train_state.FitState``
is what they share.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ood_helpers.core import distributed
from ood_helpers.core.data.loading import MicroBatch, Step
from ood_helpers.core.seeding import deterministic_on_cpu
from ood_helpers.core.train_state import (FitState, best_path_for, evaluate, finished, history_path_for,
                                          load_best, read_history, resume, save_checkpoint)

__all__ = ["FitResult", "best_path_for", "finished", "fit", "history_path_for", "load_best", "micro_seed",
           "read_history"]


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
    amp: bool = True,
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
    weights of the last step; returns a FitResult. On CUDA, ``amp`` runs forward passes under bfloat16
    autocast (fp32's range: no loss scaling) and convolution weights are kept channels_last; on the CPU
    nothing changes (float32, bit-identical reruns).
    """
    eval_every, checkpoint_every = _check_arguments(steps, batch_fn, steps_from, best_mode, best_metric, eval_fn,
                                                    eval_every, checkpoint_every)
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    use_amp = bool(amp) and str(device).startswith("cuda")
    # bf16 has fp32's exponent range, so the scaler stays disabled; it remains for checkpoints of earlier fp16 runs
    run = FitState(model, optimizer, scheduler, torch.amp.GradScaler("cuda", enabled=False), use_amp, rng,
                   config, Path(ckpt_path), distributed.context(), eval_fn, best_metric, best_mode)
    if str(device).startswith("cuda"):
        torch.backends.cudnn.benchmark = True  # fixed-size batches: cuDNN times its kernels once, keeps the fastest
        model.to(memory_format=torch.channels_last)  # tensor-core convolutions; 4-D weights only, others unchanged
    model.to(device)

    loaded = resume(run, steps)
    resumed_from = run.step
    if loaded and run.step >= steps:  # finished: nothing to draw, no process group to build
        return _result(run, resumed_from, 0.0)

    start_time = time.perf_counter()
    loss_module = _loss_module(model, loss_fn, run.ctx, device)
    model.train()
    if run.step == 0 and eval_fn is not None and not run.history:
        evaluate(run, 0)
        save_checkpoint(run, 0)
    run.last_saved = run.step
    bar = tqdm(total=steps, initial=run.step, desc=desc, disable=not (progress and run.ctx.is_main), leave=False)
    step_iter = steps_from(run.step) if steps_from is not None else _one_batch_steps(batch_fn, rng, run.step, steps)
    try:
        _run_steps(run, step_iter, loss_module, bar, steps=steps, eval_every=eval_every,
                   checkpoint_every=checkpoint_every, seed=seed, device=device, grad_clip=grad_clip, desc=desc)
    finally:
        bar.close()
    return _result(run, resumed_from, time.perf_counter() - start_time)


def _check_arguments(steps, batch_fn, steps_from, best_mode, best_metric, eval_fn, eval_every,
                     checkpoint_every) -> tuple[int, int]:
    """Refuses inconsistent ``fit`` arguments; returns (eval_every, checkpoint_every) with their defaults
    filled in (every ``steps``, and every eval)."""
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
    return eval_every, checkpoint_every


def _loss_module(model: nn.Module, loss_fn, ctx, device: str) -> nn.Module:
    """``loss_fn`` on ``model`` as a module, wrapped in DistributedDataParallel under torchrun."""
    loss_module = _LossModule(model, loss_fn)
    if ctx.distributed:
        from torch.nn.parallel import DistributedDataParallel

        dev = torch.device(device)
        loss_module = DistributedDataParallel(loss_module, device_ids=[dev.index] if dev.type == "cuda" else None)
    return loss_module


def _one_batch_steps(batch_fn, rng: np.random.Generator, start: int, steps: int) -> Iterator[Step]:
    """``batch_fn``'s batches as Steps of one micro-batch each, drawn when the step is taken."""
    for s in range(start, steps):
        yield Step(1, iter([MicroBatch(batch_fn(s, rng), 1.0, 0)]))


def _run_steps(run: FitState, step_iter: Iterator[Step], loss_module: nn.Module, bar, *, steps: int,
               eval_every: int, checkpoint_every: int, seed: int | None, device: str, grad_clip: float | None,
               desc: str) -> None:
    """The steps from ``run.step`` to ``steps``, evaluating every ``eval_every`` and saving every
    ``checkpoint_every`` (and both at the end); with ``seed``, torch's global RNG is left as it was."""
    rng_devices = [torch.device(device).index or 0] if str(device).startswith("cuda") else []
    with torch.random.fork_rng(devices=rng_devices, enabled=seed is not None), deterministic_on_cpu(device):
        while run.step < steps:
            value = _train_step(run, next(step_iter), loss_module, seed=seed, device=device,
                                grad_clip=grad_clip, desc=desc, steps=steps)
            bar.update(1)
            bar.set_postfix(loss=f"{value:.4f}", refresh=False)
            if run.step % eval_every == 0 or run.step == steps:
                evaluate(run, run.step)
            if run.step % checkpoint_every == 0 or run.step == steps:
                save_checkpoint(run, run.step)
                run.last_saved = run.step


def _train_step(run: FitState, this: Step, loss_module: nn.Module, *, seed: int | None, device: str,
                grad_clip: float | None, desc: str, steps: int) -> float:
    """One optimizer step over the micro-batches of ``this``; returns its loss (mean over ranks). A NaN/inf
    loss raises FloatingPointError before the optimizer moves."""
    run.optimizer.zero_grad(set_to_none=True)
    total = _accumulate(run, this, loss_module, seed=seed, device=device)
    value = float(distributed.mean_over_ranks(total))
    if not math.isfinite(value):
        raise FloatingPointError(
            f"{desc}: loss is {value} at step {run.step + 1} of {steps}; nothing was saved, the last good "
            f"checkpoint {run.ckpt_path} (step {run.last_saved}) is kept. Lower the learning rate or check the "
            "batch, then rerun to resume from it."
        )
    _optimizer_step(run, grad_clip)
    run.step += 1
    run.loss_sum, run.loss_count = run.loss_sum + value, run.loss_count + 1
    return value


def _accumulate(run: FitState, this: Step, loss_module: nn.Module, *, seed: int | None, device: str) -> torch.Tensor:
    """Forward and backward of each weighted micro-batch (DDP syncs gradients on the last one only);
    returns the step's summed loss."""
    total = torch.zeros((), device=device)
    for n, micro in enumerate(this.micro):
        if seed is not None:
            torch.manual_seed(micro_seed(seed, run.step, micro.index))
        sync = n == this.count - 1 or not run.ctx.distributed
        with (contextlib.nullcontext() if sync else loss_module.no_sync()), \
                torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=run.use_amp):
            loss = loss_module(micro.data) * micro.weight
        run.scaler.scale(loss).backward()
        total += loss.detach().float()
    return total


def _optimizer_step(run: FitState, grad_clip: float | None) -> None:
    """Clips (unscaled) gradients when asked, steps the optimizer, the AMP scaler and the scheduler."""
    if grad_clip is not None:
        run.scaler.unscale_(run.optimizer)
        nn.utils.clip_grad_norm_(run.model.parameters(), grad_clip)
    run.scaler.step(run.optimizer)
    run.scaler.update()
    if run.scheduler is not None:
        run.scheduler.step()


def _result(run: FitState, resumed_from: int, seconds: float) -> FitResult:
    return FitResult(
        step=run.step,
        history=run.history,
        best_step=run.best["step"],
        best_value=run.best["value"],
        best_path=run.best_path if run.best["step"] is not None else None,
        resumed_from=resumed_from,
        seconds=seconds,
    )
