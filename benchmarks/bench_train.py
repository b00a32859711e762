"""Training throughput, measured (issue 9 item 6): images (or sets) a second that the streaming
DataLoader delivers, and that whole training steps consume.

    python benchmarks/bench_train.py --quick                                  # ~1 min on 2 CPU cores
    python benchmarks/bench_train.py --workers 0,1,2 --steps 10 --json bench_train.json
    python benchmarks/bench_train.py --workers 0,8,16 --cifar-dir ~/cifar10 --json gpu.json  # GPU rows too

Every rate is the median of ``--repeats`` timed runs of ``--steps`` steps after ``--warmup``
steps (worker start-up, first allocations); "wall s" is the median run's duration.

1. loader: images/s of ``step_loader(AugmentedView(data, recipe, size), ImageStepPlanner.plan)`` alone
   (read or decode, per-sample augmentation, collation; no model), ``--batch`` images a step, at each
   ``--workers`` count: MNIST-pairs (in memory, recipe none), CIFAR-10 (in memory, recipe cifar; real
   with --cifar-dir / OOD_CIFAR10_DIR, else a synthetic uint8 set, named so) and an on-disk JPEG folder
   in ImageNet layout (FolderImageSet, recipe imagenet: RandomResizedCrop(--crop) of each decoded
   file; --imagenet-dir, else generated in a temp dir with a temp OOD_DATA_DIR for its file list).
2. classifier: images/s of whole ``train.fit`` steps built as ``train_classifier`` builds them
   (loader, to device, forward, backward, optimizer): the quick profile's ResNet-18 (width 16,
   stride-2 stem) on MNIST-pairs, a small-stem ResNet-18 of ``--width`` on CIFAR. "of loader" = this
   rate / the loader's rate for the same data, batch and workers (the issue's goal: >= 80 % on a
   GPU; on a CPU the network, not the loader, sets the pace).
3. homogeneity: sets/s and image slots/s (sets/s x k) of ``fit`` steps of the quick profile's
   class-homogeneity model (k = 10, 32 sets a step) built as ``homogeneity.training.get_homogeneity_model``
   builds them, the 32 sets at once ("whole") or accumulated over micro-batches of 16 / 8 sets.
4. GPU only (``--device cpu --gpu-rows`` runs it at tiny sizes as a logic check; its numbers mean
   nothing): ResNet-18 of width 64 with AMP (fp16 autocast + GradScaler) at 32 px (small stem, CIFAR)
   and 224 px (standard stem, JPEG folder), ``--gpu-batch`` images a step, at the largest --workers:
   loader, "model alone" (the same fit step on one batch kept on the GPU) and classifier rates; then
   the peak ``torch.cuda.max_memory_allocated`` (weights, Adam state, activations) and sets/s of one
   homogeneity training step of 8 / 16 / 32 / 64 sets x 25 distinct images at 224 px (width 64,
   6 layers x 16 heads x 64): the largest ``micro_batch_sets`` the GPU holds.

Torch threads: ``--threads``, by default max(1, cores - the largest --workers) for every row, so
rows differ only in workers and the trainer's threads never outnumber the cores the loader's
processes (one thread each) leave free: on 2 cores with another process busy, 2 trainer threads ran
often 20x slower than 1. Other processes move every number (the load average is printed); run
without --quick on a GPU. No timing is asserted anywhere.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ood_helpers.core.data import ImageSet, class_split, load_dataset
from ood_helpers.core.data.loading import (AugmentedView, EvalView, ImageStepPlanner, LoaderSettings, MicroBatch, Step, group_steps, step_loader)
from ood_helpers.core.data.transforms import normalisation, to_float
from ood_helpers.homogeneity.loss import homogeneity_bce
from ood_helpers.homogeneity.model import HomogeneityModel
from ood_helpers.core.networks.resnet import build_resnet18, encoder_from_classifier, feature_dim
from ood_helpers.homogeneity.training import homogeneity_optimizer
from ood_helpers.core.profile import Profile, get_profile
from ood_helpers.homogeneity.sampling import HomogeneitySampler, SetStepPlanner
from ood_helpers.homogeneity.classifier import classifier_optimizer
from ood_helpers.core.train import fit
from ood_helpers.homogeneity.settings import homogeneity_settings

CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


@dataclass
class Workload:
    """A classifier's data and network (``profile``: width, stem, optimizer and schedule)."""

    name: str
    data: ImageSet
    recipe: str
    size: tuple[int, int]
    profile: Profile


