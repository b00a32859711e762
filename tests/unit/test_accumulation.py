"""Gradient accumulation: a step over micro-batches of sets gives the full batch's gradient.

The homogeneity loss is a mean over sets, so with an encoder without BatchNorm and no dropout
(nothing couples the sets of a batch) the weighted sum of the micro-batches' gradients is the
full-batch gradient; float32 sums taken in another order differ by rounding only (tolerance 1e-6,
gradients here are of order 1e-2 .. 1).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from ood_helpers.core.data import ImageSet
from ood_helpers.core.data.loading import EvalView, LoaderSettings, group_steps, rank_micro_ids, step_loader
from ood_helpers.core.data.transforms import to_float
from ood_helpers.homogeneity.loss import homogeneity_bce
from ood_helpers.homogeneity.model import HomogeneityModel
from ood_helpers.homogeneity.sampling import HomogeneitySampler, SetStepPlanner
from ood_helpers.core.train import fit

SETS = 8


def data():
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (36, 1, 8, 8), generator=g, dtype=torch.uint8)
    return ImageSet(images, torch.arange(36) % 6, [str(i) for i in range(6)], "toy")


def model():
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Conv2d(1, 6, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    return HomogeneityModel(encoder, 6, layers=1, heads=2, head_dim=4, dropout=0.0)


def loss_fn(net, batch):
    images, index, lengths, targets = batch
    return homogeneity_bce(net.pool_logits(images, index, lengths), targets, lengths)


def one_step_gradient(start: nn.Module, ds, micro: int, tmp_path) -> dict:
    """-(change of every weight) after one SGD step with lr 1 through ``fit``: the step's gradient."""
    net = copy.deepcopy(start)
    planner = SetStepPlanner(HomogeneitySampler(ds.targets.numpy(), 4, variant=2), SETS, micro, seed=[0])

    def prepare(step, j, loaded):
        b = planner.plan(step)[j]
        return to_float(loaded[0]), b.index, b.lengths, b.targets

    def steps_from(first):
        loader = step_loader(EvalView(ds), planner.keys, planner.micro_per_step, first, 1, LoaderSettings(0))
        return group_steps(loader, first, 1, rank_micro_ids(planner.micro_per_step, 0, 1), prepare)

    fit(net, torch.optim.SGD(net.parameters(), lr=1.0), loss_fn=loss_fn, steps=1, steps_from=steps_from, seed=0,
        ckpt_path=tmp_path / f"micro{micro}.pt", config={"micro": micro}, progress=False)
    before = dict(start.named_parameters())
    return {name: before[name].detach() - p.detach() for name, p in net.named_parameters()}


def test_accumulated_gradient_equals_the_full_batch_gradient(tmp_path):
    ds, start = data(), model()
    # the full-batch gradient by hand: one forward over all 8 sets, autograd
    whole = HomogeneitySampler(ds.targets.numpy(), 4, variant=2).sample(SETS, np.random.default_rng([0, 0]))
    reference = copy.deepcopy(start)
    loss_fn(reference, (to_float(ds.images[whole.unique]), whole.index, whole.lengths, whole.targets)).backward()
    by_hand = {name: p.grad for name, p in reference.named_parameters()}
    assert max(g.abs().max().item() for g in by_hand.values()) > 1e-3  # a real gradient, not zeros

    for micro in (SETS, 4, 2, 1):
        grads = one_step_gradient(start, ds, micro, tmp_path)
        for name, g in grads.items():
            torch.testing.assert_close(g, by_hand[name], rtol=0, atol=1e-6, msg=f"{name}, micro-batch {micro}")
