"""The official CAC training recipe (spec 2), through ``ood_helpers.core.train.fit``.

SGD with momentum 0.9, constant lr per stage; stage 2 (CIFAR*, TinyImageNet) restarts from the best
stage-1 checkpoint with a **fresh** optimizer at lr 0.001. After every epoch the held-out validation
images (test transform) choose the checkpoint: the lowest mean anchor distance d_y for CAC and its
ablations (ties: fit keeps the earlier epoch, the official code the later [A]), the highest accuracy
for the CE baseline. ``fit`` is step-based, so an epoch is ``ceil(n / batch)`` steps over a permutation
drawn from (seed, epoch), and evaluation runs every ``steps_per_epoch`` steps. Every stage is cached
under ``artifacts/<profile>/cac/`` keyed by its whole config and a fingerprint of this code.

Under torchrun (``world_size`` W > 1) a step's batch is the same as in one process: it is cut into
contiguous micro-batches, rank r takes micro-batches r, r + W, ..., each augmented as a row of the
whole batch and weighted by its share of it, and DDP averages the gradients (``core.launch`` starts the ranks, each running ``train_one``).
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import torch
import torch.nn.functional as F

from ood_helpers.core import artifacts, distributed
from ood_helpers.core.data.loading import MicroBatch, Step, rank_micro_ids
from ood_helpers.core.launch import train_elsewhere_unless_finished
from ood_helpers.core.profile import resolve_device
from ood_helpers.core.train import fit, load_best
from ood_helpers.cac.data import TrialData
from ood_helpers.cac.loss import ALPHA, LAMBDA, anchor_term, anchors, cac_loss, distances
from ood_helpers.cac.network import DigitsMLP, OSRCIEncoder
from ood_helpers.cac.peer import peer_loss
from ood_helpers.cac.recipe import RECIPES, Preprocess, Recipe, recipe_for  # noqa: F401

LOSSES = ("cac", "anchor", "tuplet", "ce", "peer")  # peer = pytorch-ood's CACLoss (see ``peer``)


def build_network(recipe: Recipe, num_classes: int, channels: int) -> torch.nn.Module:
    if recipe.network == "mlp":
        return DigitsMLP(num_classes, in_features=channels * recipe.image_size ** 2, dropout=recipe.dropout)
    return OSRCIEncoder(num_classes, channels, recipe.image_size, recipe.width, recipe.dropout)


@torch.no_grad()
def logits_of(model, x: torch.Tensor, batch: int = 512) -> torch.Tensor:
    """Logits of preprocessed images in eval mode, in batches."""
    was = model.training
    model.eval()
    device = next(model.parameters()).device
    out = (torch.cat([model(x[i:i + batch].to(device)).float().cpu() for i in range(0, len(x), batch)]) if len(x)
           else torch.zeros(0))
    model.train(was)
    return out


def _step_loss(loss: str, centres: torch.Tensor, lbda: float, peer_criterion):
    def loss_fn(model, batch):
        x, y = batch
        device = next(model.parameters()).device
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        z = model(x)
        if loss == "ce":
            return F.cross_entropy(z, y)
        if loss == "peer":
            return peer_criterion(peer_criterion.distance(z), y)
        return cac_loss(distances(z, centres), y, lbda, loss).float()
    return loss_fn


def train_trial(data: TrialData, loss: str, recipe: Recipe, *, profile, seed: int, alpha: float = ALPHA,
                lbda: float = LAMBDA, device: str = "cpu", progress: bool = False,
                micro_batches: int | None = None) -> tuple[torch.nn.Module, dict]:
    """Trains (or loads from the cache) one network of ``loss`` on ``data``; returns it with the best
    checkpoint of the last stage loaded, and {"best_epoch", "stages", "seconds", "history"}.

    A step's batch is cut into ``micro_batches`` (default: ``profile.world_size``) contiguous parts, one
    forward / backward each. With ``world_size`` > 1 outside torchrun, an unfinished network is trained by
    ``world_size`` processes (``train_one`` under ``core.launch``) and then loaded here."""
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    if len(recipe.epochs) != len(recipe.lrs) or not recipe.epochs or min(recipe.epochs) < 1:
        raise ValueError(f"recipe needs one lr per stage and >= 1 epoch a stage; got epochs {recipe.epochs}, lrs {recipe.lrs}")
    n = len(data.y_train)
    if n < 2:
        raise ValueError(f"{data.name} trial {data.split.trial}: {n} training image(s); need at least 2")
    batch = min(recipe.batch_size, n)
    parts = distributed.micro_parts(profile, micro_batches, batch)
    torch.manual_seed(seed)
    model = build_network(recipe, data.num_classes, data.x_train.shape[1])
    pre = Preprocess(recipe, data.x_train)
    x_val = pre.eval_view(data.x_val)
    centres = anchors(data.num_classes, alpha)
    peer_criterion = peer_eval = None
    if loss == "peer":
        peer_criterion = peer_loss(data.num_classes, alpha, lbda).to(device)
        peer_eval = peer_loss(data.num_classes, alpha, lbda)  # validation logits come back on the CPU
    # a last batch with a part of 1 image would break BatchNorm: dropped
    per_epoch = n // batch + (1 if n % batch >= 2 * parts else 0)
    steps_from = _step_source(data, pre, seed, batch, parts, per_epoch, device)
    eval_fn = _validation(model, x_val, data.y_val, loss, centres, peer_eval)
    metric, mode = ("val_acc", "max") if loss == "ce" else ("val_anchor", "min")
    stages = _stage_runs(data, loss, recipe, profile, seed=seed, alpha=alpha, lbda=lbda, parts=parts,
                         per_epoch=per_epoch)
    # the trial travels as a file beside the last stage's checkpoint: every rank trains on exactly these images
    last = stages[-1][0]
    train_elsewhere_unless_finished(profile, TRAIN_JOB, runs=stages, payload={"data": data},
                                    payload_path=last.with_name(last.stem + ".trial.pt"),
                                    kwargs={"loss": loss, "recipe": asdict(recipe), "seed": seed, "alpha": alpha,
                                            "lbda": lbda, "device": device, "micro_batches": parts})
    info, offset = {"stages": [], "seconds": 0.0, "history": []}, 0
    for stage, ((ckpt, config, steps), lr) in enumerate(zip(stages, recipe.lrs)):
        epochs = steps // per_epoch
        optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=recipe.weight_decay)
        result = fit(model, optimizer, loss_fn=_step_loss(loss, centres, lbda, peer_criterion),
                     steps=steps, ckpt_path=ckpt, config=config, steps_from=steps_from(offset, stage, steps),
                     seed=seed + stage, device=device, eval_fn=eval_fn, eval_every=per_epoch,
                     best_metric=metric, best_mode=mode, desc=f"{loss} {data.name} t{data.split.trial} s{stage}",
                     progress=progress)
        best_step = load_best(model, ckpt, config)  # stage 2 starts from stage 1's best, with a new optimizer
        info["stages"].append({"epochs": epochs, "lr": lr, "best_epoch": offset // per_epoch + best_step // per_epoch})
        info["seconds"] += result.seconds
        info["history"] += [{**r, "stage": stage, "epoch": offset // per_epoch + r["step"] // per_epoch} for r in result.history]
        offset += epochs * per_epoch
    info["best_epoch"] = info["stages"][-1]["best_epoch"]
    model.eval()
    return model, info


def _step_source(data: TrialData, pre: Preprocess, seed: int, batch: int, parts: int, per_epoch: int,
                 device: str = "cpu"):
    """``steps_from(offset, stage, steps)``: ``fit``'s step source for a stage that starts ``offset`` steps into
    the run. Step s takes batch s % per_epoch of the permutation drawn from (seed, epoch), cut into ``parts``
    contiguous micro-batches of which this rank takes its share, augmented on ``device`` with the s-th draw of
    default_rng(seed + stage)."""
    n = len(data.y_train)
    ctx = distributed.context()
    ids = rank_micro_ids(parts, ctx.rank, ctx.world_size)

    def micro(step: int, aug_seed: int):
        epoch, i = divmod(step, per_epoch)
        order = np.random.default_rng([seed, epoch]).permutation(n)
        idx = torch.as_tensor(np.sort(order[i * batch:(i + 1) * batch]))
        images, cuts = data.x_train[idx], np.array_split(np.arange(len(idx)), parts)
        for j in ids:  # weights: the step minimises the mean loss over the whole batch (DDP averages ranks)
            yield MicroBatch((pre.train_view(images, aug_seed, cuts[j], device), data.y_train[idx[cuts[j]]]),
                             ctx.world_size * len(cuts[j]) / len(idx), j)

    def steps_from(offset: int, stage: int, steps: int):
        # the augmentation seed of step s is the s-th draw of default_rng(seed + stage), as fit's rng gave
        aug = np.random.default_rng(seed + stage).integers(2**62, size=steps)
        return lambda start: (Step(len(ids), micro(s + offset, int(aug[s]))) for s in range(start, steps))

    return steps_from


def _validation(model: torch.nn.Module, x_val: torch.Tensor, y_val: torch.Tensor, loss: str, centres, peer_eval):
    """``fit``'s eval_fn: validation accuracy for CE, else the mean anchor distance d_y of the true class."""

    def eval_fn(step):
        z = logits_of(model, x_val)
        if loss == "ce":
            return {"val_acc": float((z.argmax(1) == y_val).double().mean())}
        if loss == "peer":
            return {"val_anchor": float(peer_eval.distance(z).gather(1, y_val.view(-1, 1)).mean())}
        return {"val_anchor": float(anchor_term(distances(z, centres), y_val))}

    return eval_fn


