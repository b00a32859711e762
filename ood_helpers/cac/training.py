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

import math
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.transforms import RandomResizedCrop

from ood_helpers.core import artifacts, distributed
from ood_helpers.core.data.loading import MicroBatch, Step, rank_micro_ids
from ood_helpers.core.launch import train_elsewhere_unless_finished
from ood_helpers.core.profile import resolve_device
from ood_helpers.core.train import fit, load_best
from ood_helpers.cac.data import TrialData
from ood_helpers.cac.loss import ALPHA, LAMBDA, anchor_term, anchors, cac_loss, distances
from ood_helpers.cac.network import DigitsMLP, OSRCIEncoder
from ood_helpers.cac.peer import peer_loss

LOSSES = ("cac", "anchor", "tuplet", "ce", "peer")  # peer = pytorch-ood's CACLoss (see ``peer``)


@dataclass(frozen=True)
class Recipe:
    """Per-dataset training details (paper Table 4 and the official config; spec 2.2-2.3)."""

    epochs: tuple[int, ...]  # one entry per stage
    lrs: tuple[float, ...]
    weight_decay: float
    dropout: float = 0.2
    image_size: int = 32
    crop_min: float = 0.7  # RandomResizedCrop scale (crop_min, 1); 0 = no augmentation
    hflip: float = 0.0
    rotation: float = 0.0
    flip_anchors: bool = False  # anchors also from horizontally flipped training images (non-digit sets)
    network: str = "osrci"  # osrci | mlp
    batch_size: int = 128
    width: float = 1.0


RECIPES = {
    # the paper gives MNIST / SVHN one stage (the code config a second; we follow the paper)
    "mnist": Recipe((35,), (0.01,), 5e-6),
    "svhn": Recipe((50,), (0.01,), 5e-6),
    "cifar10": Recipe((150, 50), (0.01, 0.001), 5e-6, crop_min=0.8, hflip=0.5, rotation=10, flip_anchors=True),
    "cifar+": Recipe((150, 50), (0.01, 0.001), 5e-4, crop_min=0.8, hflip=0.5, flip_anchors=True),
    "tinyimagenet": Recipe((500, 300), (0.01, 0.001), 1e-3, dropout=0.3, image_size=64, crop_min=0.7, hflip=0.5,
                           rotation=20, flip_anchors=True),
    # stand-ins: MNIST-5000 as MNIST; sklearn digits with the MLP, no augmentation [A]
    "mnist5k": Recipe((35,), (0.01,), 5e-6),
    "digits": Recipe((60,), (0.01,), 5e-6, image_size=8, crop_min=0.0, network="mlp", batch_size=32),
}


def recipe_for(dataset: str, **changes) -> Recipe:
    key = "cifar+" if dataset.startswith("cifar+") else dataset
    if key not in RECIPES:
        raise ValueError(f"no CAC recipe for {dataset!r}; known: {', '.join(RECIPES)}")
    return replace(RECIPES[key], **changes)


def build_network(recipe: Recipe, num_classes: int, channels: int) -> torch.nn.Module:
    if recipe.network == "mlp":
        return DigitsMLP(num_classes, in_features=channels * recipe.image_size ** 2, dropout=recipe.dropout)
    return OSRCIEncoder(num_classes, channels, recipe.image_size, recipe.width, recipe.dropout)