def runs(marks: list[float], args) -> list[float]:
    """Durations of the timed runs, from ``marks[s]`` = the time step s began."""
    first, n = args.warmup, args.steps
    return [marks[first + (r + 1) * n] - marks[first + r * n] for r in range(args.repeats)]


def loader_walls(view, planner, settings: LoaderSettings, args) -> list[float]:
    """Timed runs of the DataLoader alone: every micro-batch of every step drawn and dropped."""
    total = args.warmup + args.repeats * args.steps
    batches, marks = iter(step_loader(view, planner.plan, planner.micro_per_step, 0, total, settings)), []
    for _ in range(total):
        marks.append(time.perf_counter())
        for _ in range(planner.micro_per_step):
            next(batches)
    marks.append(time.perf_counter())
    del batches  # stops the workers
    return runs(marks, args)


def fit_walls(model, optimizer, loss_fn, steps_from, args, device: str, scheduler=None) -> list[float]:
    """Timed runs of ``train.fit`` (plus a last, untimed step that holds its checkpoint save)."""
    total, marks = args.warmup + args.repeats * args.steps, []

    def timed(start: int):
        for step in steps_from(start, total + 1):
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            marks.append(time.perf_counter())
            yield step

    with tempfile.TemporaryDirectory() as tmp:
        fit(model, optimizer, loss_fn=loss_fn, steps=total + 1, ckpt_path=Path(tmp) / "bench.pt",
            config={"bench": "train"}, steps_from=timed, seed=0, device=device, amp=device.startswith("cuda"),
            scheduler=scheduler, progress=False)
    return runs(marks, args)


def classifier_parts(work: Workload, batch: int, settings: LoaderSettings, device: str):
    """(planner, view, steps_from(start, stop)) as ``classifier.train_classifier`` builds them."""
    planner = ImageStepPlanner(len(work.data), batch, batch, seed=0)
    view = AugmentedView(work.data, work.recipe, work.size)

    def prepare(step, j, loaded):
        x, y = loaded
        return to_float(x.to(device, non_blocking=True)), y.to(device, non_blocking=True)

    def steps_from(start, stop):
        loader = step_loader(view, planner.plan, planner.micro_per_step, start, stop, settings)
        return group_steps(loader, start, stop, range(planner.micro_per_step), prepare)

    return planner, view, steps_from


def classifier_walls(work: Workload, batch: int, settings, args, device: str, model_alone=False) -> list[float]:
    p = work.profile
    torch.manual_seed(0)
    model = build_resnet18(len(work.data.classes), work.data.image_shape[0], p.resnet_width, p.small_stem,
                           normalize=normalisation(work.recipe))
    optimizer, scheduler = classifier_optimizer(model, p)
    steps_from = classifier_parts(work, batch, settings, device)[2]
    if model_alone:  # one batch, loaded once, stays on the device
        one = next(next(steps_from(0, 1)).micro).data
        steps_from = lambda start, stop: (Step(1, iter([MicroBatch(one, 1.0, 0)])) for _ in range(start, stop))
    return fit_walls(model, optimizer, lambda net, b: F.cross_entropy(net(b[0]), b[1]), steps_from, args, device,
                     scheduler)


def homogeneity_walls(train: ImageSet, micro: int, settings, args, device: str) -> list[float]:
    """Timed runs of the quick profile's homogeneity steps, built as ``get_homogeneity_model`` builds them."""
    p = get_profile("quick", micro_batch_sets=micro)
    torch.manual_seed(0)
    classifier = build_resnet18(p.class_split[0], p.channels, p.resnet_width, p.small_stem)
    model = HomogeneityModel(encoder_from_classifier(classifier), feature_dim(classifier), homogeneity_settings(p).transformer_layers,
                             homogeneity_settings(p).transformer_heads, homogeneity_settings(p).transformer_head_dim)
    sampler = HomogeneitySampler(train.targets.numpy(), homogeneity_settings(p).set_size, 1, classes=class_split(p).seen)
    planner = SetStepPlanner(sampler, homogeneity_settings(p).set_batch_size, p.micro_batch_sets or homogeneity_settings(p).set_batch_size, [0, 1])
    view = EvalView(train)

    def prepare(step, j, loaded):
        b = planner.plan(step)[j]
        return (to_float(loaded[0].to(device, non_blocking=True)), b.index.to(device), b.lengths.to(device),
                b.targets.to(device))

    def steps_from(start, stop):
        loader = step_loader(view, planner.keys, planner.micro_per_step, start, stop, settings)
        return group_steps(loader, start, stop, range(planner.micro_per_step), prepare)

    def loss_fn(net, batch):
        images, index, lengths, targets = batch
        return homogeneity_bce(net.pool_logits(images, index, lengths), targets, lengths)

    return fit_walls(model, homogeneity_optimizer(model, p), loss_fn, steps_from, args, device)


