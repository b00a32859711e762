"""A torchrun worker for tests/integration/ddp/test_ddp.py (not a test itself): trains a small BatchNorm + dropout
network with ``train.fit`` on micro-batched, step-seeded batches, under DDP when started by
torchrun with several processes, and writes rank 0's final weights.

    torchrun --standalone --nproc_per_node 2 tests/integration/ddp/ddp_worker.py OUT.pt [--micro M] [--crash-at S]

``--crash-at S`` raises while loading step S unless OUT.pt.crashed exists (then it creates it):
a run killed mid-way, whose rerun must resume from the last checkpoint.
"""

import argparse
import json
import os
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from ood_helpers.core import distributed
from ood_helpers.core.data import ImageSet
from ood_helpers.core.data.loading import (AugmentedView, ImageStepPlanner, LoaderSettings, group_steps, rank_micro_ids, step_loader)
from ood_helpers.core.data.transforms import to_float
from ood_helpers.core.train import fit

BATCH, STEPS = 16, 6


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--micro", type=int, default=0, help="images per micro-batch; 0 = this rank's share")
    parser.add_argument("--crash-at", type=int, default=-1)
    args = parser.parse_args()
    if int(os.environ.get("WORLD_SIZE", 1)) > 1:
        dist.init_process_group("gloo")
    ctx = distributed.context()
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (64, 3, 6, 6), generator=g, dtype=torch.uint8)
    ds = ImageSet(images, torch.arange(64) % 4, list("abcd"), "toy")
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(108, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.3),
                          nn.Linear(32, 4))
    planner = ImageStepPlanner(len(ds), BATCH, args.micro or BATCH // ctx.world_size, seed=1)
    ids = rank_micro_ids(planner.micro_per_step, ctx.rank, ctx.world_size)
    crashed = args.out.with_name(args.out.name + ".crashed")

    def prepare(step, j, loaded):
        if step == args.crash_at and not crashed.exists():
            distributed.barrier()
            if ctx.is_main:
                crashed.touch()
            raise RuntimeError(f"simulated crash at step {step}")
        return to_float(loaded[0]), loaded[1]

    def steps_from(start):
        loader = step_loader(AugmentedView(ds, "cifar", (6, 6)), planner.plan, planner.micro_per_step, start, STEPS,
                             LoaderSettings(0), ctx.rank, ctx.world_size)
        return group_steps(loader, start, STEPS, ids, prepare)

    result = fit(model, torch.optim.Adam(model.parameters(), lr=0.01),
                 loss_fn=lambda net, b: nn.functional.cross_entropy(net(b[0]), b[1]), steps=STEPS,
                 steps_from=steps_from, seed=3, ckpt_path=args.out.with_suffix(".ckpt"), config={"toy": 1},
                 checkpoint_every=2, progress=False)
    if ctx.is_main:
        torch.save({"model": model.state_dict(), "resumed_from": result.resumed_from}, args.out)
        args.out.with_suffix(".json").write_text(json.dumps({"world_size": ctx.world_size}))
    if dist.is_initialized():
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
