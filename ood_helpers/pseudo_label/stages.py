"""The trained stages of paper 003's pipeline, each through ``train.fit`` and cached by its whole config
(settings, data digest, initial weights, seed) plus a fingerprint of the code that trains it:

- ``train_source``: the "pretrained" stand-in, a small CNN trained *with labels* on the source set (spec A9.1 #1).
- ``simclr``: SCAN's first stage, ``ood_helpers.core.contrastive`` (pytorch-metric-learning's NT-Xent), shared with
  notebook 08.
- ``scan_step``: SCAN's clustering step (``pseudo_label.losses.scan_loss``), backbone + K-way head, all weights trained.
  The model kept is the *last* epoch: SCAN's code picks the epoch of lowest SCAN loss on the normal *test*
  images, which would let test images choose the model (spec A8.10); we do not copy that.
- ``self_label``: SCAN's self-labelling (``pseudo_label.losses.selflabel_loss``), threshold 0.99, class balancing.

With a profile's ``world_size`` W > 1 every stage trains on W processes under torchrun (``jobs.run_stage``): every
rank draws and augments the one-process batch and takes its contiguous share. Cross-entropy weights a share
by its size (``sharded_steps``); SCAN's loss (entropy of the batch-mean prediction) and self-labelling
(class balancing over the batch's confident samples) are not sums over images, so there the ranks' logits
are gathered and every rank computes the loss over the whole batch (``gathered_steps``).
"""

from __future__ import annotations

import copy
import json

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ood_helpers.core import artifacts, distributed
from ood_helpers.core.distributed import gathered_steps, micro_parts, sharded_steps, with_shards
from ood_helpers.core.embed import weights_fingerprint
from ood_helpers.core.networks.small_cnn import SmallCNN
from ood_helpers.core.launch import train_elsewhere_unless_finished
from ood_helpers.core.train import fit
from ood_helpers.pseudo_label.augment import augment
from ood_helpers.pseudo_label.losses import scan_loss, selflabel_loss
from ood_helpers.pseudo_label.networks import Classifier, imagenet_encoder
from ood_helpers.core.profile import resolve_device
from ood_helpers.core.contrastive import ContrastiveSpec, train_contrastive

SELFLABEL_WEIGHT_DECAY = 1e-4  # SCAN's self-label config [ext]


