"""The one training loop of the project, and the cached ResNet-18 classifier built on it.

``fit`` is generic over a batch function and a loss function, so the classifiers, the
class-homogeneity model and the later methods (autoencoder, CAC, ...) share it: Adam or
any optimizer, mixed precision on CUDA, checkpoint + resume (model, optimizer, scheduler,
step, NumPy and torch RNG states, so a resumed CPU run ends bit-identical to an
uninterrupted one), a NaN/inf guard that keeps the last good checkpoint, tqdm progress,
periodic evaluation logged as JSON lines, and a "best" checkpoint by one metric.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from . import artifacts
from .profiles import Profile, resolve_device


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


def fit(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    *,
    batch_fn: Callable[[int, np.random.Generator], Any],
    loss_fn: Callable[[nn.Module, Any], torch.Tensor],
    steps: int,
    ckpt_path: str | Path,
    config: dict,
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

    Each step draws ``batch = batch_fn(step, rng)`` and minimises ``loss_fn(model, batch)``.
    ``config`` (JSON-able) is stored in every checkpoint; a checkpoint written for another
    config is refused (ConfigMismatchError), a truncated one too (CorruptArtifactError).
    Every ``eval_every`` steps the mean training loss and ``eval_fn(step)`` (run in eval mode
    without gradients, also at step 0) are appended to ``<stem>.history.jsonl``; with ``best_metric``,
    the best weights go to ``<stem>.best.pt``. A NaN/inf loss raises FloatingPointError
    naming the step and leaves the last checkpoint as it was. The model ends with the
    weights of the last step; returns a FitResult.
    """
    if not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps must be an int >= 0, got {steps!r}")
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
    model.to(device)

    # ===== resume =====
    step, history, best = 0, [], {"step": None, "value": None}
    loss_sum, loss_count = 0.0, 0
    if ckpt_path.exists():
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
    # the log on disk may hold evals made after the checkpoint; they will be redone
    artifacts.atomic_write_text(history_path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in history))

    def save(at_step: int) -> None:
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

    def evaluate(at_step: int) -> None:
        nonlocal loss_sum, loss_count, best
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

    # ===== train =====
    start_time = time.perf_counter()
    model.train()
    if step == 0 and eval_fn is not None and not history:
        evaluate(0)
        save(0)
    last_saved = step
    bar = tqdm(total=steps, initial=step, desc=desc, disable=not progress, leave=False)
    try:
        while step < steps:
            batch = batch_fn(step, rng)
            with torch.autocast(device_type="cuda", dtype=torch.float16, enabled=use_amp):
                loss = loss_fn(model, batch)
            value = float(loss.detach())
            if not math.isfinite(value):
                raise FloatingPointError(
                    f"{desc}: loss is {value} at step {step + 1} of {steps}; nothing was saved, the last good "
                    f"checkpoint {ckpt_path} (step {last_saved}) is kept. Lower the learning rate or check the "
                    "batch, then rerun to resume from it."
                )
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
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


# ===== the ResNet-18 classifier =====


def _image_batch(imageset, idx: np.ndarray) -> torch.Tensor:
    """float [n, C, H, W] in [0, 1] of the images at positions ``idx``."""
    images = getattr(imageset, "images", None)
    if isinstance(images, torch.Tensor):
        return images[torch.from_numpy(np.asarray(idx, dtype=np.int64))].float().div_(255.0)
    return torch.stack([imageset[int(i)][0] for i in idx])


def _flip_and_shift(x: torch.Tensor, rng: np.random.Generator, pad: int = 4) -> torch.Tensor:
    """Per-image random horizontal flip and translation by up to ``pad`` px (CIFAR-style augmentation).

    Written by hand because torchvision's batch transforms draw one crop for the whole batch.
    """
    n, _, h, w = x.shape
    flip = torch.from_numpy(rng.random(n) < 0.5).to(x.device)
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    dy, dx = rng.integers(0, 2 * pad + 1, size=(2, n))
    return torch.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(n)])


