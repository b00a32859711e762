"""The trained networks of paper 000, built once and cached: the ResNet-18 classifiers
(seen classes / all classes) and the class-homogeneity models (variant 1 / variant 2).

Every notebook asks for them here; a network whose config (profile fields, data
fingerprint, seed, encoder) is unchanged is loaded from ``artifacts/<profile>/`` instead
of being trained again.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import top_k_accuracy_score

from ood_helpers.core import artifacts, distributed
from ood_helpers.homogeneity.classifier import train_classifier
from ood_helpers.core.data import class_split, many_class_split, range_labels, select_classes
from ood_helpers.core.data.loading import LoaderSettings
from ood_helpers.core.embed import encode_dataset, encode_images
from ood_helpers.homogeneity.head_stage import eval_set_count, pretrain_head
from ood_helpers.homogeneity.joint_stage import (Validation, encoder_lr, homogeneity_optimizer,  # noqa: F401
                                                 load_head, train_jointly)
from ood_helpers.homogeneity.model import HomogeneityModel
from ood_helpers.core.networks.resnet import encoder_from_classifier, feature_dim
from ood_helpers.core.profile import Profile, resolve_device
from ood_helpers.homogeneity.sampling import HomogeneitySampler
from ood_helpers.core.seeding import trial_seed
from ood_helpers.core.launch import train_elsewhere_unless_finished
from ood_helpers.core.train import load_best
from ood_helpers.homogeneity.settings import homogeneity_settings

CLASSIFIER_KINDS = ("seen", "all")
VARIANTS = (1, 2)
CLASSIFIER_JOB = "ood_helpers.homogeneity.training:classifier_job"
HOMOGENEITY_JOB = "ood_helpers.homogeneity.training:homogeneity_job"


def classifier_job(profile: Profile, which: str, trial: int = 0) -> None:
    """One torchrun rank of ``get_classifier`` (``core.worker`` target)."""
    get_classifier(profile, which, trial, progress=distributed.context().is_main)


def homogeneity_job(profile: Profile, variant: int, trial: int = 0) -> None:
    """One torchrun rank of ``get_homogeneity_model`` (``core.worker`` target)."""
    get_homogeneity_model(profile, variant, trial, progress=distributed.context().is_main)


def get_classifier(profile: Profile, which: str, trial: int = 0, progress: bool = True):
    """(ResNet-18 classifier in eval mode on the CPU, meta) trained on the "seen" classes
    (1-80 of the shuffled order for MNIST-pairs, 1-800 for ImageNet) or on "all" classes.

    ``meta``: {"which", "trial", "seed", "class_ids" (original ids in label order), "key"
    (the model's cache key, for embedding caches), "range" ("1-80")}.
    """
    if which not in CLASSIFIER_KINDS:
        raise ValueError(f"which must be one of {CLASSIFIER_KINDS}, got {which!r}")
    split = class_split(profile)
    ids = split.range(which)
    train = select_classes(many_class_split(profile, "train"), ids)
    seed = trial_seed(profile.seed, trial)
    model = train_classifier(profile, train, seed=seed, key_extra={"which": which, "classes": ids.tolist()},
                             progress=progress, job=(CLASSIFIER_JOB, {"which": which, "trial": trial}))
    meta = {
        "which": which,
        "trial": trial,
        "seed": seed,
        "class_ids": [int(c) for c in ids],
        "key": model.cache_key,
        "range": range_labels(profile)[which],
    }
    return model, meta


def predict_logits(model: torch.nn.Module, images: torch.Tensor, device: str = "cpu", batch_size: int = 512) -> torch.Tensor:
    """Logits [N, C] (float32, CPU) of a classifier over float images [N, C, H, W] in [0, 1]."""
    return encode_images(model, images, batch_size=batch_size, device=device)


def classifier_accuracy(profile: Profile, model: torch.nn.Module, meta: dict) -> list[dict]:
    """Top-1 / top-5 test accuracy (%) of a classifier per class range it was trained on.

    Predictions are among all the classifier's classes (as in the paper's Table 1); one record
    per range: {"network", "range", "top1", "top5", "trial", "images"}.
    """
    split = class_split(profile)
    test = many_class_split(profile, "test")
    known = np.asarray(meta["class_ids"])
    label_of = {int(c): j for j, c in enumerate(known)}
    device = resolve_device(profile)
    settings = LoaderSettings.for_profile(profile, device)
    records = []
    part = select_classes(test, known, relabel=False)  # every test image of its classes, scored once
    all_scores = encode_dataset(model, part, batch_size=2 * profile.batch_size, device=device, settings=settings).numpy()
    targets = part.targets.numpy()
    for name, label in range_labels(profile).items():
        ids = split.range(name)
        if not np.isin(ids, known).all():
            continue
        rows = np.isin(targets, ids)
        scores = all_scores[rows]
        y = np.array([label_of[int(t)] for t in targets[rows]])
        classes = np.arange(len(known))
        records.append({
            "network": meta["which"],
            "range": label,
            "top1": 100.0 * top_k_accuracy_score(y, scores, k=1, labels=classes),
            "top5": 100.0 * top_k_accuracy_score(y, scores, k=min(5, len(known) - 1), labels=classes),
            "trial": meta["trial"],
            "images": len(y),
        })
    return records


# ===== class homogeneity =====


def homogeneity_config(profile: Profile, variant: int, encoder_key: str, train_fp: str, val_fp: str, seed: int,
                       architecture: dict | None = None, head_key: str | None = None) -> dict:
    """Everything that determines a trained homogeneity model: the key of its checkpoint.
    ``architecture``: ``HomogeneityModel.architecture``; ``head_key``: the config hash of the
    pretrained head it starts from (None: trained jointly from the first step, as in the paper)."""
    hs = homogeneity_settings(profile)
    return {
        "kind": "class-homogeneity",
        "code": artifacts.code_fingerprint(__name__),
        "amp": bool(profile.amp and resolve_device(profile).startswith("cuda")),
        "architecture": architecture,
        "head": head_key,
        "variant": variant,
        "encoder": encoder_key,
        "train_data": train_fp,
        "val_data": val_fp,
        "k": hs.set_size,
        "set_batch_size": hs.set_batch_size,
        "micro_batch_sets": profile.micro_batch_sets,
        "world_size": profile.world_size,
        "sampler": "step-seeded",  # sets drawn from (seed, variant, 2, step): sampling.SetStepPlanner
        "steps": hs.homogeneity_steps,
        "lr": hs.lr_homogeneity,
        "lr_encoder": encoder_lr(profile),
        **({"lr_schedule": hs.lr_schedule} if hs.lr_schedule != "constant" else {}),
        **({"select_by": hs.select_by} if hs.select_by != "val_unseen_acc" else {}),
        "betas": [0.9, 0.999],
        "eval_every": hs.eval_every,
        "eval_sets": eval_set_count(profile),
        "eval_eq1_queries_per_class": hs.eval_eq1_queries_per_class,
        "seed": seed,
    }


def get_homogeneity_model(profile: Profile, variant: int, trial: int = 0, progress: bool = True, *,
                          classifier_trial: int | None = None):
    """(HomogeneityModel at the step of best unseen-class validation accuracy, in eval mode on
    the CPU, history dict) for set ``variant`` 1 (k images) or 2 (k_n uniform in 2..k). ``trial`` seeds the
    training (and picks the seen-class classifier of the same trial unless ``classifier_trial`` names another:
    the seeds-and-threads study varies one stage's seed at a time).

    The encoder starts from the seen-class classifier; training uses sets of seen-class training
    images, validation fixed sets of held-out (val split) images of the seen classes and of the
    unseen validation classes. With ``head_pretrain_steps`` (homogeneity settings) the Transformer first trains
    alone on cached embeddings (``head_pretraining``). History: lists "step", "train_loss",
    "val_seen_acc", "val_unseen_acc", "val_unseen_eq1" (fractions), "head_history" (the head
    stage's records) and "best_step", "best_val_unseen_acc", "config", "key".
    """
    hs = homogeneity_settings(profile)
    if variant not in VARIANTS:
        raise ValueError(f"variant must be 1 (k = {hs.set_size} images a set) or 2 (k_n uniform in 2..k), got {variant!r}")
    classifier, meta = get_classifier(profile, "seen", trial if classifier_trial is None else classifier_trial,
                                      progress=progress)
    split = class_split(profile)
    train, val = many_class_split(profile, "train"), many_class_split(profile, "val")
    seed = trial_seed(profile.seed, trial)
    device = resolve_device(profile)
    train_sampler = HomogeneitySampler(train.targets.numpy(), hs.set_size, variant, classes=split.seen)
    validation = Validation.draw(profile, variant, seed, val)

    torch.manual_seed(seed)
    model = HomogeneityModel(
        encoder_from_classifier(classifier), feature_dim(classifier),
        hs.transformer_layers, hs.transformer_heads, hs.transformer_head_dim,
    )
    head_state, head_history, head_key = None, [], None
    if hs.head_pretrain_steps:
        head_state, head_history, head_key = pretrain_head(profile, variant, encoder_from_classifier(classifier),
                                                           meta["key"], train, val, seed=seed, progress=progress)
    config = homogeneity_config(profile, variant, meta["key"], train.fingerprint(), val.fingerprint(), seed,
                                model.architecture, head_key)
    key = artifacts.config_hash(config)
    ckpt = artifacts.cache_path(profile, "homogeneity", key, ".pt")
    train_elsewhere_unless_finished(profile, HOMOGENEITY_JOB, runs=[(ckpt, config, hs.homogeneity_steps)],
                                    kwargs={"variant": variant, "trial": trial})
    if head_state is not None:  # the Transformer starts where the head stage ended; the encoder is the classifier's
        load_head(model, head_state)
    result = train_jointly(profile, model, variant, seed, device, train, train_sampler, val, validation, ckpt,
                           config, progress)
    if distributed.context().distributed:  # the best weights are rank 0's file; every rank ends as the caller expects
        distributed.barrier()
    best_step = load_best(model, ckpt, config)
    model.to("cpu").eval()
    model.cache_key = f"{key}-best{best_step}"
    hist = result.history
    history = {
        "step": [r["step"] for r in hist],
        "train_loss": [r.get("train_loss") for r in hist],
        "val_seen_acc": [r["val_seen_acc"] for r in hist],
        "val_unseen_acc": [r["val_unseen_acc"] for r in hist],
        "val_unseen_eq1": [r.get("val_unseen_eq1") for r in hist],
        "head_history": head_history,
        "best_step": best_step,
        # only rank 0 evaluates: the other ranks of a torchrun job hold no history
        "best_val_unseen_acc": next((r["val_unseen_acc"] for r in hist if r["step"] == best_step), None),
        "selected_by": hs.select_by,
        "variant": variant,
        "trial": trial,
        "config": config,
        "key": key,
    }
    return model, history


def overfitting_summary(history: dict) -> dict:
    """Numbers behind Fig. 2 for one homogeneity run, accuracies in %: unseen-class accuracy at
    step 0, at its best step and at the end (and the drop from best to end), seen-class accuracy
    at the same points, the noise margin, and whether the paper's pattern shows.

    ``noise_margin`` is two standard errors of the difference of two accuracies measured on the
    run's fixed validation sets (sqrt(2 p (1 - p) / n) at p = the peak accuracy); the pattern
    shows when the unseen accuracy ends more than that margin below its peak, the peak is not the
    last evaluation, and the seen accuracy still rose after the peak.
    """
    steps = history["step"]
    seen = [100 * v for v in history["val_seen_acc"]]
    unseen = [100 * v for v in history["val_unseen_acc"]]
    best = steps.index(history["best_step"])
    n_sets = history.get("config", {}).get("eval_sets")
    p = unseen[best] / 100
    margin = 100 * 2 * (2 * p * (1 - p) / n_sets) ** 0.5 if n_sets else float("nan")
    out = {
        "variant": history.get("variant"),
        "best_step": steps[best],
        "last_step": steps[-1],
        "unseen_start": unseen[0],
        "unseen_best": unseen[best],
        "unseen_end": unseen[-1],
        "unseen_drop_after_best": unseen[best] - unseen[-1],
        "seen_start": seen[0],
        "seen_at_best": seen[best],
        "seen_end": seen[-1],
        "seen_gain_after_best": seen[-1] - seen[best],
        "noise_margin": margin,
    }
    out["paper_pattern"] = bool(
        best < len(steps) - 1 and out["unseen_drop_after_best"] > margin and out["seen_gain_after_best"] > 0
    )
    return out
