"""Contrastive training of an image encoder: SimCLR (NT-Xent, no labels) or SupCon (labels), cached.

The small, stable API shared by notebooks 08 (paper 001: SupCon vs SimCLR clusters) and 09
(paper 003: SimCLR as SCAN's first stage)::

    spec = ContrastiveSpec(loss="simclr", steps=300, batch_size=128, augment="digits")
    result = train_contrastive(encoder, images_uint8, labels=None, spec=spec, profile="quick", seed=0)
    result.encoder      # the trained backbone (eval mode, CPU): images [N, C, H, W] in [0, 1] -> [N, D]
    result.head         # the MLP projection head: [N, D] -> [N, out_dim] (not normalised)
    result.project(x)   # L2-normalised head output of images x: the space the loss was computed in
    result.seconds      # wall-clock training time (read back from the cache's sidecar when loaded)

- ``two_views`` draws a batch's two views (``contrastive_views``: "digits", or SimCLR's CIFAR recipe), batched
  with per-image parameters, on the training device.
- Losses are pytorch-metric-learning's (cosine similarity, temperature ``spec.temperature``): a batch of B
  images gives 2B views; SimCLR's labels are the image index, so the only positive of a view is the other
  view of the same image; SupCon's are the class labels. SimCLR's NT-Xent is computed by ``SupConLoss`` on
  those instance labels: with one positive per anchor the two losses are the same number (the tests check
  it against ``NTXentLoss`` and a hand formula), and ``NTXentLoss`` builds a [positive pairs x negative
  pairs] matrix, O(B^3): 4.8 s against 0.013 s for SupConLoss on 256 views of 64-d.
- Training goes through ``train.fit`` (checkpoint + resume, NaN guard); each step's images are drawn
  from ``fit``'s generator and its augmentation from a torch seed of (seed, step), so a resumed or
  repeated CPU run is bit-identical. The checkpoint is keyed by the spec, the data, the encoder's
  architecture and initial weights, ``key_extra`` and ``artifacts.code_fingerprint`` of this module
  and ``train``: a rerun loads, any change retrains.
- Under torchrun (a ``Profile`` with ``world_size`` W > 1): every rank draws the step's whole batch and its
  view parameters (the same as one process), computes and encodes the views of its contiguous share, and the loss is computed over the projections of
  all ranks (``distributed.gather_rows``), so the step is the one-process step with BatchNorm over each share.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ood_helpers.core import artifacts, distributed
from ood_helpers.core.contrastive_views import two_view_transform, two_views
from ood_helpers.core.data.loading import MicroBatch, Step, rank_micro_ids
from ood_helpers.core.launch import train_elsewhere_unless_finished
from ood_helpers.core.train import fit, micro_seed
from ood_helpers.core.embed import weights_fingerprint
from ood_helpers.core.profile import resolve_device

LOSSES = ("simclr", "supcon")
AUGMENTS = ("digits", "cifar")
OPTIMIZERS = ("adam", "sgd")
AUGMENT_SEED_INDEX = 1 << 20  # micro_seed index of a step's augmentation: distinct from fit's micro-batch seeds


@dataclass(frozen=True)
class ContrastiveSpec:
    """Everything of a contrastive run besides the encoder and the data."""

    loss: str = "simclr"  # simclr (NT-Xent, no labels) | supcon (supervised contrastive)
    steps: int = 300
    batch_size: int = 128  # images a step (2x as many views)
    lr: float = 1e-3
    optimizer: str = "adam"  # adam | sgd (momentum 0.9, weight decay 1e-4); both with a cosine schedule
    temperature: float = 0.1  # SupCon paper / SCAN's SimCLR config (the SupCon repository's default is 0.07)
    head_hidden: int = 128
    head_out: int = 64
    augment: str = "digits"  # digits | cifar

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.augment not in AUGMENTS:
            raise ValueError(f"augment must be one of {AUGMENTS}, got {self.augment!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        for name in ("steps", "batch_size", "head_hidden", "head_out"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < (0 if name == "steps" else 1):
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if self.batch_size < 2:
            raise ValueError(f"batch_size must be >= 2 (a contrastive batch needs negatives), got {self.batch_size}")
        if not (self.lr > 0 and self.temperature > 0):
            raise ValueError(f"lr and temperature must be > 0, got lr={self.lr!r}, temperature={self.temperature!r}")


class ProjectionHead(nn.Module):
    """SimCLR's MLP head: Linear(D, hidden) -> ReLU -> Linear(hidden, out); the loss normalises its output."""

    def __init__(self, in_dim: int, hidden: int = 128, out: int = 64):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, out))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features)