def classifier_config(profile: Profile, imageset, *, seed: int, key_extra: Any = None) -> dict:
    """Everything that determines a trained classifier: the config its checkpoint is keyed by."""
    return {
        "kind": "resnet18-classifier",
        "data": imageset.fingerprint(),
        "num_classes": len(imageset.classes),
        "image_shape": list(imageset[0][0].shape),
        "resnet_width": profile.resnet_width,
        "small_stem": profile.small_stem,
        "batch_size": profile.batch_size,
        "steps": profile.pretrain_steps,
        "lr": profile.lr_pretrain,
        "augment": _augments(profile, imageset),
        "seed": int(seed),
        "extra": key_extra,
    }


def _augments(profile: Profile, imageset) -> bool:
    # flips would change digits' meaning; natural RGB images get flip + shift
    return bool(profile.extra.get("augment", imageset[0][0].shape[0] == 3))


def train_classifier(profile: Profile, imageset, *, seed: int, key_extra: Any = None, progress: bool = True) -> nn.Module:
    """A ResNet-18 trained to classify ``imageset`` (labels 0..C-1), in eval mode, on the CPU.

    Loaded from ``artifacts/<profile>/classifier/<hash>.pt`` when a finished run with the same
    config exists (data fingerprint, widths, steps, lr, seed, ``key_extra``), else trained with
    ``fit`` (resuming an interrupted run). The optimizer follows the profile's learning rate:
    SGD with momentum for lr >= 0.01 (the ImageNet recipe), Adam below; cosine decay over
    ``profile.pretrain_steps``. The returned module carries ``cache_key`` (its config hash).
    """
    from .models import build_resnet18

    if len(imageset) == 0:
        raise ValueError(f"cannot train a classifier on the empty dataset {getattr(imageset, 'name', '?')!r}")
    config = classifier_config(profile, imageset, seed=seed, key_extra=key_extra)
    key = artifacts.config_hash(config)
    ckpt = artifacts.cache_path(profile.name, "classifier", key, ".pt")
    torch.manual_seed(int(seed))
    channels = config["image_shape"][0]
    model = build_resnet18(config["num_classes"], channels, profile.resnet_width, profile.small_stem)
    if profile.lr_pretrain >= 0.01:
        optimizer = torch.optim.SGD(model.parameters(), lr=profile.lr_pretrain, momentum=0.9, weight_decay=1e-4)
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=profile.lr_pretrain)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, profile.pretrain_steps) / max(profile.pretrain_steps, 1)))
    )
    device = resolve_device(profile)
    targets = imageset.targets.numpy() if hasattr(imageset, "targets") else np.array([imageset[i][1] for i in range(len(imageset))])
    augment = config["augment"]
    batch = min(profile.batch_size, len(imageset))

    def batch_fn(step: int, rng: np.random.Generator):
        idx = rng.choice(len(imageset), size=batch, replace=False)
        x = _image_batch(imageset, idx)
        if augment:
            x = _flip_and_shift(x, rng)
        return x.to(device, non_blocking=True), torch.from_numpy(targets[idx]).to(device)

    def loss_fn(net: nn.Module, data) -> torch.Tensor:
        x, y = data
        return F.cross_entropy(net(x), y)

    fit(
        model, optimizer, batch_fn=batch_fn, loss_fn=loss_fn, steps=profile.pretrain_steps, ckpt_path=ckpt,
        config=config, rng=np.random.default_rng(seed), device=device, amp=profile.amp, scheduler=scheduler,
        checkpoint_every=max(profile.pretrain_steps // 4, 1), eval_every=max(profile.pretrain_steps // 10, 1), desc=f"classifier {len(imageset.classes)} classes",
        progress=progress,
    )
    model.to("cpu").eval()
    model.cache_key = key
    return model
