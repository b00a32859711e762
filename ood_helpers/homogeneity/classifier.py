"""The ResNet-18 classifiers of every notebook, trained through ``train.fit`` and cached by config.

A classifier streams its training images through DataLoader workers with the per-sample
augmentation of its dataset (``data.transforms``), draws each step's batch from ``(seed, step)``,
splits it into micro-batches (``micro_batch_images``) and over torchrun ranks (``world_size``).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ood_helpers.core import artifacts, distributed
from ood_helpers.core.launch import train_elsewhere_unless_finished
from ood_helpers.core.networks.resnet import build_resnet18
from ood_helpers.core.data.loading import (AugmentedView, ImageStepPlanner, LoaderSettings, group_steps, rank_micro_ids, step_loader)
from ood_helpers.core.data.transforms import normalisation, recipe_for, to_float
from ood_helpers.core.profile import Profile, resolve_device
from ood_helpers.core.train import fit
from ood_helpers.homogeneity.settings import homogeneity_settings


def training_recipe(profile: Profile, imageset) -> str:
    """The augmentation recipe (``data.transforms``) a classifier of ``imageset`` trains with."""
    return recipe_for(profile.augmentation, getattr(imageset, "name", ""), int(imageset[0][0].shape[0]))




def classifier_config(profile: Profile, imageset, *, seed: int, key_extra: Any = None) -> dict:
    """Everything that determines a trained classifier: the config its checkpoint is keyed by."""
    hs = homogeneity_settings(profile)
    return {
        "kind": "resnet18-classifier",
        "code": artifacts.code_fingerprint(__name__),
        "amp": bool(profile.amp and resolve_device(profile).startswith("cuda")),  # fit uses amp on CUDA only
        "data": imageset.fingerprint(),
        "num_classes": len(imageset.classes),
        "image_shape": list(imageset[0][0].shape),
        "resnet_width": profile.resnet_width,
        "small_stem": profile.small_stem,
        "batch_size": profile.batch_size,
        "micro_batch": profile.micro_batch_images,
        "world_size": profile.world_size,  # DDP keeps rank 0's BatchNorm statistics: another run
        "sampler": "step-seeded",  # batches drawn from (seed, step): data.loading.ImageStepPlanner
        "steps": hs.pretrain_steps,
        "lr": hs.lr_pretrain,
        "augment": training_recipe(profile, imageset),
        "seed": int(seed),
        "extra": key_extra,
    }


def classifier_optimizer(model: nn.Module, profile: Profile):
    """(optimizer, cosine scheduler over ``pretrain_steps``): SGD with momentum 0.9 and weight decay
    1e-4 for lr >= 0.01 (the ImageNet recipe), Adam below."""
    hs = homogeneity_settings(profile)
    if hs.lr_pretrain >= 0.01:
        optimizer = torch.optim.SGD(model.parameters(), lr=hs.lr_pretrain, momentum=0.9, weight_decay=1e-4)
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=hs.lr_pretrain)
    total = max(hs.pretrain_steps, 1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total))
    )
    return optimizer, scheduler


def train_classifier(profile: Profile, imageset, *, seed: int, key_extra: Any = None, progress: bool = True,
                     job: tuple[str, dict] | None = None) -> nn.Module:
    """A ResNet-18 trained to classify ``imageset`` (labels 0..C-1), in eval mode, on the CPU.

    Loaded from ``artifacts/<profile>/classifier/<hash>.pt`` when a finished run with the same
    config exists (data fingerprint, widths, steps, lr, seed, ``key_extra``), else trained with
    ``fit`` (resuming an interrupted run): per-sample augmentation (``training_recipe``) in
    DataLoader workers, ``profile.batch_size`` images a step split into micro-batches of
    ``micro_batch_images``. With ``world_size`` > 1, ``job`` (a worker target and its keyword arguments
    that rebuild this call) is run under torchrun first (``launch.train_elsewhere_unless_finished``). The returned module carries
    ``cache_key`` (its config hash).
    """
    hs = homogeneity_settings(profile)
    if len(imageset) == 0:
        raise ValueError(f"cannot train a classifier on the empty dataset {getattr(imageset, 'name', '?')!r}")
    config = classifier_config(profile, imageset, seed=seed, key_extra=key_extra)
    key = artifacts.config_hash(config)
    ckpt = artifacts.cache_path(profile, "classifier", key, ".pt")
    ctx = distributed.context()
    batch = profile.batch_size
    if batch > len(imageset):
        if profile.world_size > 1 or profile.micro_batch_images:
            raise ValueError(f"batch_size={batch} exceeds the {len(imageset)} images of {imageset.name!r}; "
                             "a smaller batch_size is needed with world_size or micro_batch_images")
        batch = len(imageset)  # small test sets: every image each step
    if job is not None:
        train_elsewhere_unless_finished(profile, job[0], runs=[(ckpt, config, hs.pretrain_steps)], kwargs=job[1])
    elif profile.world_size > 1 and not ctx.distributed:
        raise ValueError(f"world_size={profile.world_size} needs a job: the worker target that rebuilds this network")
    torch.manual_seed(int(seed))
    recipe = config["augment"]
    channels, height, width = config["image_shape"]
    model = build_resnet18(config["num_classes"], channels, profile.resnet_width, profile.small_stem,
                           normalize=normalisation(recipe))
    optimizer, scheduler = classifier_optimizer(model, profile)
    device = resolve_device(profile)
    per_process = batch // profile.world_size
    planner = ImageStepPlanner(len(imageset), batch, profile.micro_batch_images or per_process, seed)
    dataset = AugmentedView(imageset, recipe, (height, width))
    settings = LoaderSettings.for_profile(profile, device)
    ids = rank_micro_ids(planner.micro_per_step, ctx.rank, ctx.world_size)

    def prepare(step: int, j: int, loaded):
        x, y = loaded
        return to_float(x.to(device, non_blocking=True)), y.to(device, non_blocking=True)

    def steps_from(start: int):
        loader = step_loader(dataset, planner.plan, planner.micro_per_step, start, hs.pretrain_steps, settings,
                             ctx.rank, ctx.world_size)
        return group_steps(loader, start, hs.pretrain_steps, ids, prepare)

    def loss_fn(net: nn.Module, data) -> torch.Tensor:
        x, y = data
        return F.cross_entropy(net(x), y)

    fit(
        model, optimizer, steps_from=steps_from, loss_fn=loss_fn, steps=hs.pretrain_steps, ckpt_path=ckpt,
        config=config, seed=seed, device=device, amp=profile.amp, scheduler=scheduler,
        checkpoint_every=max(hs.pretrain_steps // 4, 1), eval_every=max(hs.pretrain_steps // 10, 1),
        desc=f"classifier {len(imageset.classes)} classes", progress=progress,
    )
    model.to("cpu").eval()
    model.cache_key = key
    return model
