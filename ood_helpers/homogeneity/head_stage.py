"""The homogeneity model's Transformer trained alone on cached embeddings of the frozen encoder.

Paper 000 trains the ResNet and the Transformer together from the first step. Through the ResNet
one quick-profile step costs ~0.2 s on the CPU; on cached embeddings of the frozen pretrained
encoder the same step costs a few ms (at 224 px the ratio is far larger), so the Transformer can
see many more sets in the same minutes before the joint training of
``homogeneity.training.get_homogeneity_model`` starts from it. Used when ``head_pretrain_steps`` (homogeneity settings) > 0;
the paper profile keeps 0 (the paper's recipe).

Both stages log the same validation numbers (``validation_metrics``): set accuracy on fixed sets
of seen and unseen (validation) classes, as in Fig. 2, and eq. 1 top-1 over the validation
classes, the task of Table 1, so one learning curve spans them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from ood_helpers.core import artifacts
from ood_helpers.core.data import class_split
from ood_helpers.core.embed import embed_dataset
from ood_helpers.core.networks.resnet import encoder_from_classifier
from ood_helpers.homogeneity.episodes import sample_episodes
from ood_helpers.homogeneity.scorers import homogeneity_scores
from ood_helpers.homogeneity.loss import homogeneity_bce
from ood_helpers.homogeneity.model import HomogeneityModel
from ood_helpers.core.profile import Profile, resolve_device
from ood_helpers.homogeneity.sampling import HomogeneitySampler, SetBatch
from ood_helpers.core.train import fit
from ood_helpers.homogeneity.neighbors import mean_support_scores
from ood_helpers.homogeneity.settings import homogeneity_settings


def eval_set_count(profile: Profile) -> int:
    """Fixed validation sets per class group for Fig. 2: the ``eval_sets`` setting, else between 32 and 1024."""
    hs = homogeneity_settings(profile)
    default = hs.eval_sets or min(1024, max(32, 16 * hs.set_batch_size))
    return int(profile.extra.get("homogeneity_eval_sets", default))


def validation_sets(profile: Profile, variant: int, seed: int, val_targets) -> dict[str, SetBatch]:
    """The fixed validation sets of a run: "seen" (held-out images of seen classes) and "val"
    (the unseen validation classes), drawn from ``[seed, variant, 1]``."""
    split, k, count = class_split(profile), homogeneity_settings(profile).set_size, eval_set_count(profile)
    rng = np.random.default_rng([seed, variant, 1])
    return {group: HomogeneitySampler(val_targets, k, variant, classes=split.range(group)).sample(count, rng)
            for group in ("seen", "val")}


def eq1_episodes(profile: Profile, variant: int, seed: int, val_targets):
    """Eq. 1 episodes over the validation classes (queries and supports from the val split),
    fixed per run so every evaluation of the curve scores the same comparisons."""
    return sample_episodes(val_targets, class_split(profile).val,
                           n_supports=homogeneity_settings(profile).set_size - 1,
                           queries_per_class=homogeneity_settings(profile).eval_eq1_queries_per_class,
                           rng=np.random.default_rng([seed, variant, 4]))


def validation_metrics(model: HomogeneityModel, table: torch.Tensor, sets: dict, episodes) -> dict:
    """``val_seen_acc`` / ``val_unseen_acc`` (fraction of fixed sets judged right at position 0) and
    ``val_unseen_eq1`` (eq. 1 top-1 over the validation classes); ``table`` [N, D] holds the
    embedding of every val-split image the sets and episodes use."""
    out = {}
    for group, batch in sets.items():
        logits = model.set_logits(batch.gather(table), batch.lengths.to(table.device))[:, 0]
        right = (logits > 0).cpu() == (batch.targets > 0.5)
        out[f"val_{'seen' if group == 'seen' else 'unseen'}_acc"] = right.float().mean().item()
    scores = homogeneity_scores(model, table, episodes, device=str(table.device))
    out["val_unseen_eq1"] = float((scores.argmax(1).numpy() == episodes.true_columns).mean())
    return out


def frozen_embeddings(profile: Profile, encoder: nn.Module, encoder_key: str, imageset) -> torch.Tensor:
    """[N, D] embeddings of every image of ``imageset`` by the frozen ``encoder`` (cached on disk,
    under the key the evaluators use for the pretrained embeddings)."""
    return embed_dataset(encoder, imageset, profile=profile, key=f"pretrained-{encoder_key}")


def head_config(profile: Profile, variant: int, encoder_key: str, train_fp: str, val_fp: str, seed: int,
                architecture: dict) -> dict:
    """Everything that determines a pretrained head: the key of its checkpoint."""
    hs = homogeneity_settings(profile)
    return {
        "kind": "homogeneity-head", "code": artifacts.code_fingerprint(__name__), "variant": variant,
        "encoder": encoder_key, "train_data": train_fp, "val_data": val_fp, "k": hs.set_size,
        "architecture": architecture, "steps": hs.head_pretrain_steps,
        "sets_per_step": hs.head_pretrain_sets or hs.set_batch_size, "lr": hs.lr_homogeneity,
        **({"lr_schedule": hs.lr_schedule} if hs.lr_schedule != "constant" else {}),
        "eval_every": head_eval_every(profile), "eval_sets": eval_set_count(profile), "seed": seed,
    }


def stage_scheduler(optimizer: torch.optim.Optimizer, profile: Profile, steps: int):
    """None for the paper's constant learning rate; for ``lr_schedule`` "cosine", every group's rate decays to 0
    over the stage's ``steps`` (head and joint stages alike)."""
    if homogeneity_settings(profile).lr_schedule == "constant":
        return None
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, steps), eta_min=0.0)