class ContrastiveModel(nn.Module):
    """Encoder + projection head; ``forward`` gives the head's output."""

    def __init__(self, encoder: nn.Module, head: nn.Module):
        super().__init__()
        self.encoder, self.head = encoder, head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x).flatten(1))


def contrastive_loss(name: str, temperature: float):
    """pytorch-metric-learning's ``SupConLoss``: NT-Xent under SimCLR's instance labels (``view_labels(None, B)``;
    equal to ``NTXentLoss``, see the module docstring), supervised contrastive under class labels."""
    from pytorch_metric_learning.losses import SupConLoss

    if name in LOSSES:
        return SupConLoss(temperature=temperature)
    raise ValueError(f"loss must be one of {LOSSES}, got {name!r}")


def view_labels(batch_labels: torch.Tensor | None, batch_size: int) -> torch.Tensor:
    """The labels of the 2B views: the image index for SimCLR (``batch_labels`` None), the class for SupCon."""
    base = torch.arange(batch_size) if batch_labels is None else torch.as_tensor(batch_labels).long()
    return torch.cat([base, base])


@dataclass
class ContrastiveResult:
    encoder: nn.Module
    head: nn.Module
    key: str
    seconds: float
    history: list

    def project(self, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
        """L2-normalised head outputs [N, out] of float images [N, C, H, W] in [0, 1]."""
        model = ContrastiveModel(self.encoder, self.head).eval()
        with torch.no_grad():
            out = torch.cat([model(images[s:s + batch_size].float()) for s in range(0, len(images), batch_size)])
        return nn.functional.normalize(out, dim=1)


def _encoder_dim(encoder: nn.Module, sample: torch.Tensor) -> int:
    dim = getattr(encoder, "out_dim", None)
    if dim is None:
        with torch.no_grad():
            dim = int(encoder.eval()(sample[:1].float() / 255.0).flatten(1).shape[1])
        encoder.train()
    return int(dim)


def contrastive_config(spec: ContrastiveSpec, encoder: nn.Module, images: torch.Tensor, labels, *, seed: int,
                       key_extra: Any = None) -> dict:
    """The config a run's checkpoint is keyed by (the encoder as its architecture text and initial weights)."""
    digest = artifacts.config_hash(artifacts.tensor_digest(images), None if labels is None else artifacts.tensor_digest(labels))
    return {
        "kind": "contrastive-encoder",
        "code": artifacts.code_fingerprint(__name__),
        "spec": asdict(spec),
        "data": digest,
        "image_shape": list(images.shape[1:]),
        "encoder": {"architecture": repr(encoder), "init_weights": weights_fingerprint(encoder)},
        "seed": int(seed),
        "extra": key_extra,
    }


def train_contrastive(encoder: nn.Module, images: torch.Tensor, labels=None, *, spec: ContrastiveSpec,
                      profile: Any, seed: int, device: str = "cpu", key_extra: Any = None,
                      progress: bool = True, micro_batches: int | None = None) -> ContrastiveResult:
    """Trains ``encoder`` (images [n, C, H, W] in [0, 1] -> [n, D], freshly built and seeded by the caller)
    with a new projection head on uint8 ``images`` [N, C, H, W]; ``labels`` [N] are required for SupCon
    and refused for SimCLR. Loads the finished run from ``artifacts/<profile>/contrastive/<key>.pt`` when
    one exists for the same config; returns a ContrastiveResult (modules in eval mode, on the CPU).
    A step's images are encoded in ``micro_batches`` contiguous parts (default: the profile's ``world_size``),
    the loss computed once over all their views; with ``world_size`` > 1 outside torchrun an unfinished run
    is trained by ``world_size`` processes (``train_one``) and loaded here."""
    labels = _checked_inputs(spec, images, labels)
    n = len(images)
    batch = min(spec.batch_size, n)
    parts = distributed.micro_parts(profile, micro_batches, batch)
    if spec.augment == "cifar":  # refuses grey images before any training
        two_view_transform(spec.augment, tuple(images.shape[-2:]), int(images.shape[1]))
    config = distributed.with_shards(contrastive_config(spec, encoder, images, labels, seed=seed, key_extra=key_extra),
                                     profile, parts)
    key = artifacts.config_hash(config)
    ckpt = artifacts.cache_path(profile, "contrastive", key, ".pt")
    meta_path = ckpt.with_suffix(".meta.json")
    train_elsewhere_unless_finished(
        profile, TRAIN_JOB, runs=[(ckpt, config, spec.steps)], payload_path=ckpt.with_suffix(".data.pt"),
        payload={"encoder": encoder, "images": images, "labels": labels, "spec": asdict(spec), "seed": int(seed),
                 "key_extra": key_extra}, kwargs={"device": str(device), "micro_batches": parts})
    torch.manual_seed(int(seed))  # the head's initial weights
    head = ProjectionHead(_encoder_dim(encoder, images), spec.head_hidden, spec.head_out)
    model = ContrastiveModel(encoder, head)
    optimizer, scheduler = _optimizer(model, spec)
    criterion = contrastive_loss(spec.loss, spec.temperature)
    steps_from, sizes = _step_source(images, labels, spec, seed, batch, parts, device)

    def loss_fn(net: nn.Module, data) -> torch.Tensor:
        mine, targets = data  # one forward a part: BatchNorm over each part, as on the ranks
        z = distributed.gather_rows(torch.cat([net(v.to(device)) for v in mine]), sizes)
        return criterion(z, targets.to(device))

    result = fit(model, optimizer, loss_fn=loss_fn, steps_from=steps_from, steps=spec.steps, ckpt_path=ckpt,
                 config=config, seed=seed, rng=int(seed), device=device, scheduler=scheduler,
                 checkpoint_every=max(spec.steps // 4, 1), eval_every=max(spec.steps // 10, 1),
                 desc=f"{spec.loss} {n} images", progress=progress)
    seconds = _training_seconds(meta_path, result, spec.steps)
    model.to("cpu").eval()
    return ContrastiveResult(encoder=model.encoder, head=model.head, key=key, seconds=seconds, history=result.history)


def _checked_inputs(spec: ContrastiveSpec, images: torch.Tensor, labels):
    """Refuses a wrong spec, images or labels; returns the labels as a long tensor [N] (SupCon) or None."""
    if not isinstance(spec, ContrastiveSpec):
        raise TypeError(f"spec must be a ContrastiveSpec, got {type(spec).__name__}")
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.ndim != 4:
        raise ValueError(f"images must be a uint8 tensor [N, C, H, W], got {getattr(images, 'dtype', type(images))} "
                         f"of shape {tuple(getattr(images, 'shape', ()))}")
    n = len(images)
    if spec.loss == "supcon":
        if labels is None:
            raise ValueError("SupCon needs labels: one class id per image")
        labels = torch.as_tensor(np.asarray(labels)).long().reshape(-1)
        if len(labels) != n:
            raise ValueError(f"{n} images but {len(labels)} labels")
    elif labels is not None:
        raise ValueError("SimCLR is self-supervised: pass labels=None (the two views of an image are its only positive)")
    if n < 2:
        raise ValueError(f"contrastive training needs at least 2 images, got {n}")
    return labels


def _optimizer(model: nn.Module, spec: ContrastiveSpec):
    """(Adam, or SGD with momentum 0.9 and weight decay 1e-4, at ``spec.lr``; its cosine schedule over the steps)."""
    if spec.optimizer == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), lr=spec.lr, momentum=0.9, weight_decay=1e-4)
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=spec.lr)
    total = max(spec.steps, 1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
    return optimizer, scheduler


def _step_source(images: torch.Tensor, labels, spec: ContrastiveSpec, seed: int, batch: int, parts: int,
                 device: str = "cpu"):
    """(``fit``'s steps_from, the number of views each rank encodes). Step s draws its images as the s-th draw of
    default_rng(seed) and its views from (seed, s); every rank draws the whole batch's images and view parameters
    but computes, on ``device``, only the views of its parts, and the targets of all ranks' views come in the
    order ``distributed.gather_rows`` returns them."""
    n = len(images)
    ctx = distributed.context()
    cuts = np.array_split(np.arange(batch), parts)
    ids = [list(rank_micro_ids(parts, r, ctx.world_size)) for r in range(ctx.world_size)]
    sizes = [2 * sum(len(cuts[j]) for j in mine) for mine in ids]  # views each rank encodes
    # this rank's views: both views of each image of each of its parts, part after part
    rows = torch.from_numpy(np.concatenate([np.concatenate([cuts[j], batch + cuts[j]]) for j in ids[ctx.rank]]))

    def step_at(step: int, rng: np.random.Generator) -> Step:
        idx = torch.from_numpy(rng.choice(n, size=batch, replace=False))
        # augmentation from (seed, step): resumption draws the same views, whatever the number of ranks
        views = two_views(images[idx], spec.augment, micro_seed(seed, step, AUGMENT_SEED_INDEX), rows=rows,
                          device=device)
        part_labels = [view_labels(torch.as_tensor(cut) if labels is None else labels[idx[cut]], len(cut))
                       for cut in cuts]
        mine = list(torch.split(views, [2 * len(cuts[j]) for j in ids[ctx.rank]]))
        targets = torch.cat([part_labels[j] for rank in ids for j in rank])  # in the order gather_rows returns
        return Step(1, iter([MicroBatch((mine, targets), 1.0, ctx.rank)]))

    def steps_from(start: int):
        rng = np.random.default_rng(int(seed))
        for _ in range(start):  # replay: step s draws its images as the s-th draw, whatever the start
            rng.choice(n, size=batch, replace=False)
        return (step_at(s, rng) for s in range(start, spec.steps))

    return steps_from, sizes


def _training_seconds(meta_path, result, steps: int) -> float:
    """The run's wall time: recorded beside the checkpoint by rank 0 when it trained (added to the time before a
    resumption), read back when it loaded."""
    trained_now = result.resumed_from < steps or not meta_path.exists()
    if trained_now and distributed.context().is_main:  # record the wall time
        before = json.loads(meta_path.read_text())["seconds"] if result.resumed_from and meta_path.exists() else 0.0
        artifacts.atomic_write_text(meta_path, json.dumps({"seconds": before + result.seconds, "steps": steps}))
    distributed.barrier()
    return float(json.loads(meta_path.read_text())["seconds"])


TRAIN_JOB = "ood_helpers.core.contrastive:train_one"


def train_one(profile, payload_file: str, device: str = "cpu", micro_batches: int | None = None) -> None:
    """One torchrun rank of ``train_contrastive`` (the ``ood_helpers.core.distributed`` call job it launches)."""
    p = artifacts.load_torch(payload_file)
    train_contrastive(p["encoder"], p["images"], p["labels"], spec=ContrastiveSpec(**p["spec"]), profile=profile,
                      seed=p["seed"], device=resolve_device(profile) if device.startswith("cuda") else device,
                      key_extra=p["key_extra"], progress=distributed.context().is_main, micro_batches=micro_batches)