class Preprocess:
    """uint8 images -> resized to the recipe's size, normalised by the known-class training statistics
    (per trial, as the official config), and augmented for training."""

    def __init__(self, recipe: Recipe, x_train: torch.Tensor):
        self.recipe = recipe
        x = self.resize(x_train)
        self.mean = x.mean(dim=(0, 2, 3), keepdim=True)
        self.std = x.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)

    def resize(self, images: torch.Tensor) -> torch.Tensor:
        """float [0, 1] at the recipe's size (MNIST's 28 px are interpolated to 32, not padded)."""
        x = images.float() / 255.0
        if x.shape[-1] != self.recipe.image_size:
            x = F.interpolate(x, size=(self.recipe.image_size,) * 2, mode="bilinear", align_corners=False)
        return x

    def eval_view(self, images: torch.Tensor, flip: bool = False) -> torch.Tensor:
        x = self.resize(images)
        return ((x.flip(-1) if flip else x) - self.mean) / self.std

    def train_view(self, images: torch.Tensor, seed: int, rows=None) -> torch.Tensor:
        """The training view of ``images[rows]`` (all rows by default), augmented as those rows of the whole
        batch ``images``: a process that takes a share of the batch gets the same images as one taking all."""
        x = self.resize(images if rows is None else images[torch.as_tensor(rows)])
        if self.recipe.crop_min > 0 or self.recipe.hflip > 0 or self.recipe.rotation > 0:
            with torch.random.fork_rng(devices=[]):  # augmentation draws from (step's) seed only: resumable
                torch.manual_seed(seed)
                x = self.augment_batch(x, len(images), rows)
        return (x - self.mean) / self.std

    def augment_batch(self, x: torch.Tensor, batch: int | None = None, rows=None) -> torch.Tensor:
        """RandomResizedCrop(scale (crop_min, 1), ratio 3/4-4/3) -> RandomHorizontalFlip -> RandomRotation (fill 0),
        as the official transform, but for a whole batch in one ``grid_sample``: each image's three maps are
        composed into one affine map of normalised coordinates. The crop boxes come from torchvision's own
        sampler. Equal to torchvision's resized_crop + hflip + rotate except on the outermost pixels of a crop,
        which read the true neighbours instead of repeating the box's edge. One ``v2`` call per image cost as
        much as the CPU training step itself. With ``rows``, ``x`` holds those rows of a batch of ``batch``
        images: the maps are drawn for the whole batch and those rows' maps applied."""
        _, _, h_img, w_img = x.shape
        n = len(x) if batch is None else int(batch)
        r = self.recipe
        m = torch.eye(3, dtype=torch.float64).repeat(n, 1, 1)
        if r.crop_min > 0:  # output -> crop box: pixel i samples (i + 0.5) * h / S + top - 0.5, as resized_crop
            for k in range(n):
                top, left, h, w = RandomResizedCrop.get_params(x[0], (r.crop_min, 1.0), (3 / 4, 4 / 3))
                m[k] = torch.tensor([[w / w_img, 0, (2 * left + w) / w_img - 1], [0, h / h_img, (2 * top + h) / h_img - 1],
                                     [0, 0, 1]], dtype=torch.float64)
        if r.hflip > 0:
            flip = torch.rand(n) < r.hflip
            m[flip, :, 0] *= -1
        if r.rotation > 0:
            angle = torch.empty(n, dtype=torch.float64).uniform_(-r.rotation, r.rotation) * math.pi / 180
            rot = torch.eye(3, dtype=torch.float64).repeat(n, 1, 1)
            rot[:, 0, 0], rot[:, 0, 1], rot[:, 1, 0], rot[:, 1, 1] = angle.cos(), -angle.sin(), angle.sin(), angle.cos()
            m = m @ rot
        if rows is not None:
            m = m[torch.as_tensor(rows)]
        size = (len(x), x.shape[1], r.image_size, r.image_size)
        grid = F.affine_grid(m[:, :2].to(x.dtype), list(size), align_corners=False)
        # a crop alone repeats its border (as resize does); a rotation fills the corners with 0 (as RandomRotation)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros" if r.rotation > 0 else "border",
                             align_corners=False)


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
    peer_criterion = None
    if loss == "peer":
        peer_criterion = peer_loss(data.num_classes, alpha, lbda).to(device)
        peer_eval = peer_loss(data.num_classes, alpha, lbda)  # validation logits come back on the CPU
    # a last batch with a part of 1 image would break BatchNorm: dropped
    per_epoch = n // batch + (1 if n % batch >= 2 * parts else 0)
    ctx = distributed.context()
    ids = rank_micro_ids(parts, ctx.rank, ctx.world_size)

    def micro(step: int, aug_seed: int):
        epoch, i = divmod(step, per_epoch)
        order = np.random.default_rng([seed, epoch]).permutation(n)
        idx = torch.as_tensor(np.sort(order[i * batch:(i + 1) * batch]))
        images, cuts = data.x_train[idx], np.array_split(np.arange(len(idx)), parts)
        for j in ids:  # weights: the step minimises the mean loss over the whole batch (DDP averages ranks)
            yield MicroBatch((pre.train_view(images, aug_seed, cuts[j]), data.y_train[idx[cuts[j]]]),
                             ctx.world_size * len(cuts[j]) / len(idx), j)

    def steps_from(offset: int, stage: int, steps: int):
        # the augmentation seed of step s is the s-th draw of default_rng(seed + stage), as fit's rng gave
        aug = np.random.default_rng(seed + stage).integers(2**62, size=steps)
        return lambda start: (Step(len(ids), micro(s + offset, int(aug[s]))) for s in range(start, steps))

    def eval_fn(step):
        z = logits_of(model, x_val)
        if loss == "ce":
            return {"val_acc": float((z.argmax(1) == data.y_val).double().mean())}
        if loss == "peer":
            return {"val_anchor": float(peer_eval.distance(z).gather(1, data.y_val.view(-1, 1)).mean())}
        return {"val_anchor": float(anchor_term(distances(z, centres), data.y_val))}

    metric, mode = ("val_acc", "max") if loss == "ce" else ("val_anchor", "min")
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