def head_eval_every(profile: Profile) -> int:
    """Evaluation interval of the head stage: about 20 points over its steps."""
    return max(1, homogeneity_settings(profile).head_pretrain_steps // 20)


def pretrain_head(profile: Profile, variant: int, encoder: nn.Module, encoder_key: str, train, val, *, seed: int,
                  progress: bool = True) -> tuple[dict, list[dict], str]:
    """(state dict of the marker, projection, Transformer and head, eval history, cache key) after
    ``head_pretrain_steps`` (homogeneity settings) steps on cached embeddings of the frozen ``encoder``.

    Sets are drawn like the joint stage's (seen classes of ``train``, ``variant``) from
    ``[seed, variant, 3, step]``; the weights at the last step are returned (the joint stage
    selects the best step). Cached under ``artifacts/<profile>/homogeneity-head/``.
    """
    hs = homogeneity_settings(profile)
    device = resolve_device(profile)
    train_emb = frozen_embeddings(profile, encoder, encoder_key, train).to(device)
    val_emb = frozen_embeddings(profile, encoder, encoder_key, val).to(device)
    torch.manual_seed(seed)
    model = HomogeneityModel(nn.Identity(), train_emb.shape[1], hs.transformer_layers,
                             hs.transformer_heads, hs.transformer_head_dim)
    config = head_config(profile, variant, encoder_key, train.fingerprint(), val.fingerprint(), seed,
                         model.architecture)
    key = artifacts.config_hash(config)
    ckpt = artifacts.cache_path(profile, "homogeneity-head", key, ".pt")
    sampler = HomogeneitySampler(train.targets.numpy(), hs.set_size, variant, classes=class_split(profile).seen)
    sets_per_step = hs.head_pretrain_sets or hs.set_batch_size
    sets = validation_sets(profile, variant, seed, val.targets.numpy())
    episodes = eq1_episodes(profile, variant, seed, val.targets.numpy())

    def batch_fn(step: int, _rng) -> SetBatch:
        return sampler.sample(sets_per_step, np.random.default_rng([seed, variant, 3, step]))

    def loss_fn(net: HomogeneityModel, batch: SetBatch) -> torch.Tensor:
        return homogeneity_bce(net.set_logits(batch.gather(train_emb), batch.lengths.to(device)),
                               batch.targets.to(device), batch.lengths.to(device))

    optimizer = torch.optim.Adam(model.parameters(), lr=hs.lr_homogeneity, betas=(0.9, 0.999))
    scheduler = stage_scheduler(optimizer, profile, hs.head_pretrain_steps)
    result = fit(model, optimizer, batch_fn=batch_fn, loss_fn=loss_fn, steps=hs.head_pretrain_steps, scheduler=scheduler,
                 ckpt_path=ckpt, config=config, seed=seed, device=device, amp=profile.amp,
                 eval_fn=lambda step: validation_metrics(model, val_emb, sets, episodes),
                 eval_every=head_eval_every(profile), desc=f"homogeneity head variant {variant}", progress=progress)
    model.to("cpu")
    return model.state_dict(), result.history, key


def reference_nn_eq1(profile: Profile, variant: int, seed: int, val_emb: torch.Tensor, val_targets) -> float:
    """Eq. 1 top-1 of the cosine-NN baseline on the same episodes and embeddings: the line the
    learning curve of :func:`validation_metrics` is read against."""
    episodes = eq1_episodes(profile, variant, seed, val_targets)
    scores = mean_support_scores(val_emb, episodes.queries, episodes.supports, metric="cosine")
    return float((scores.argmax(1).numpy() == episodes.true_columns).mean())


def head_sets_per_step(profile: Profile) -> int:
    """Sets a step of the head stage (``head_pretrain_sets``, 0: the joint stage's ``set_batch_size``)."""
    hs = homogeneity_settings(profile)
    return hs.head_pretrain_sets or hs.set_batch_size


def eq1_nn_reference(profile: Profile, classifier_seen: nn.Module, seen_key: str, model: HomogeneityModel, val,
                     seed: int) -> dict[str, float]:
    """Eq. 1 top-1 of cosine NN over the validation classes (the episodes of the variant-1 curve, ``seed``)
    on the pretrained embeddings (the seen-class classifier's encoder) and on the fine-tuned ones (``model``'s
    encoder): the horizontal lines of notebook 03's learning curve."""
    pretrained_val = frozen_embeddings(profile, encoder_from_classifier(classifier_seen), seen_key, val)
    finetuned_val = embed_dataset(model, val, profile=profile, key=f"finetuned-{model.cache_key}")
    return {
        "cosine NN, pretrained embeddings": reference_nn_eq1(profile, 1, seed, pretrained_val, val.targets.numpy()),
        "cosine NN, fine-tuned embeddings": reference_nn_eq1(profile, 1, seed, finetuned_val, val.targets.numpy()),
    }


def eq1_study_table(profile: Profile, history: dict, nn_reference: dict[str, float]) -> pd.DataFrame:
    """Eq. 1 top-1 (%) of the variant-1 model at the end of the head stage and at the checkpoint kept, beside
    the cosine-NN lines of :func:`eq1_nn_reference`, with the training sets each has seen."""
    hs = homogeneity_settings(profile)
    head_sets = head_sets_per_step(profile)
    at_best = history["val_unseen_eq1"][history["step"].index(history["best_step"])]
    head_end = history["head_history"][-1]["val_unseen_eq1"] if history["head_history"] else None
    return pd.DataFrame([
        {"method": "class homogeneity, end of the head stage", "eq. 1 top-1 (%)": None if head_end is None else 100 * head_end,
         "training sets seen": hs.head_pretrain_steps * head_sets},
        {"method": "class homogeneity, checkpoint kept", "eq. 1 top-1 (%)": 100 * at_best,
         "training sets seen": hs.head_pretrain_steps * head_sets + history["best_step"] * hs.set_batch_size},
        *({"method": name, "eq. 1 top-1 (%)": 100 * value, "training sets seen": 0} for name, value in nn_reference.items()),
    ])


__all__ = ["eval_set_count", "validation_sets", "eq1_episodes", "validation_metrics", "frozen_embeddings",
           "head_config", "pretrain_head", "reference_nn_eq1", "head_sets_per_step", "eq1_nn_reference", "eq1_study_table"]