def set_step_memory(n_sets: int, k: int, px: int, arch: tuple[int, int, int, int], args, device: str):
    """(timed single steps, peak MiB or None) of homogeneity training on ``n_sets`` x ``k`` distinct images."""
    cuda, (width, layers, heads, head_dim) = device.startswith("cuda"), arch
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    torch.manual_seed(0)
    classifier = build_resnet18(800, 3, width, False, normalize=normalisation("imagenet"))
    model = HomogeneityModel(encoder_from_classifier(classifier), feature_dim(classifier), layers, heads,
                             head_dim).to(device).train()
    optimizer, scaler = homogeneity_optimizer(model, get_profile("paper")), torch.amp.GradScaler("cuda", enabled=cuda)
    images = torch.randint(0, 256, (n_sets * k, 3, px, px), dtype=torch.uint8, device=device)
    index = torch.arange(n_sets * k, device=device).reshape(n_sets, k)
    lengths, targets = torch.full((n_sets,), k, device=device), (torch.arange(n_sets, device=device) % 2).float()
    marks = []
    for _ in range(args.warmup + args.repeats + 1):
        if cuda:
            torch.cuda.synchronize()
        marks.append(time.perf_counter())
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device_type="cuda", dtype=torch.float16, enabled=cuda):
            loss = homogeneity_bce(model.pool_logits(to_float(images), index, lengths), targets, lengths)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    walls = [marks[args.warmup + r + 1] - marks[args.warmup + r] for r in range(args.repeats)]
    return walls, torch.cuda.max_memory_allocated() / 2**20 if cuda else None


