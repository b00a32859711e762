"""The share of a training step spent on augmentation, per training loop, before and after batching (issue 23).

    python benchmarks/bench_augment.py --threads 1                 # every row, ~8 minutes on a shared core
    python benchmarks/bench_augment.py --threads 1 --only quick    # the quick-profile rows alone

Each row is a training loop at its profile's network and batch: "per image" is the augmentation of one step's
batch the way it ran before (torchvision v2 transforms image by image in the step: the cifar contrastive and
cross-entropy recipes until this change; the digits recipes before ``data.batched_views``, re-created here;
CAC's official transform composed per image), "batched" the way it runs now (``contrastive_views.two_views``,
``transforms.batched_train_view``, ``cac.recipe.Preprocess.train_view``), "1 of 2 ranks" the batched share one
of two DDP ranks computes. "fwd+bwd" is one forward and backward of the loop's network and loss on the step's
views (float32, CPU); "share" = augmentation / (augmentation + fwd+bwd). Every time is the median of
``--repeats`` runs after one warm-up, in milliseconds. Other processes move every number: the load average
is printed. Synthetic uint8 images (timing only). No timing is asserted anywhere.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torchvision.transforms import v2

from ood_helpers.cac.network import OSRCIEncoder
from ood_helpers.cac.recipe import Preprocess, recipe_for
from ood_helpers.cluster_distance.encoders import build_encoder
from ood_helpers.cluster_distance.settings import CLUSTER_DISTANCE
from ood_helpers.cac.settings import CAC_SETTINGS
from ood_helpers.core.contrastive import ContrastiveModel, ProjectionHead, contrastive_loss, view_labels
from ood_helpers.core.contrastive_views import two_views, two_views_per_image
from ood_helpers.core.data.transforms import batched_train_view, train_transform


@dataclass
class Loop:
    name: str
    profile: str
    batch: int  # images a step
    shape: tuple[int, int, int]  # C, H, W
    per_image: Callable[[torch.Tensor, int], torch.Tensor]
    batched: Callable[[torch.Tensor, int, torch.Tensor | None], torch.Tensor]
    step: Callable[[torch.Tensor], None]  # forward + backward on the step's views


def _v2_loop(transform: v2.Transform, views: int = 1):
    """An augmentation image by image, ``views`` times, torch's generator seeded per step (the old code's way)."""
    def run(images: torch.Tensor, seed: int) -> torch.Tensor:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            out = [torch.stack([transform(img) for img in images]) for _ in range(views)]
        return torch.cat(out).float().div_(255.0)
    return run


def _classifier_step(net: torch.nn.Module, classes: int):
    net.train()

    def step(x: torch.Tensor) -> None:
        net.zero_grad(set_to_none=True)
        F.cross_entropy(net(x), torch.arange(len(x)) % classes).backward()
    return step


def _contrastive_step(encoder: torch.nn.Module, hidden: int, out: int):
    model = ContrastiveModel(encoder, ProjectionHead(encoder.out_dim, hidden, out)).train()
    criterion = contrastive_loss("simclr", 0.1)

    def step(views: torch.Tensor) -> None:
        model.zero_grad(set_to_none=True)
        criterion(model(views), view_labels(None, len(views) // 2)).backward()
    return step


def contrastive_loops(profile: str) -> list[Loop]:
    s = CLUSTER_DISTANCE[profile]
    arch = "resnet18" if profile == "cifar" else "cnn"
    channels, size = (3, (32, 32)) if profile == "cifar" else (1, (28, 56))
    recipe = "cifar" if profile == "cifar" else "digits"
    per_image = ((lambda x, seed: two_views_per_image(x, "cifar", seed)) if recipe == "cifar" else _v2_loop(
        v2.Compose([v2.RandomResizedCrop(size, scale=(0.6, 1.0), ratio=(1.5, 8 / 3), antialias=True),
                    v2.RandomRotation(15)]), views=2))
    step = _contrastive_step(build_encoder(arch, channels, s, 0), s.head_hidden, s.head_out)
    ce_step = _classifier_step(_with_fc(build_encoder(arch, channels, s, 0), 10), 10)
    ce_per_image = _v2_loop(train_transform(recipe, size))
    return [
        Loop(f"contrastive ({recipe} recipe, {arch})", profile, s.batch_size, (channels, *size), per_image,
             lambda x, seed, rows: two_views(x, recipe, seed, rows=rows), step),
        Loop(f"cluster-distance CE ({recipe} recipe, {arch})", profile, s.batch_size, (channels, *size), ce_per_image,
             lambda x, seed, rows: batched_train_view(recipe, x, torch.Generator().manual_seed(seed), rows=rows),
             ce_step),
    ]


def _with_fc(encoder: torch.nn.Module, classes: int) -> torch.nn.Module:
    return torch.nn.Sequential(encoder, torch.nn.Flatten(), torch.nn.Linear(encoder.out_dim, classes))


def cac_loop(profile: str) -> Loop:
    s = CAC_SETTINGS[profile]
    dataset = s.datasets[0] if profile == "quick" else "cifar10"
    r = recipe_for(dataset, width=s.width)
    channels = 1 if dataset == "mnist5k" else 3
    net = OSRCIEncoder(10, channels, r.image_size, r.width, r.dropout)
    pre = Preprocess(r, torch.randint(0, 256, (64, channels, r.image_size, r.image_size), dtype=torch.uint8))
    official = [v2.RandomResizedCrop(r.image_size, scale=(r.crop_min, 1.0), antialias=True)]
    official += [v2.RandomHorizontalFlip(r.hflip)] if r.hflip else []
    official += [v2.RandomRotation(r.rotation)] if r.rotation else []
    per_image = _v2_loop(v2.Compose(official))
    return Loop(f"CAC ({dataset}: crop {r.crop_min}, flip {r.hflip}, rotation {r.rotation}, OSRCI x{r.width})", profile,
                r.batch_size, (channels, r.image_size, r.image_size), lambda x, seed: (per_image(x, seed) - pre.mean) / pre.std,
                lambda x, seed, rows: pre.train_view(x, seed, rows), _classifier_step(net, 10))


def median_ms(fn: Callable[[int], object], repeats: int) -> float:
    fn(0)  # warm-up
    times = []
    for k in range(repeats):
        start = time.perf_counter()
        fn(k + 1)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def measure(loop: Loop, repeats: int) -> dict:
    images = torch.randint(0, 256, (loop.batch, *loop.shape), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    views = loop.batched(images, 0, None)
    n = len(views)
    half = torch.arange(n // 2) if n == loop.batch else torch.cat([torch.arange(loop.batch // 2),
                                                                    loop.batch + torch.arange(loop.batch // 2)])
    row = {"per image": median_ms(lambda k: loop.per_image(images, k), repeats),
           "batched": median_ms(lambda k: loop.batched(images, k, None), repeats),
           "1 of 2 ranks": median_ms(lambda k: loop.batched(images, k, half), repeats),
           "fwd+bwd": median_ms(lambda k: loop.step(views), max(2, repeats // 2))}
    row["share before"] = row["per image"] / (row["per image"] + row["fwd+bwd"])
    row["share after"] = row["batched"] / (row["batched"] + row["fwd+bwd"])
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", choices=("quick", "cifar"), default=None, help="the rows of one profile")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor()) if os.path.exists("/proc/cpuinfo") else platform.processor()
    print(f"# {cpu}; torch {torch.__version__}, {args.threads} thread(s); load average {os.getloadavg()}")
    profiles = [args.only] if args.only else ["quick", "cifar"]
    print("| loop | profile | images a step | per image ms | batched ms | 1 of 2 ranks ms | fwd+bwd ms | "
          "share before | share after |")
    print("|---|---|---|---|---|---|---|---|---|")
    for profile in profiles:
        for loop in [*contrastive_loops(profile), cac_loop(profile)]:
            r = measure(loop, args.repeats)
            print(f"| {loop.name} | {profile} | {loop.batch} | {r['per image']:.1f} | {r['batched']:.1f} | "
                  f"{r['1 of 2 ranks']:.1f} | {r['fwd+bwd']:.0f} | {100 * r['share before']:.0f} % | "
                  f"{100 * r['share after']:.0f} % |", flush=True)
    print(f"# load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
