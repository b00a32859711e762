"""Class-homogeneity training throughput (sets / s) with and without encoding each distinct image
once, and optionally the wall time and peak memory of notebooks 02 and 03.

    python benchmarks/bench_homogeneity.py --profile quick [--steps 20] [--notebooks]

Results are printed and written to ``artifacts/<profile>/benchmarks/bench_homogeneity.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

from ood_helpers.core import artifacts, paths
from ood_helpers.core.data import class_split
from ood_helpers.core.data.transforms import to_float
from ood_helpers.homogeneity.loss import homogeneity_bce
from ood_helpers.homogeneity.model import HomogeneityModel
from ood_helpers.core.networks.resnet import build_resnet18, encoder_from_classifier, feature_dim
from ood_helpers.homogeneity.training import many_class_split
from ood_helpers.core.profile import get_profile
from ood_helpers.homogeneity.sampling import HomogeneitySampler
from ood_helpers.homogeneity.settings import homogeneity_settings


def throughput(profile, distinct_once: bool, steps: int, warmup: int = 2, n_classes: int | None = None) -> dict:
    """Training steps of the homogeneity model on the CPU, sets drawn from the first ``n_classes``
    seen classes (all by default; few classes make sets share images); returns sets/s and
    images encoded a step."""
    hs = homogeneity_settings(profile)
    torch.manual_seed(0)
    train = many_class_split(profile, "train")
    sampler = HomogeneitySampler(train.targets.numpy(), hs.set_size, 1, classes=class_split(profile).seen[:n_classes])
    classifier = build_resnet18(profile.class_split[0], profile.channels, profile.resnet_width, profile.small_stem)
    model = HomogeneityModel(encoder_from_classifier(classifier), feature_dim(classifier), hs.transformer_layers,
                             hs.transformer_heads, hs.transformer_head_dim).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=hs.lr_homogeneity)
    rng = np.random.default_rng(0)
    encoded, seconds, cpu = [], 0.0, 0.0
    for step in range(warmup + steps):
        batch = sampler.sample(hs.set_batch_size, rng)
        pool = to_float(train.images[batch.unique])  # each distinct image of the step, once
        start, start_cpu = time.perf_counter(), time.process_time()
        if distinct_once:
            logits = model.pool_logits(pool, batch.index, batch.lengths)
            n_encoded = len(pool)
        else:
            # every image slot of every set goes through the encoder, duplicates included
            codes = model.encode(pool[batch.index[batch.mask]])
            emb = codes.new_zeros(*batch.index.shape, codes.shape[-1])
            emb[batch.mask] = codes
            logits = model.set_logits(emb, batch.lengths)
            n_encoded = int(batch.mask.sum())
        loss = homogeneity_bce(logits, batch.targets, batch.lengths)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step >= warmup:
            seconds += time.perf_counter() - start
            cpu += time.process_time() - start_cpu
            encoded.append(n_encoded)
    return {
        "distinct_once": distinct_once,
        "classes": n_classes or profile.class_split[0],
        "sets_per_s": steps * hs.set_batch_size / seconds,
        "images_encoded_per_step": float(np.mean(encoded)),
        "image_slots_per_step": hs.set_batch_size * hs.set_size,
        "seconds_per_step": seconds / steps,
        # CPU time is robust to other processes sharing the cores; wall time is what a user waits
        "cpu_seconds_per_step": cpu / steps,
        "sets_per_cpu_s": steps * hs.set_batch_size / cpu,
    }


def run_notebooks(profile_name: str) -> list[dict]:
    """Wall time and peak RSS of notebooks 02 and 03 run with papermill into fresh output folders."""
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "MPLBACKEND": "agg", "OOD_FIGURES_DIR": f"{tmp}/fig", "OOD_ARTIFACTS_DIR": f"{tmp}/art",
               "OOD_RUNS_DIR": f"{tmp}/runs"}
        for name in ("02_pretrain_classifiers", "03_class_homogeneity"):
            cmd = [sys.executable, "-m", "papermill", str(paths.NOTEBOOKS / f"{name}.ipynb"), f"{tmp}/{name}.ipynb",
                   "-p", "profile", profile_name, "-k", "python3", "--cwd", tmp]
            start = time.perf_counter()
            subprocess.run(cmd, env=env, check=True, capture_output=True)
            # ru_maxrss of children: the largest process reaped so far (the kernel), KiB on Linux
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            out.append({"notebook": name, "wall_s": time.perf_counter() - start, "peak_rss_mib_so_far": peak})
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick", help="smoke | quick | cifar | paper (default quick)")
    parser.add_argument("--steps", type=int, default=20, help="timed training steps per mode (default 20)")
    parser.add_argument("--few-classes", type=int, default=5,
                        help="second scenario: sets from this many seen classes, so sets share images (default 5)")
    parser.add_argument("--notebooks", action="store_true", help="also time notebooks 02 and 03 with papermill")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error(f"--steps must be >= 1, got {args.steps}")
    profile = get_profile(args.profile, device="cpu")
    result = {"profile": profile.name, "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
              "load_avg_1m_before": os.getloadavg()[0]}
    result["throughput"] = [throughput(profile, once, args.steps, n_classes=n)
                            for n in (None, args.few_classes) for once in (True, False)]
    for row in result["throughput"]:
        mode = "distinct images once" if row["distinct_once"] else "every image slot    "
        print(f"{row['classes']:3d} classes, {mode}: {row['sets_per_s']:7.1f} sets/s ({row['sets_per_cpu_s']:.1f} per CPU-second), "
              f"{row['images_encoded_per_step']:.0f} of "
              f"{row['image_slots_per_step']} image slots encoded a step")
    if args.notebooks:
        result["notebooks"] = run_notebooks(profile.name)
        for row in result["notebooks"]:
            print(f"{row['notebook']}: {row['wall_s']:.0f} s, peak RSS {row['peak_rss_mib_so_far']:.0f} MiB")
    path = artifacts.cache_path(profile.name, "benchmarks", "bench_homogeneity", ".json")
    artifacts.atomic_write_text(path, json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(f"written to {path}")
    return result


if __name__ == "__main__":
    main()
