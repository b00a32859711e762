"""The joint stage of a class-homogeneity model: encoder and Transformer trained together on step-seeded
sets through ``core.train.fit`` (Adam with the encoder's own learning rate), evaluated on fixed validation
sets and Eq. 1 episodes of held-out images. ``training.get_homogeneity_model`` builds the model, its cache
key and (optionally) its pretrained head, then calls ``train_jointly``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ood_helpers.core import distributed
from ood_helpers.core.data.loading import EvalView, LoaderSettings, eval_loader, group_steps, rank_micro_ids, step_loader
from ood_helpers.core.data.transforms import to_float
from ood_helpers.core.embed import encode_dataset
from ood_helpers.core.profile import Profile
from ood_helpers.core.train import fit
from ood_helpers.homogeneity.head_stage import eq1_episodes, stage_scheduler, validation_metrics, validation_sets
from ood_helpers.homogeneity.loss import homogeneity_bce
from ood_helpers.homogeneity.model import HomogeneityModel
from ood_helpers.homogeneity.sampling import SetStepPlanner
from ood_helpers.homogeneity.settings import homogeneity_settings


def encoder_lr(profile: Profile) -> float:
    """Learning rate of the pretrained ResNet inside the homogeneity model (the rest uses lr_homogeneity)."""
    hs = homogeneity_settings(profile)
    return hs.lr_homogeneity_encoder or hs.lr_homogeneity


def homogeneity_optimizer(model: HomogeneityModel, profile: Profile) -> torch.optim.Adam:
    """Adam (betas 0.9 / 0.999, appendix A.1): group 0 the ResNet encoder at ``encoder_lr``, group 1
    the marker, projection, Transformer and head at ``lr_homogeneity``."""
    encoder_params = list(model.encoder.parameters())
    encoder_ids = {id(p) for p in encoder_params}
    return torch.optim.Adam(
        [{"params": encoder_params, "lr": encoder_lr(profile)},
         {"params": [p for p in model.parameters() if id(p) not in encoder_ids]}],
        lr=homogeneity_settings(profile).lr_homogeneity, betas=(0.9, 0.999),
    )


@dataclass
class Validation:
    """The fixed validation of a homogeneity run: the set batches (seen / unseen classes), the Eq. 1 episodes,
    and the positions in the val split of every image they use (only those are embedded)."""

    batches: dict
    episodes: Any
    positions: torch.Tensor

    @classmethod
    def draw(cls, profile: Profile, variant: int, seed: int, val) -> "Validation":
        batches = validation_sets(profile, variant, seed, val.targets.numpy())
        episodes = eq1_episodes(profile, variant, seed, val.targets.numpy())
        positions = torch.unique(torch.cat([*(b.unique for b in batches.values()),
                                            torch.as_tensor(episodes.queries), torch.as_tensor(episodes.supports).flatten()]))
        return cls(batches, episodes, positions)


def load_head(model: HomogeneityModel, head_state: dict) -> None:
    """The pretrained head's weights into ``model`` (all but the encoder's, which must be the only ones missing)."""
    missing, unexpected = model.load_state_dict(head_state, strict=False)
    if unexpected or any(not name.startswith("encoder.") for name in missing):
        raise RuntimeError(f"pretrained head does not fit the model: missing {missing}, unexpected {unexpected}")


def _set_loss(net: HomogeneityModel, batch) -> torch.Tensor:
    images, index, lengths, targets = batch
    return homogeneity_bce(net.pool_logits(images, index, lengths), targets, lengths)


def train_jointly(profile: Profile, model: HomogeneityModel, variant: int, seed: int, device: str, train,
                  train_sampler, val, validation: Validation, ckpt, config: dict, progress: bool):
    """``fit`` of the homogeneity model on step-seeded sets of ``train`` (micro-batched, spread over the ranks),
    evaluated on ``validation``, keeping the best unseen-class accuracy; returns the FitResult."""
    hs = homogeneity_settings(profile)
    ctx = distributed.context()
    optimizer = homogeneity_optimizer(model, profile)
    settings = LoaderSettings.for_profile(profile, device)
    per_process = profile.per_process(hs.set_batch_size)
    # [seed, variant, 1] draws the validation sets; training sets come from [seed, variant, 2, step]
    planner = SetStepPlanner(train_sampler, hs.set_batch_size, profile.micro_batch_sets or per_process,
                             [seed, variant, 2])
    ids = rank_micro_ids(planner.micro_per_step, ctx.rank, ctx.world_size)
    train_view = EvalView(train)  # sets see the evaluation view of each image, as in the paper: no augmentation

    def prepare(step: int, j: int, loaded):
        images, _ = loaded
        b = planner.plan(step)[j]
        return (to_float(images.to(device, non_blocking=True)), b.index.to(device), b.lengths.to(device),
                b.targets.to(device))

    def steps_from(start: int):
        loader = step_loader(train_view, planner.keys, planner.micro_per_step, start, hs.homogeneity_steps,
                             settings, ctx.rank, ctx.world_size)
        return group_steps(loader, start, hs.homogeneity_steps, ids, prepare)

    return fit(
        model, optimizer, steps_from=steps_from, loss_fn=_set_loss, steps=hs.homogeneity_steps, ckpt_path=ckpt,
        config=config, seed=seed, device=device, amp=profile.amp,
        scheduler=stage_scheduler(optimizer, profile, hs.homogeneity_steps),
        eval_fn=_validation_fn(profile, model, val, validation, settings, device), eval_every=hs.eval_every,
        best_metric=hs.select_by, desc=f"homogeneity variant {variant}", progress=progress,
    )


def _validation_fn(profile: Profile, model: HomogeneityModel, val, validation: Validation, settings, device: str):
    """``fit``'s eval_fn: embeds the validation images (a loader built at the first call, rank 0 only, and
    reused: its workers persist), then the validation metrics of ``head_stage``."""
    val_loader = []

    def eval_fn(step: int) -> dict:
        positions = validation.positions
        if not val_loader and not getattr(val, "in_memory", True):
            val_loader.append(eval_loader(val, 2 * profile.batch_size, settings, positions.numpy()))
        emb = encode_dataset(model, val, positions=positions.numpy(), batch_size=2 * profile.batch_size,
                             device=device, loader=val_loader[0] if val_loader else None).to(device)
        table = emb.new_zeros(len(val), emb.shape[1])
        table[positions.to(device)] = emb
        return validation_metrics(model, table, validation.batches, validation.episodes)

    return eval_fn