def _stage_runs(data: TrialData, loss: str, recipe: Recipe, profile, *, seed: int, alpha: float, lbda: float,
                parts: int, per_epoch: int) -> list[tuple]:
    """(checkpoint, config, steps) of each stage; the config is the whole training setup plus the stage."""
    # CIFAR+10 and CIFAR+50 share one network a trial (same known classes and training images): the key
    # names neither the variant nor the unknown test set
    sizes = {k: v for k, v in data.sizes().items() if k != "unknown"}
    name = "cifar+" if data.name.startswith("cifar+") else data.name
    base = {"dataset": name, "trial": data.split.trial, "known": data.split.known, "sizes": sizes,
            "loss": loss, "recipe": asdict(recipe), "alpha": alpha, "lbda": lbda, "seed": seed,
            "code": artifacts.code_fingerprint(__name__)}
    base = distributed.with_shards(base, profile, parts)
    stages = []
    for stage, epochs in enumerate(recipe.epochs):
        config = {**base, "stage": stage}
        stages.append((artifacts.cache_path(profile, "cac", artifacts.config_hash(config)), config, epochs * per_epoch))
    return stages


TRAIN_JOB = "ood_helpers.cac.training:train_one"


def train_one(profile, payload_file: str, loss: str, recipe: dict, seed: int, alpha: float, lbda: float,
              device: str = "cpu", micro_batches: int | None = None) -> None:
    """One torchrun rank (``core.worker`` target): trains the network ``train_trial`` asked for on the trial
    saved at ``payload_file``."""
    data = artifacts.load_torch(payload_file)["data"]
    if not isinstance(data, TrialData):
        raise TypeError(f"{payload_file} holds a {type(data).__name__}, not a cac.data.TrialData")
    recipe = Recipe(**{k: tuple(v) if isinstance(v, list) else v for k, v in recipe.items()})
    if device.startswith("cuda"):  # each rank on its own GPU
        device = resolve_device(profile)
    train_trial(data, loss, recipe, profile=profile, seed=seed, alpha=alpha, lbda=lbda, device=device,
                progress=distributed.context().is_main, micro_batches=micro_batches)
