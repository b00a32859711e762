"""The three training methods of notebook 08 on one encoder: cross-entropy, SupCon, SimCLR; cached, timed.

SupCon and SimCLR are ``contrastive.train_contrastive``. Cross-entropy is trained here through the same
``train.fit`` with the same batch drawing and seeding rather than through ``classifier.train_classifier``,
which builds only the ResNet-18 from Profile fields: the cost comparison (claim C5) needs the three
methods on the same encoders, batches and loop. Each model's wall-clock training time is kept beside its
checkpoint, so a cached rerun still reports it. A linear probe (scikit-learn logistic regression on the
frozen embedding) gives the contrastive models' accuracy and predicted classes.

Given a ``Profile`` with ``world_size`` W > 1 (instead of its name), both train on W processes under
torchrun: cross-entropy as CAC does (each rank takes its contiguous share of the one-process batch,
weighted by its size), the contrastive losses as ``contrastive`` describes.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ood_helpers.core import artifacts, distributed
from ood_helpers.core.launch import train_elsewhere_unless_finished
from ood_helpers.core.contrastive import ContrastiveSpec, train_contrastive
from ood_helpers.core.data.loading import MicroBatch, Step, rank_micro_ids
from ood_helpers.core.data.transforms import batched_train_view
from ood_helpers.core.train import fit, micro_seed
from ood_helpers.cluster_distance.encoders import build_encoder
from ood_helpers.core.embed import weights_fingerprint
from ood_helpers.core.profile import resolve_device

METHODS = ("ce", "supcon", "simclr")
METHOD_NAMES = {"ce": "CE", "supcon": "SupCon", "simclr": "SimCLR"}


@dataclass
class TrainedModel:
    method: str
    arch: str
    encoder: nn.Module  # eval mode, CPU
    head: nn.Module | None  # CE: the linear classifier; contrastive: the projection head
    key: str
    seconds: float
    steps: int


class _Classifier(nn.Module):
    def __init__(self, encoder: nn.Module, num_classes: int):
        super().__init__()
        self.encoder, self.fc = encoder, nn.Linear(encoder.out_dim, num_classes)

    def forward(self, x):
        return self.fc(self.encoder(x))


def train_cross_entropy(encoder: nn.Module, images: torch.Tensor, labels, *, num_classes: int, steps: int,
                        batch_size: int, lr: float, recipe: str, profile_name, seed: int,
                        device: str = "cpu", progress: bool = False,
                        micro_batches: int | None = None) -> tuple[nn.Module, str, float]:
    """(trained classifier (``.encoder``, ``.fc``), cache key, training seconds) of softmax cross-entropy
    with the standard augmentation (``data.transforms``: digits = RandomCrop pad 2, cifar = crop pad 4 + flip),
    batched with per-image parameters on ``device`` (``transforms.batched_train_view``).
    ``profile_name``: a profile's name, or the Profile (its ``world_size`` > 1 trains under torchrun). A step's
    batch is cut into ``micro_batches`` contiguous parts (default: ``world_size``), one forward / backward each."""
    labels = torch.as_tensor(np.asarray(labels)).long()
    n = len(images)
    batch = min(batch_size, n)
    parts = distributed.micro_parts(profile_name, micro_batches, batch)
    config = {"kind": "cluster-distance-ce", "code": artifacts.code_fingerprint(__name__),
              "data": artifacts.tensor_digest(images), "labels": artifacts.tensor_digest(labels), "num_classes": int(num_classes),
              "encoder": {"architecture": repr(encoder), "init_weights": weights_fingerprint(encoder)},
              "steps": int(steps), "batch_size": int(batch_size), "lr": float(lr), "recipe": recipe, "seed": int(seed)}
    config = distributed.with_shards(config, profile_name, parts)
    key = artifacts.config_hash(config)
    ckpt = artifacts.cache_path(profile_name, "cluster_distance_ce", key, ".pt")
    meta = ckpt.with_suffix(".meta.json")
    train_elsewhere_unless_finished(
        profile_name, "ood_helpers.cluster_distance.training:train_ce_one", runs=[(ckpt, config, steps)],
        payload={"encoder": encoder, "images": images, "labels": labels}, payload_path=ckpt.with_suffix(".data.pt"),
        kwargs={"num_classes": int(num_classes), "steps": int(steps), "batch_size": int(batch_size), "lr": float(lr),
                "recipe": recipe, "seed": int(seed), "device": str(device), "micro_batches": parts})
    torch.manual_seed(int(seed))
    model = _Classifier(encoder, num_classes)
    if lr >= 0.01:
        optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    total = max(steps, 1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
    ctx = distributed.context()
    cuts = np.array_split(np.arange(batch), parts)
    ids = rank_micro_ids(parts, ctx.rank, ctx.world_size)
    rows = torch.from_numpy(np.concatenate([cuts[j] for j in ids]))  # this rank's share of the batch

    def step_at(step: int, rng: np.random.Generator) -> Step:
        idx = torch.from_numpy(rng.choice(n, size=batch, replace=False))
        # the parameters of the whole batch (the one-process views) from (seed, step); only this rank's share computed
        x = batched_train_view(recipe, images[idx], torch.Generator().manual_seed(micro_seed(seed, step, 1 << 20)),
                               rows=rows, device=device)
        xs, y = torch.split(x, [len(cuts[j]) for j in ids]), labels[idx]
        # weights: the step minimises the mean loss over the whole batch (DDP averages the ranks)
        return Step(len(ids), iter([MicroBatch((x_j, y[cuts[j]]), ctx.world_size * len(cuts[j]) / batch, j)
                                    for x_j, j in zip(xs, ids)]))

    def steps_from(start: int):
        rng = np.random.default_rng(int(seed))
        for _ in range(start):  # replay: step s draws its images as the s-th draw, whatever the start
            rng.choice(n, size=batch, replace=False)
        return (step_at(s, rng) for s in range(start, steps))

    def loss_fn(net, data):
        x, y = data
        return F.cross_entropy(net(x.to(device)), y.to(device))

    result = fit(model, optimizer, loss_fn=loss_fn, steps_from=steps_from, steps=steps, ckpt_path=ckpt, config=config,
                 seed=seed, rng=int(seed), device=device, scheduler=scheduler, checkpoint_every=max(steps // 4, 1),
                 eval_every=max(steps // 10, 1), desc=f"CE {n} images", progress=progress)
    if (result.resumed_from < steps or not meta.exists()) and ctx.is_main:
        before = json.loads(meta.read_text())["seconds"] if result.resumed_from and meta.exists() else 0.0
        artifacts.atomic_write_text(meta, json.dumps({"seconds": before + result.seconds, "steps": steps}))
    distributed.barrier()
    model.to("cpu").eval()
    return model, key, float(json.loads(meta.read_text())["seconds"])


def train_ce_one(profile, payload_file: str, num_classes: int, steps: int, batch_size: int, lr: float, recipe: str,
                 seed: int, device: str = "cpu", micro_batches: int | None = None) -> None:
    """One torchrun rank of ``train_cross_entropy`` (the ``ood_helpers.core.distributed`` call job it launches)."""
    p = artifacts.load_torch(payload_file)
    train_cross_entropy(p["encoder"], p["images"], p["labels"], num_classes=num_classes, steps=steps,
                        batch_size=batch_size, lr=lr, recipe=recipe, profile_name=profile, seed=seed,
                        device=resolve_device(profile) if device.startswith("cuda") else device,
                        progress=distributed.context().is_main, micro_batches=micro_batches)


def train_method(method: str, arch: str, split, settings, *, profile_name, seed: int, device: str = "cpu",
                 progress: bool = False) -> TrainedModel:
    """``method`` ("ce" | "supcon" | "simclr") on a fresh ``arch`` encoder over ``split.train``; ``profile_name``:
    a profile's name, or the Profile (its ``world_size`` > 1 trains under torchrun)."""
    if method not in METHODS:
        raise ValueError(f"unknown training method {method!r}; expected one of {METHODS}")
    images, labels = split.train.images, split.train.targets
    encoder = build_encoder(arch, int(images.shape[1]), settings, seed)
    if method == "ce":
        model, key, seconds = train_cross_entropy(
            encoder, images, labels, num_classes=split.num_classes, steps=settings.ce_steps,
            batch_size=settings.batch_size, lr=settings.ce_lr, recipe=split.recipe, profile_name=profile_name,
            seed=seed, device=device, progress=progress)
        return TrainedModel(method, arch, model.encoder, model.fc, key, seconds, settings.ce_steps)
    spec = ContrastiveSpec(loss=method, steps=settings.contrastive_steps, batch_size=settings.batch_size,
                           lr=settings.contrastive_lr, optimizer="sgd" if settings.contrastive_lr >= 0.01 else "adam",
                           temperature=settings.temperature, head_hidden=settings.head_hidden,
                           head_out=settings.head_out, augment=split.recipe)
    res = train_contrastive(encoder, images, labels if method == "supcon" else None, spec=spec,
                            profile=profile_name, seed=seed, device=device, progress=progress)
    return TrainedModel(method, arch, res.encoder, res.head, res.key, res.seconds, settings.contrastive_steps)


class ProjectionEncoder(nn.Module):
    """Images -> L2-normalised projection-head output of a contrastive model (the 'projection' embedding)."""

    def __init__(self, encoder: nn.Module, head: nn.Module):
        super().__init__()
        self.encoder, self.head = encoder, head

    def forward(self, x):
        return F.normalize(self.head(self.encoder(x).flatten(1)), dim=1)


def linear_probe(train_feats, train_labels, *queries, seed: int = 0):
    """(fitted scikit-learn pipeline, [predicted labels of each query array]): standardised features ->
    multinomial logistic regression, fit on the training embeddings only."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    # tol 1e-3 instead of scikit-learn's 1e-4: on notebook 08's quick embeddings half the L-BFGS iterations
    # (a second instead of two for 80 classes) and the same test accuracy within 0.3 points (measured 2026-11-25)
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500, tol=1e-3, random_state=seed))
    probe.fit(np.asarray(train_feats), np.asarray(train_labels))
    return probe, [probe.predict(np.asarray(q)) for q in queries]
