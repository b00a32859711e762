"""Stage 2 of paper 003: fine-tune the pretrained network as a K-way classifier of the pseudo-labels, keep the
weights at the end of every epoch, and average them (spec A2.4-A2.5).

- Cross-entropy (Eq. 2), Adam, all layers trainable, a new ``nn.Linear`` head (default init) [paper / unstated].
- Learning rate: cosine annealing from ``lr_start`` to ``lr_end`` stepped **per iteration** over all epochs, so
  the first step runs at ``lr_start`` and the last at exactly ``lr_end`` (``cosine_lrs``). The paper says
  "cosine from 1e-5 to 1e-6" and nothing on the granularity (spec ambiguity #8).
- Averaging: the uniform mean of the E epoch-end snapshots (theta_0, the pretrained weights, excluded) over
  **every floating-point parameter and buffer** (BatchNorm's running mean and variance included: the paper is
  silent, spec ambiguity #7); integer buffers (``num_batches_tracked``) are copied from the last snapshot.
  Snapshots are deep copies (``clone()``), not views of tensors that keep training (spec A8.6).
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
import torch.nn.functional as F

from ood_helpers.core import artifacts
from ood_helpers.core.distributed import micro_parts, sharded_steps, with_shards
from ood_helpers.core.embed import weights_fingerprint
from ood_helpers.core.train import fit
from ood_helpers.pseudo_label.augment import augment
from ood_helpers.pseudo_label.networks import Classifier, with_new_head
from ood_helpers.pseudo_label.stages import device_of, launch_unless_finished, steps_for



def cosine_lr(step: int, total: int, lr_start: float, lr_end: float) -> float:
    """The learning rate of iteration ``step`` (0-based) of ``total``: lr_end + (lr_start - lr_end)(1 + cos(pi
    step / (total - 1))) / 2, i.e. lr_start at the first iteration and lr_end at the last."""
    if total < 1 or not 0 <= step:
        raise ValueError(f"need total >= 1 and step >= 0, got step={step}, total={total}")
    if total == 1:
        return float(lr_start)
    t = min(step, total - 1) / (total - 1)
    return float(lr_end + (lr_start - lr_end) * 0.5 * (1.0 + math.cos(math.pi * t)))


def cosine_scheduler(optimizer: torch.optim.Optimizer, total: int, lr_start: float, lr_end: float):
    """``LambdaLR`` giving ``cosine_lr`` per iteration (the optimizer's lr must be ``lr_start``)."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: cosine_lr(s, total, lr_start, lr_end) / lr_start)


def average_state_dicts(snapshots: list[dict]) -> dict:
    """The element-wise mean of state dicts (floating tensors); non-floating entries from the last one."""
    if not snapshots:
        raise ValueError("need at least one snapshot to average")
    keys = list(snapshots[0])
    for i, snap in enumerate(snapshots[1:], 1):
        if list(snap) != keys or any(snap[k].shape != snapshots[0][k].shape for k in keys):
            raise ValueError(f"snapshot {i} does not match snapshot 0 (keys or shapes differ); average one architecture")
    out = {}
    for k in keys:
        if torch.is_floating_point(snapshots[0][k]):
            out[k] = torch.stack([s[k].double() for s in snapshots]).mean(0).to(snapshots[0][k].dtype)
        else:
            out[k] = snapshots[-1][k].clone()
    return out


def finetune(s, pretrained: Classifier, images: torch.Tensor, pseudo_labels, *, profile, seed: int, tag: str,
             lr_start: float | None = None, lr_end: float | None = None, progress: bool = False,
             micro_batches: int | None = None) -> dict:
    """Fine-tunes a copy of ``pretrained`` (new head of K = number of distinct pseudo-labels) for
    ``finetune_epochs`` epochs; returns ``{"snapshots": [state_dict per epoch], "average": state_dict,
    "classes": K, "model": a Classifier holding the average}``. Each epoch-end snapshot is cached on disk
    beside ``fit``'s checkpoint, so a rerun (or a resumed run) loads instead of training. ``tag`` names the
    label source in the key (scan / kmeans / true / K). A step's batch is cut into ``micro_batches`` parts
    (default: the profile's ``world_size``; > 1 trains under torchrun, see ``stages``)."""
    lr_start = s.lr_start if lr_start is None else lr_start
    lr_end = s.lr_end if lr_end is None else lr_end
    ids, y = np.unique(np.asarray(pseudo_labels), return_inverse=True)
    if len(y) != len(images):
        raise ValueError(f"{len(images)} images but {len(y)} pseudo-labels")
    y = torch.as_tensor(y)
    torch.manual_seed(int(seed))
    model = with_new_head(pretrained, len(ids)).train()
    n, flip = len(images), s.data != "digits"
    per_epoch, steps = steps_for(n, s.finetune_batch, s.finetune_epochs)
    batch = min(s.finetune_batch, n)
    parts = micro_parts(profile, micro_batches, batch)
    config = {"kind": "finetune", "code": artifacts.code_fingerprint(__name__), "tag": tag, "seed": int(seed),
              "data": artifacts.tensor_digest(images, y), "epochs": s.finetune_epochs, "batch": s.finetune_batch,
              "lr": [lr_start, lr_end], "init": weights_fingerprint(model)}
    config = with_shards(config, profile, parts)
    key = artifacts.config_hash(config)
    ckpt = artifacts.cache_path(profile, "pseudo-label-finetune", key)
    snap_paths = [ckpt.with_name(f"{key}.epoch{e}.pt") for e in range(1, s.finetune_epochs + 1)]

    def draw(step, rng):  # one permutation an epoch, seeded by (seed, epoch): every image once an epoch
        order = np.random.default_rng([int(seed), step // per_epoch]).permutation(n)
        idx = order[(step % per_epoch) * batch:(step % per_epoch + 1) * batch]
        return augment(images[idx], rng, flip=flip), y[idx]

    def loss_fn(net, data):
        dev = next(net.parameters()).device
        return F.cross_entropy(net(data[0].to(dev)), data[1].to(dev))

    def snapshot(step):  # fit evaluates on rank 0 only: one writer
        if step > 0 and step % per_epoch == 0:  # theta_0 (step 0) is not a snapshot
            state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            artifacts.atomic_save_torch(state, snap_paths[step // per_epoch - 1], config=config)
        return {}

    if not all(p.exists() for p in snap_paths):
        launch_unless_finished(profile, ckpt, config, steps, "finetune", (s, pretrained, images, pseudo_labels),
                               {"seed": seed, "tag": tag, "lr_start": lr_start, "lr_end": lr_end,
                                "micro_batches": parts})
    if not all(p.exists() for p in snap_paths):
        optimizer = torch.optim.Adam(model.parameters(), lr=lr_start)
        rng = np.random.default_rng(int(seed))  # fit restores it on resumption; the steps draw from it
        fit(model, optimizer, loss_fn=loss_fn, steps_from=sharded_steps(draw, rng, steps, parts), steps=steps,
            ckpt_path=ckpt, config=config, seed=seed, rng=rng,
            scheduler=cosine_scheduler(optimizer, steps, lr_start, lr_end),
            eval_fn=snapshot, eval_every=per_epoch, desc=f"fine-tune {tag}", progress=progress,
            device=device_of(profile))
    model.to("cpu")
    snapshots = [{k: v for k, v in artifacts.load_torch(p, expect_config=config).items() if k != "config"}
                 for p in snap_paths]
    average = average_state_dicts(snapshots)
    averaged = copy.deepcopy(model)
    averaged.load_state_dict(average)
    return {"snapshots": snapshots, "average": average, "classes": len(ids), "model": averaged.eval(),
            "template": model}


def with_weights(template: Classifier, state: dict) -> Classifier:
    """A copy of ``template`` holding ``state`` (eval mode)."""
    m = copy.deepcopy(template)
    m.load_state_dict(state)
    return m.eval()