def steps_for(n: int, batch: int, epochs: int) -> tuple[int, int]:
    """(steps per epoch, total steps): full batches of ``min(batch, n)`` images, at least one a epoch."""
    per_epoch = max(1, n // min(batch, n))
    return per_epoch, per_epoch * int(epochs)


def stage_checkpoint(kind: str, config: dict, profile, seed: int) -> tuple[dict, object]:
    """(the full config, the checkpoint path) of a stage run."""
    config = {**config, "kind": kind, "code": artifacts.code_fingerprint(__name__), "seed": int(seed)}
    return config, artifacts.cache_path(profile, f"pseudo-label-{kind}", artifacts.config_hash(config))


STAGE_JOB = "ood_helpers.pseudo_label.jobs:run_stage"


def launch_unless_finished(profile, ckpt, config: dict, steps: int, stage: str, args: tuple, kwargs: dict) -> None:
    """With ``world_size`` > 1 outside torchrun and the run unfinished: the stage on every rank
    (``jobs.run_stage``), its arguments saved beside the checkpoint."""
    train_elsewhere_unless_finished(profile, STAGE_JOB, runs=[(ckpt, config, steps)],
                                    payload={"stage": stage, "args": args, "kwargs": kwargs},
                                    payload_path=ckpt.with_suffix(".data.pt"))


def _run(model: nn.Module, *, kind: str, config: dict, profile, loss_fn, batch_fn, steps: int, lr: float,
         seed: int, weight_decay: float = 0.0, progress: bool = False, steps_from=None, rng=None) -> dict:
    """Adam, constant lr, through ``fit``; returns the run's meta (wall seconds, extra counters)."""
    config, ckpt = stage_checkpoint(kind, config, profile, seed)
    meta_path = ckpt.with_suffix(".meta.json")
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    result = fit(model, optimizer, loss_fn=loss_fn, batch_fn=batch_fn, steps=steps, ckpt_path=ckpt, config=config,
                 seed=seed, rng=int(seed) if rng is None else rng, desc=kind, progress=progress,
                 eval_every=max(steps, 1), device=device_of(profile), steps_from=steps_from)
    if (result.resumed_from < steps or not meta_path.exists()) and distributed.context().is_main:
        counters = getattr(loss_fn, "counters", {})
        artifacts.atomic_write_text(meta_path, json.dumps({"seconds": result.seconds, "steps": steps, **counters}))
    distributed.barrier()
    model.to("cpu").eval()  # every later stage copies it; encode() moves it to the device again
    return json.loads(meta_path.read_text())


def device_of(profile) -> str:
    """The profile's torch device ("cpu" for a bare profile name, as in the tests)."""
    if isinstance(profile, str):
        return "cpu"

    return resolve_device(profile)


def fresh_backbone(s, channels: int, seed: int) -> nn.Module:
    """A seeded, randomly initialised small CNN (the architecture of every offline stage)."""
    torch.manual_seed(int(seed))
    return SmallCNN(channels, s.width)


def train_source(s, images: torch.Tensor, labels, *, profile, seed: int, progress: bool = False,
                 micro_batches: int | None = None) -> Classifier:
    """The "pretrained" network: ``s.pretrained`` = "source" trains a small CNN with the source's labels (CE,
    Adam ``source_lr``, weak augmentation); "imagenet-*" loads torchvision's ImageNet ResNet (no training).
    A step's batch is cut into ``micro_batches`` parts (default: the profile's ``world_size``)."""
    if s.pretrained != "source":
        enc = imagenet_encoder(s.pretrained)
        return Classifier(enc, 1000).eval()
    classes, y = np.unique(np.asarray(labels), return_inverse=True)
    y = torch.as_tensor(y)
    model = Classifier(fresh_backbone(s, images.shape[1], seed), len(classes))
    n, flip = len(images), s.data != "digits"
    _, steps = steps_for(n, s.source_batch, s.source_epochs)
    batch = min(s.source_batch, n)
    parts = micro_parts(profile, micro_batches, batch)

    def draw(step, rng):
        idx = rng.choice(n, size=batch, replace=False)
        return augment(images[idx], rng, flip=flip), y[idx]

    def loss_fn(net, data):
        dev = next(net.parameters()).device
        return F.cross_entropy(net(data[0].to(dev)), data[1].to(dev))

    config = {"data": artifacts.tensor_digest(images, y), "width": s.width, "epochs": s.source_epochs, "batch": s.source_batch,
              "lr": s.source_lr, "init": weights_fingerprint(model)}
    config = with_shards(config, profile, parts)
    full, ckpt = stage_checkpoint("source", config, profile, seed)
    launch_unless_finished(profile, ckpt, full, steps, "train_source", (s, images, labels),
                           {"seed": seed, "micro_batches": parts})
    rng = np.random.default_rng(int(seed))  # fit restores it on resumption; the steps draw from it
    _run(model, kind="source", config=config, profile=profile, loss_fn=loss_fn, batch_fn=None, steps=steps,
         lr=s.source_lr, seed=seed, progress=progress, steps_from=sharded_steps(draw, rng, steps, parts), rng=rng)
    return model


def simclr(s, images: torch.Tensor, encoder: nn.Module, *, profile, seed: int, progress: bool = False):
    """SCAN's SimCLR stage on the unlabelled normal images (float [0, 1]) through ``contrastive.train_contrastive``
    (``contrastive.two_views``: batched for digits, per-image torchvision v2 for cifar; NT-Xent, temperature ``simclr_temperature``, Adam + cosine); on ``world_size``
    processes under torchrun when the profile asks for more than one."""
    _, steps = steps_for(len(images), s.simclr_batch, s.simclr_epochs)
    spec = ContrastiveSpec(loss="simclr", steps=steps, batch_size=min(s.simclr_batch, len(images)), lr=s.simclr_lr,
                           temperature=s.simclr_temperature, augment="digits" if s.data == "digits" else "cifar")
    uint8 = (images * 255.0).round().clamp(0, 255).to(torch.uint8)
    result = train_contrastive(encoder, uint8, spec=spec, profile=profile, seed=seed,
                               device=device_of(profile), progress=progress, key_extra="pseudo_label")
    return result


class _Counted:
    """A loss function that also counts (self-labelling: batches with no confident sample, confident samples)."""

    def __init__(self, fn):
        self.fn, self.counters = fn, {"empty_batches": 0, "confident": 0, "batches": 0}

    def __call__(self, net, data):
        return self.fn(self, net, data)


class MultiHead(nn.Module):
    """One backbone, one linear head per cluster count (SCAN's code trains several heads on one backbone)."""

    def __init__(self, encoder: nn.Module, clusters: tuple[int, ...]):
        super().__init__()
        self.encoder = encoder
        self.heads = nn.ModuleList(nn.Linear(encoder.out_dim, int(k)) for k in clusters)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        f = self.encoder(x)
        return [h(f) for h in self.heads]

    def classifier(self, i: int) -> Classifier:
        """Head ``i`` with a copy of the backbone, as a plain Classifier."""
        c = Classifier(copy.deepcopy(self.encoder), self.heads[i].out_features)
        c.head.load_state_dict(self.heads[i].state_dict())
        return c.eval()


def scan_step(s, images: torch.Tensor, neighbours: np.ndarray, backbone: nn.Module, clusters, *, profile,
              seed: int, progress: bool = False, micro_batches: int | None = None) -> tuple[list[Classifier], dict]:
    """SCAN's clustering step: each anchor with one uniformly drawn mined neighbour, both strongly augmented,
    ``scan_loss`` with ``entropy_weight`` summed over one head per entry of ``clusters`` (a K sweep shares the
    backbone, as SCAN's multi-head training does), Adam ``scan_lr`` (weight decay 1e-4 as SCAN), whole network.
    Returns one Classifier per head."""
    clusters = tuple(int(k) for k in np.atleast_1d(clusters))
    if any(k < 2 for k in clusters):
        raise ValueError(f"every cluster count must be >= 2, got {clusters}")
    torch.manual_seed(int(seed))
    model = MultiHead(copy.deepcopy(backbone), clusters)
    n, flip = len(images), s.data != "digits"
    _, steps = steps_for(n, s.scan_batch, s.scan_epochs)
    batch = min(s.scan_batch, n)
    parts = micro_parts(profile, micro_batches, batch)
    nb = torch.as_tensor(neighbours)

    def draw(step, rng):
        idx = torch.as_tensor(rng.choice(n, size=batch, replace=False))
        pick = nb[idx, torch.as_tensor(rng.integers(0, nb.shape[1], size=batch))]
        return augment(images[idx], rng, strong=True, flip=flip), augment(images[pick], rng, strong=True, flip=flip)

    def loss_fn(net, data):
        mine, sizes = data
        # one forward a part: BatchNorm sees its anchors and neighbours together
        outs = [net(torch.cat([a, b]).to(next(net.parameters()).device)) for a, b in mine]
        total = 0
        for h in range(len(clusters)):  # the whole batch's logits, every rank's
            anchors = distributed.gather_rows(torch.cat([o[h][:len(a)] for o, (a, _) in zip(outs, mine)]), sizes)
            others = distributed.gather_rows(torch.cat([o[h][len(a):] for o, (a, _) in zip(outs, mine)]), sizes)
            total = total + scan_loss(anchors, others, s.entropy_weight)[0]
        return total

    config = {"data": artifacts.tensor_digest(images, nb), "clusters": list(clusters), "epochs": s.scan_epochs, "batch": s.scan_batch,
              "lr": s.scan_lr, "entropy_weight": s.entropy_weight, "init": weights_fingerprint(model)}
    config = with_shards(config, profile, parts)
    full, ckpt = stage_checkpoint("scan", config, profile, seed)
    launch_unless_finished(profile, ckpt, full, steps, "scan_step", (s, images, neighbours, backbone, clusters),
                           {"seed": seed, "micro_batches": parts})
    rng = np.random.default_rng(int(seed))
    meta = _run(model, kind="scan", config=config, profile=profile, loss_fn=loss_fn, batch_fn=None, steps=steps,
                lr=s.scan_lr, weight_decay=1e-4, seed=seed, progress=progress,
                steps_from=gathered_steps(draw, rng, steps, parts), rng=rng)
    return [model.classifier(i) for i in range(len(clusters))], meta


def self_label(s, images: torch.Tensor, scan_model: Classifier, *, profile, seed: int, progress: bool = False,
               micro_batches: int | None = None) -> tuple[Classifier, dict]:
    """SCAN's self-labelling from the SCAN-step model: targets from the un-augmented image (SCAN's code uses its
    validation transform), cross-entropy on a strong view, mask max p > ``selflabel_threshold``, class balancing.
    Batches without a confident sample contribute a zero loss and are counted (``meta["empty_batches"]``); when
    no batch has one, the weights stay as the SCAN step left them (BatchNorm statistics still follow the forwards)."""
    model = copy.deepcopy(scan_model).train()
    n, flip = len(images), s.data != "digits"
    _, steps = steps_for(n, s.selflabel_batch, s.selflabel_epochs)
    batch = min(s.selflabel_batch, n)
    parts = micro_parts(profile, micro_batches, batch)

    def draw(step, rng):
        idx = rng.choice(n, size=batch, replace=False)
        return images[idx], augment(images[idx], rng, strong=True, flip=flip)

    def loss(counted, net, data):
        mine, sizes = data
        dev = next(net.parameters()).device
        with torch.no_grad():
            weak = distributed.gather_rows(torch.cat([net(w.to(dev)) for w, _ in mine]), sizes)
        strong = distributed.gather_rows(torch.cat([net(x.to(dev)) for _, x in mine]), sizes)
        value, confident = selflabel_loss(weak, strong, s.selflabel_threshold, balance=True)
        counted.counters["batches"] += 1
        counted.counters["confident"] += confident
        counted.counters["empty_batches"] += int(confident == 0)
        if confident == 0:  # all-zero gradients: Adam (no momentum yet) leaves the weights where they are
            return value
        # SCAN's weight decay 1e-4 as the L2 term Adam's coupled weight_decay adds, but only on batches that
        # train: Adam's own weight_decay would move every weight by ~lr on an empty batch too
        return value + 0.5 * SELFLABEL_WEIGHT_DECAY * sum((w ** 2).sum() for w in net.parameters())

    config = with_shards({"data": artifacts.tensor_digest(images), "epochs": s.selflabel_epochs, "batch": s.selflabel_batch,
                          "threshold": s.selflabel_threshold, "init": weights_fingerprint(model)}, profile, parts)
    full, ckpt = stage_checkpoint("selflabel", config, profile, seed)
    launch_unless_finished(profile, ckpt, full, steps, "self_label", (s, images, scan_model),
                           {"seed": seed, "micro_batches": parts})
    rng = np.random.default_rng(int(seed))
    meta = _run(model, kind="selflabel", config=config, profile=profile, loss_fn=_Counted(loss), batch_fn=None,
                steps=steps, lr=s.scan_lr, weight_decay=0.0, seed=seed, progress=progress,
                steps_from=gathered_steps(draw, rng, steps, parts), rng=rng)
    return model, meta
