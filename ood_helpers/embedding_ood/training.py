"""Training of paper 002's models through the project's loop (``train.fit``): reconstruction-only
pretraining (Adam), k-means centres matched to labels, then the joint phase
J = J_r + lambda_e J_e + lambda_c J_c with SGD in update intervals (Algorithm 1): at each interval start
the whole training set is scored without gradient, the worst-reconstructed ``sift_fraction`` is left out,
mu' and P are recomputed on the kept points and held fixed for one pass (T steps) over them.

Reduction [ours, spec §1.4/§1.7]: J_r is the per-pixel mean squared error of the batch (``F.mse_loss``),
J_e the KL summed over clusters and averaged over the batch ("batchmean"), J_c the batch-mean
cross-entropy. Every fit call continues one checkpoint keyed by the whole config and a code fingerprint,
so a rerun loads and a changed config or code retrains.

With a profile's ``world_size`` W > 1 both phases run on W processes under torchrun (``pretrain_one``,
``finetune_one``): every rank draws the one-process batch and takes a contiguous share, weighted by its
size (the losses are batch means; the model has no BatchNorm or dropout, so the step is the one-process
step); every rank sifts and recomputes mu' and P from the same weights, rank 0 writes the result.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ood_helpers.core import artifacts, distributed
from ood_helpers.core.launch import train_elsewhere_unless_finished
from ood_helpers.core.data.loading import MicroBatch, Step
from ood_helpers.core.seeding import seed_everything
from ood_helpers.core.train import fit
from ood_helpers.embedding_ood import autoencoder as AE
from ood_helpers.embedding_ood.clustering_loss import (embedding_loss, interpolate_centres, kmeans_label_centres, label_means, student_t_assignment, target_distribution)
from ood_helpers.embedding_ood.sifting import sift
from ood_helpers.core.profile import resolve_device

CACHE_KIND = "embedding-ood"


@dataclass(frozen=True)
class Variant:
    """One model of the ablation ladder; all start from the same pretrained weights and centres."""

    name: str
    lambda_e: float = 0.0
    lambda_c: float = 0.0
    alpha_interp: float = 0.5
    sift_fraction: float = 0.0


def ladder(lambda_e: float = 1.0, lambda_c: float = 1.0, alpha_interp: float = 0.5) -> dict[str, Variant]:
    """AE / AE + classifier / AE + DEC (no labels, alpha 0: IDEC) / full model (spec §2.3)."""
    return {
        "AE": Variant("AE", alpha_interp=alpha_interp),
        "AE + classifier": Variant("AE + classifier", lambda_c=lambda_c, alpha_interp=alpha_interp),
        "AE + DEC": Variant("AE + DEC", lambda_e=lambda_e, alpha_interp=0.0),
        "full": Variant("full", lambda_e=lambda_e, lambda_c=lambda_c, alpha_interp=alpha_interp),
    }


@dataclass(frozen=True)
class Architecture:
    arch: str  # "mlp" | "conv"
    in_shape: tuple[int, ...]
    num_classes: int
    hidden: tuple[int, ...] = (256, 128)
    embed_dim: int = 10
    conv_width: int = 32

    def build(self) -> AE.EmbeddingOODModel:
        return AE.build_model(self.arch, self.in_shape, self.num_classes, hidden=self.hidden,
                              embed_dim=self.embed_dim, conv_width=self.conv_width)


def data_fingerprint(images: torch.Tensor, labels) -> str:
    return artifacts.tensor_digest(images, np.asarray(labels, np.int64))


def check_training_data(images: torch.Tensor, labels, num_classes: int) -> np.ndarray:
    labels = np.asarray(labels, np.int64)
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or not images.is_floating_point():
        raise ValueError(f"images must be a float tensor [N, C, H, W] in [0, 1], got {type(images).__name__} "
                         f"{getattr(images, 'shape', '')}")
    if len(labels) != len(images) or labels.min(initial=0) < 0 or labels.max(initial=0) >= num_classes:
        raise ValueError(f"labels must be {len(images)} ints in 0..{num_classes - 1}, got {len(labels)} "
                         f"in [{labels.min(initial=0)}, {labels.max(initial=0)}]")
    return labels


def _sharded_steps(draw, start: int, stop: int, seed: int, pool_size: int, batch_size: int):
    """fit's ``steps_from``: step s's batch is the s-th ``draw(s, rng)`` of ``default_rng(seed)`` (earlier draws
    replayed from ``pool_size``, whatever the start) and this rank takes its contiguous share, weighted by it."""
    ctx = distributed.context()
    rng = np.random.default_rng(seed)
    for _ in range(start):
        rng.choice(np.arange(pool_size), size=min(batch_size, pool_size), replace=False)
    for s in range(start, stop):
        idx = draw(s, rng)
        mine = np.array_split(np.arange(len(idx)), ctx.world_size)[ctx.rank]
        yield Step(1, iter([MicroBatch(idx[mine], ctx.world_size * len(mine) / len(idx), ctx.rank)]))


def _every_parameter(loss: torch.Tensor, model) -> torch.Tensor:
    """``loss``, plus 0 x every parameter under DDP: fit's DDP expects each parameter in the loss, and pretraining
    (classifier, centres) and the ablation variants leave some out. No value or update changes."""
    if not distributed.context().distributed:
        return loss
    return loss + 0.0 * sum(p.sum() for p in model.parameters())


def _add_world(config: dict, profile) -> dict:
    world = int(getattr(profile, "world_size", 1))
    return {**config, "world_size": world} if world > 1 else config  # one process's keys stay as they were


def _rank_device(profile, device: str) -> str:
    return resolve_device(profile) if device.startswith("cuda") else device


def pretrain_one(profile, payload_file: str, arch: dict, epochs: int, lr: float, batch_size: int, seed: int,
                 kmeans_n_init: int, device: str = "cpu") -> None:
    """One torchrun rank of ``pretrain`` (the ``ood_helpers.core.distributed`` call job it launches)."""
    p = artifacts.load_torch(payload_file)
    pretrain(p["images"], p["labels"], _architecture(arch), epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
             profile=profile, kmeans_n_init=kmeans_n_init, device=_rank_device(profile, device))


def finetune_one(profile, payload_file: str, arch: dict, variant: dict, epochs: int, lr: float, momentum: float,
                 batch_size: int, seed: int, device: str = "cpu") -> None:
    """One torchrun rank of ``finetune`` (the ``ood_helpers.core.distributed`` call job it launches)."""
    p = artifacts.load_torch(payload_file)
    finetune(p["pre"], p["images"], p["labels"], _architecture(arch), Variant(**variant), epochs=epochs, lr=lr,
             momentum=momentum, batch_size=batch_size, seed=seed, profile=profile, device=_rank_device(profile, device))


def _architecture(fields: dict) -> "Architecture":
    return Architecture(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})


def pretrain(images: torch.Tensor, labels, arch: Architecture, *, epochs: int, lr: float, batch_size: int, seed: int,
             profile, kmeans_n_init: int = 20, device: str = "cpu") -> dict:
    """Reconstruction-only pretraining (Adam), then k-means on the pretrained embeddings with centres
    matched to labels. Returns {"state": weights with the matched centres, "kmeans": info, "key": cache key}."""
    labels = check_training_data(images, labels, arch.num_classes)
    config = {"stage": "pretrain", "arch": asdict(arch), "epochs": epochs, "lr": lr, "batch_size": batch_size,
              "seed": seed, "kmeans_n_init": kmeans_n_init, "data": data_fingerprint(images, labels),
              "code": artifacts.code_fingerprint(__name__)}
    config = _add_world(config, profile)
    key = f"pretrain-{artifacts.config_hash(config)}"
    result_path = artifacts.cache_path(profile, CACHE_KIND, key + "-result")
    train_elsewhere_unless_finished(
        profile, "ood_helpers.embedding_ood.training:pretrain_one", results=[result_path],
        payload={"images": images, "labels": labels}, payload_path=result_path.with_name(key + "-data.pt"),
        kwargs={"arch": asdict(arch), "epochs": epochs, "lr": lr, "batch_size": batch_size, "seed": seed,
                "kmeans_n_init": kmeans_n_init, "device": str(device)})
    if result_path.exists():
        return {**artifacts.load_torch(result_path, expect_config=config), "key": key}
    seed_everything(seed)
    model = arch.build()
    x = images.to(device)
    steps = epochs * math.ceil(len(images) / batch_size)

    def loss_fn(m, idx):
        xb = x[torch.from_numpy(idx)]
        return _every_parameter(F.mse_loss(m.autoencoder.decode(m.autoencoder.encode(xb)), xb), m)

    pool = np.arange(len(images))

    def draw(step: int, rng: np.random.Generator) -> np.ndarray:
        return rng.choice(pool, size=min(batch_size, len(pool)), replace=False)

    fit(model, torch.optim.Adam(model.parameters(), lr=lr), loss_fn=loss_fn, steps=steps, config=config,
        ckpt_path=artifacts.cache_path(profile, CACHE_KIND, key), rng=seed, device=device, desc="pretrain AE",
        steps_from=lambda start: _sharded_steps(draw, start, steps, seed, len(pool), batch_size), progress=False)
    if not distributed.context().is_main:  # rank 0 clusters and writes the result
        return {}
    z = AE.score(model, images, device=device)["z"]
    centres, info = kmeans_label_centres(z, labels, arch.num_classes, seed=seed, n_init=kmeans_n_init)
    with torch.no_grad():
        model.centres.copy_(torch.from_numpy(centres))
    out = {"state": {k: v.cpu() for k, v in model.state_dict().items()}, "kmeans": info}
    artifacts.atomic_save_torch(out, result_path, config=config)
    artifacts.cache_path(profile, CACHE_KIND, key).unlink(missing_ok=True)  # the result holds the weights; drop the resume state
    return {**out, "config": config, "key": key}


def joint_loss(model, x, y, p, mu_label, variant: Variant) -> torch.Tensor:
    """J = J_r + lambda_e J_e + lambda_c J_c on one batch (reductions in the module docstring)."""
    z, recon, logits = model(x)
    loss = F.mse_loss(recon, x)
    if variant.lambda_c:
        loss = loss + variant.lambda_c * F.cross_entropy(logits, y)
    if variant.lambda_e:
        q = student_t_assignment(z, interpolate_centres(model.centres, mu_label, variant.alpha_interp))
        loss = loss + variant.lambda_e * embedding_loss(q, p)
    return loss


def finetune(pre: dict, images: torch.Tensor, labels, arch: Architecture, variant: Variant, *, epochs: int, lr: float,
             momentum: float, batch_size: int, seed: int, profile, device: str = "cpu"):
    """The joint phase of ``variant`` from the pretrained weights ``pre`` (Algorithm 1, one interval an epoch).
    Returns (model, log): log["intervals"] holds per interval the dropped indices, the share of argmax-q
    assignments (whole set) that changed and the mean training loss. One ``fit`` call; the interval's sifting,
    mu' and P are recomputed inside the step drawing (``draw``) at every interval start (step % T == 0)."""
    labels = check_training_data(images, labels, arch.num_classes)
    n = len(images)
    n_kept = n - int(round(variant.sift_fraction * n))
    steps_per_interval = math.ceil(n_kept / batch_size)
    config = {"stage": "joint", "pretrain": pre["key"], "variant": asdict(variant), "epochs": epochs, "lr": lr,
              "momentum": momentum, "batch_size": batch_size, "seed": seed, "data": data_fingerprint(images, labels),
              "code": artifacts.code_fingerprint(__name__)}
    config = _add_world(config, profile)
    key = f"joint-{artifacts.config_hash(config)}"
    ckpt = artifacts.cache_path(profile, CACHE_KIND, key)
    result_path = artifacts.cache_path(profile, CACHE_KIND, key + "-result")
    train_elsewhere_unless_finished(
        profile, "ood_helpers.embedding_ood.training:finetune_one", results=[result_path],
        payload={"pre": pre, "images": images, "labels": labels}, payload_path=result_path.with_name(key + "-data.pt"),
        kwargs={"arch": asdict(arch), "variant": asdict(variant), "epochs": epochs, "lr": lr, "momentum": momentum,
                "batch_size": batch_size, "seed": seed, "device": str(device)})
    model = arch.build()
    model.load_state_dict(pre["state"])
    model.to(device)
    if result_path.exists():
        saved = artifacts.load_torch(result_path, expect_config=config)
        model.load_state_dict(saved["state"])
        return model, saved["log"]
    seed_everything(seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    x, y = images.to(device), torch.from_numpy(labels).to(device)
    p_all = torch.zeros(n, arch.num_classes, device=device)
    state = {"kept": None, "mu_label": None, "assign": None}
    intervals = []

    def new_interval(k: int) -> None:
        """Algorithm 1 lines 5-10 from the current weights: score all of X without gradient, sift, recompute
        mu' and P on the kept points; both stay fixed for the next T steps."""
        scored = AE.score(model, images, device=device)
        kept, dropped = sift(scored["error"], variant.sift_fraction)
        z = torch.from_numpy(scored["z"]).to(device)
        kept_t = torch.from_numpy(kept).to(device)
        with torch.no_grad():
            mu_label = label_means(z[kept_t], y[kept_t], arch.num_classes)
            q = student_t_assignment(z, interpolate_centres(model.centres, mu_label, variant.alpha_interp))
            p_all.zero_()
            p_all[kept_t] = target_distribution(q[kept_t])
        assign = q.argmax(1).cpu().numpy()  # over the whole set, so intervals compare the same points
        changed = None if state["assign"] is None else float((state["assign"] != assign).mean())
        state.update(kept=kept, mu_label=mu_label, assign=assign)
        intervals.append({"interval": k, "dropped": dropped, "assignment_change": changed})

    def draw(step: int, rng: np.random.Generator) -> np.ndarray:
        if step % steps_per_interval == 0 or state["kept"] is None:
            new_interval(step // steps_per_interval)
        return rng.choice(state["kept"], size=min(batch_size, len(state["kept"])), replace=False)

    def loss_fn(m, idx):
        t = torch.from_numpy(idx).to(device)
        return _every_parameter(joint_loss(m, x[t], y[t], p_all[t], state["mu_label"], variant), m)

    # checkpoints fall on interval starts only, so a resumed run recomputes P exactly where it stopped
    steps = epochs * steps_per_interval
    result = fit(model, optimizer, loss_fn=loss_fn, steps=steps, ckpt_path=ckpt, config=config,
                 steps_from=lambda start: _sharded_steps(draw, start, steps, seed, n_kept, batch_size), rng=seed,
                 device=device, eval_every=steps_per_interval,
                 checkpoint_every=steps_per_interval * max(1, epochs // 4), desc=f"joint {variant.name}",
                 progress=False)
    if not distributed.context().is_main:  # rank 0 writes the result
        return model, {}
    start = result.resumed_from // steps_per_interval
    losses = {r["step"] // steps_per_interval - 1: r["train_loss"] for r in result.history}
    for rec in intervals:
        rec["train_loss"] = losses.get(rec["interval"])
    log = {"intervals": intervals, "resumed_at_interval": start}
    artifacts.atomic_save_torch({"state": {k: v.cpu() for k, v in model.state_dict().items()}, "log": log},
                                result_path, config=config)
    ckpt.unlink(missing_ok=True)  # the result holds the weights; the optimizer state was only for resuming
    return model, log