def load_folder(args, tmp: Path):
    """(FolderImageSet, name): --imagenet-dir's training images, else ``--jpegs`` generated 4:3 JPEGs
    (smooth colour blobs plus noise) of 4 classes, their file list cached under a temporary OOD_DATA_DIR."""
    if args.imagenet_dir:
        return load_dataset("imagenet", "train", root=args.imagenet_dir, image_size=args.crop), "imagenet"
    from PIL import Image

    rng, px = np.random.default_rng(0), args.jpeg_px
    for i in range(args.jpegs):
        (tmp / "imagenet" / "train" / f"n{i % 4:08d}").mkdir(parents=True, exist_ok=True)
        coarse = Image.fromarray(rng.integers(0, 256, (px // 16 + 2, px // 12 + 2, 3), dtype=np.uint8))
        pixels = np.asarray(coarse.resize((px * 4 // 3, px), Image.BICUBIC), dtype=np.float32)
        pixels = np.clip(pixels + rng.normal(0, 8, pixels.shape), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(tmp / "imagenet" / "train" / f"n{i % 4:08d}" / f"{i:06d}.JPEG", quality=90)
    (tmp / "imagenet" / "val").mkdir()  # load_imagenet wants both halves
    before = os.environ.get("OOD_DATA_DIR")
    os.environ["OOD_DATA_DIR"] = str(tmp / "data")
    try:
        data = load_dataset("imagenet", "train", root=tmp / "imagenet", image_size=args.crop, per_class=(0, 0, 0))
    finally:
        if before is None:
            del os.environ["OOD_DATA_DIR"]
        else:
            os.environ["OOD_DATA_DIR"] = before
    return data, f"{args.jpegs} generated JPEGs {px * 4 // 3}x{px}"


def load_cifar(args):
    folder = args.cifar_dir or os.environ.get("OOD_CIFAR10_DIR")
    if folder:
        return load_dataset("cifar10", "train", root=folder, download=False), "cifar10"
    images = torch.randint(0, 256, (args.synthetic, 3, 32, 32), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0))
    return (ImageSet(images, torch.arange(args.synthetic) % 10, [f"c{c}" for c in range(10)], "synthetic-cifar"),
            "synthetic CIFAR-like 32px")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--quick", action="store_true", help="small sizes, few steps (about a minute on 2 cores)")
    add("--steps", type=int, help="steps a timed run (default 5, --quick 2)")
    add("--repeats", type=int, default=3, help="timed runs; the median is reported (default 3)")
    add("--warmup", type=int, default=1, help="untimed steps first (default 1)")
    add("--workers", default="0,1,2", help="DataLoader worker counts, comma-separated (default 0,1,2)")
    add("--threads", type=int, default=0, help="torch threads (default max(1, cores - largest --workers))")
    add("--batch", type=int, help="images a classifier step (default 128, --quick 64)")
    add("--width", type=int, help="width of the CIFAR ResNet-18 (default 16 on CPU, 64 on CUDA)")
    add("--cifar-dir", help="CIFAR-10 torchvision root or image-folder copy (default OOD_CIFAR10_DIR)")
    add("--synthetic", type=int, default=5000, help="images of the synthetic CIFAR-like set (default 5000)")
    add("--imagenet-dir", help="an ImageNet folder to read instead of generated JPEGs")
    add("--jpegs", type=int, help="generated JPEGs (default 1024, --quick 192, 256 on CUDA)")
    add("--jpeg-px", type=int, help="their height, width 4/3 of it (default 256, --quick 96)")
    add("--crop", type=int, help="RandomResizedCrop size on the folder in section 1 (default 224, --quick 64)")
    add("--gpu-batch", type=int, default=256, help="images a step in section 4 (default 256)")
    add("--device", default="auto", choices=("auto", "cpu", "cuda"), help="training device (default cuda if any)")
    add("--gpu-rows", action="store_true", help="section 4 on the CPU too, tiny: a logic check")
    add("--json", help="also write machine and rows to this JSON file")
    args = parser.parse_args(argv)
    args.device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    cuda = args.device == "cuda"
    for name, full, quick in (("steps", 5, 2), ("batch", 128, 64), ("jpegs", 1024, 256 if cuda else 192),
                              ("jpeg_px", 256, 96), ("crop", 224, 64)):
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    args.workers = [int(w) for w in args.workers.split(",")]
    if min(args.steps, args.repeats) < 1 or args.warmup < 0 or min(args.workers) < 0 or args.threads < 0:
        parser.error("--steps and --repeats must be >= 1; --warmup, --workers and --threads >= 0")
    biggest = max(args.batch, args.gpu_batch if cuda else 0)
    if min(args.jpegs, args.synthetic) < biggest:  # a step draws that many distinct images
        parser.error(f"--jpegs and --synthetic must be >= the largest batch, {biggest}")
    args.width = args.width or (64 if cuda else 16)
    args.threads = args.threads or max(1, CORES - max(args.workers))
    return args


def main(argv=None) -> list[dict]:
    args = parse_args(argv)
    device, cuda = args.device, args.device == "cuda"
    torch.set_num_threads(args.threads)
    gpu = torch.cuda.get_device_name() if cuda else "cpu"
    info = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").is_file() else []
    cpu = next((l.split(":", 1)[1].strip() for l in info if l.startswith("model name")), platform.processor())
    print(f"{CORES} CPU cores ({cpu}), {torch.get_num_threads()} torch threads, device {device} ({gpu}), "
          f"load average {os.getloadavg()[0]:.2f}; the median of {args.repeats} runs of {args.steps} steps "
          f"after {args.warmup} warm-up step(s)")
    mnist = load_dataset("mnist-pairs", "train", per_class=(60, 20, 20))
    cifar, cifar_name = load_cifar(args)
    tmp = tempfile.TemporaryDirectory()
    folder, folder_name = load_folder(args, Path(tmp.name))
    works = [Workload("mnist-pairs 28x56", mnist, "none", (28, 56), get_profile("quick")),
             Workload(cifar_name, cifar, "cifar", (32, 32), get_profile("cifar", resnet_width=args.width)),
             Workload(folder_name, folder, "imagenet", (args.crop, args.crop), get_profile("paper"))]
    settings = {w: LoaderSettings(num_workers=w, pin_memory=cuda) for w in args.workers}
    rows: list[dict] = []

    def add(section, data, workers, batch, walls, unit="img/s", steps=args.steps, slots=None, loader=None, note=""):
        """A row: ``batch`` images (or sets) a step, ``steps`` steps a timed run, ``walls`` seconds each."""
        rate = batch * steps / statistics.median(walls)
        row = {"section": section, "data": data, "workers": workers, "threads": torch.get_num_threads(),
               "cpus": CORES, "cpu": cpu, "device": gpu, "batch": batch, "steps": steps,
               "wall_s": statistics.median(walls), "walls_s": walls, "rate": rate, "unit": unit, "note": note}
        row.update({"images_per_s": rate * slots} if slots else {})
        row.update({"of_loader": rate / loader["rate"]} if loader else {})
        rows.append(row)
        return row

    loaders = {}
    for work in works:  # 1. the DataLoader alone
        for w in args.workers:
            planner, view, _ = classifier_parts(work, args.batch, settings[w], device)
            loaders[work.name, w] = add("1 loader", f"{work.name}, {work.recipe}", w, args.batch,
                                        loader_walls(view, planner, settings[w], args))
    for work in works[:2]:  # 2. classifier steps at the same data, batch and workers
        net = f"ResNet-18 w{work.profile.resnet_width} {'small' if work.profile.small_stem else 'stride-2'} stem"
        for w in args.workers:
            add("2 classifier", f"{work.name}, {net}", w, args.batch,
                classifier_walls(work, args.batch, settings[w], args, device), loader=loaders[work.name, w])
    quick = get_profile("quick")
    for w in args.workers:  # 3. homogeneity steps, whole or in micro-batches of sets
        for micro in (0, 16, 8):
            add("3 homogeneity", f"mnist-pairs, k={homogeneity_settings(quick).set_size}, micro {micro or 'whole'}", w,
                homogeneity_settings(quick).set_batch_size, homogeneity_walls(mnist, micro, settings[w], args, device), "sets/s",
                slots=homogeneity_settings(quick).set_size)
    if cuda or args.gpu_rows:  # 4. paper-sized networks on the GPU
        w, tag = max(args.workers), "" if cuda else "CPU logic check, tiny"
        width, batch, px = (64, args.gpu_batch, 224) if cuda else (args.width, args.batch, args.crop)
        for work in (Workload(cifar_name, cifar, "cifar", (32, 32), get_profile("cifar", resnet_width=width)),
                     Workload(folder_name, folder, "imagenet", (px, px), get_profile("paper", resnet_width=width))):
            planner, view, _ = classifier_parts(work, batch, settings[w], device)
            data = f"{work.name} @{work.size[0]}px"
            loader = add("4 gpu loader", f"{data}, {work.recipe}", w, batch,
                         loader_walls(view, planner, settings[w], args), note=tag)
            alone = add("4 gpu model alone", f"{data}, ResNet-18 w{width}, AMP", w, batch,
                        classifier_walls(work, batch, settings[w], args, device, model_alone=True), note=tag)
            train = add("4 gpu classifier", f"{data}, ResNet-18 w{width}, AMP", w, batch,
                        classifier_walls(work, batch, settings[w], args, device), loader=loader, note=tag)
            train["of_model_alone"] = train["rate"] / alone["rate"]
            train["note"] = f"{100 * train['of_model_alone']:.0f} % of model alone" + (f", {tag}" if tag else "")
        k, arch, sizes = (25, (64, 6, 16, 64), (8, 16, 32, 64)) if cuda else (5, (args.width, 1, 2, 8), (2, 4))
        for n_sets in sizes:
            data = f"homogeneity {n_sets} sets x {k} @{px}px, w{arch[0]}, {arch[1]}x{arch[2]}x{arch[3]}"
            try:
                walls, peak = set_step_memory(n_sets, k, px, arch, args, device)
            except torch.cuda.OutOfMemoryError:
                rows.append({"section": "4 gpu set step", "data": data, "note": "out of memory", "device": gpu})
                continue
            add("4 gpu set step", data, "-", n_sets, walls, "sets/s", steps=1, slots=k,
                note=f"peak {peak:,.0f} MiB" if peak is not None else tag)["peak_mib"] = peak
    else:
        print("section 4 (GPU rows) skipped: no CUDA device; --device cpu --gpu-rows runs it tiny, as a logic check")
    tmp.cleanup()

    print("\n| section | data | workers | threads | batch | wall s | rate | of loader | notes | machine |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---|---|")
    for r in rows:
        cells = [r["section"], r["data"]] + [""] * 6 + [r["note"].strip(), f"{CORES} CPU, {r['device']}"]
        if "rate" in r:
            slots = f" = {r['images_per_s']:,.0f} img/s" if "images_per_s" in r else ""
            of = f"{100 * r['of_loader']:.0f} %" if "of_loader" in r else ""
            rate = f"{r['rate']:,.1f} {r['unit']}{slots}"
            cells[2:8] = [r["workers"], r["threads"], r["batch"], f"{r['wall_s']:.3g}", rate, of]
        print("| " + " | ".join(map(str, cells)) + " |")
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "cpus": CORES, "cpu": cpu, "device": gpu,
                                               "torch": torch.__version__, "rows": rows}, indent=2) + "\n")
        print(f"written to {args.json}")
    return rows


if __name__ == "__main__":
    main()
