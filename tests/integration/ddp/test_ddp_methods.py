"""Notebooks 07-09's trainings under torchrun: 2 gloo processes on the CPU against one process with the
same global batch (cut into the same two shares where BatchNorm makes the cut matter).

Notebook 08's cross-entropy (``cluster_distance.training``): each rank takes a share, weighted by its size, and DDP
averages the gradients; one process accumulates the same two weighted micro-batches.
Notebook 09's source network and fine-tuning (``pseudo_label``): as cross-entropy, the snapshots compared;
its SCAN step and self-labelling gather the ranks' logits, as the contrastive losses below.
Notebook 07's pretraining and joint phase (``embedding_ood.training``): the model has no BatchNorm, so the
reference is the plain one-process run; every rank sifts from the same weights.
SupCon / SimCLR (``contrastive.train_contrastive``):
a contrastive loss is not a sum over images (every view is every other's negative), so the ranks do not
split the loss: each encodes its share of the views, the projections of both ranks are gathered with
their gradients (``distributed.gather_rows``) and each rank computes the loss over the whole batch; DDP's
mean of the two ranks' gradients is then the one-process gradient. A batch of 15 images splits 8 / 7, so
the gather pads and strips unequal shares. BatchNorm's running statistics differ by design (DDP keeps
rank 0's) and are not compared.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from ood_helpers.core import artifacts
from ood_helpers.cluster_distance.training import train_cross_entropy
from ood_helpers.core.contrastive import ContrastiveSpec, train_contrastive
from ood_helpers.embedding_ood.training import Architecture, Variant, finetune, pretrain
from ood_helpers.core.networks.small_cnn import SmallCNN
from ood_helpers.core.profile import get_profile
from ood_helpers.pseudo_label.finetune import finetune as finetune_pseudo
from ood_helpers.pseudo_label.settings import PseudoLabelSettings
from ood_helpers.pseudo_label.stages import fresh_backbone, scan_step, self_label, train_source
from tests.support import weights

# a few steps of Adam / SGD; the runs differ only in float32 summation order (measured: CE, SupCon, SimCLR
# identical, notebook 07 3e-8 on this CPU)
ATOL = 1e-5
pytestmark = pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="two gloo processes need two cores")


def _images():
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (40, 1, 16, 16), generator=g, dtype=torch.uint8)


def _run(loss, profile, **kw):
    images = _images()
    torch.manual_seed(1)
    spec = ContrastiveSpec(loss=loss, steps=4, batch_size=15, head_hidden=16, head_out=8)
    result = train_contrastive(SmallCNN(1, 8), images, torch.arange(40) % 4 if loss == "supcon" else None, spec=spec,
                               profile=profile, seed=3, progress=False, **kw)
    state = artifacts.load_torch(artifacts.cache_path(profile.name, "contrastive", result.key, ".pt"))
    return weights(state), [r["train_loss"] for r in result.history], state["config"].get("shards")


@pytest.mark.parametrize("loss", ["supcon", "simclr"])
def test_two_processes_train_like_one_process_encoding_the_same_shares(loss, ood_dirs, one_thread):
    two, one = get_profile("smoke", world_size=2, device="cpu"), get_profile("smoke", device="cpu")
    w_two, loss_two, shards_two = _run(loss, two)  # launches torchrun, then loads
    w_one, loss_one, shards_one = _run(loss, one, micro_batches=2)
    assert shards_two == {"world_size": 2, "micro_batches": 2} and shards_one == {"world_size": 1, "micro_batches": 2}
    assert w_two.keys() == w_one.keys()
    for k in w_two:
        torch.testing.assert_close(w_two[k], w_one[k], rtol=0, atol=ATOL, msg=k)
    assert len(loss_two) == 4 and np.allclose(loss_two, loss_one, rtol=0, atol=ATOL), (loss_two, loss_one)
    assert not list((ood_dirs["artifacts"] / "smoke" / "contrastive").glob("*.data.pt"))  # the hand-off is removed
    # the shares matter: one forward over the whole batch (BatchNorm over 30 views) ends elsewhere
    w_whole, _, shards = _run(loss, one)
    assert shards is None
    assert max((w_whole[k] - w_two[k]).abs().max().item() for k in w_two) > 1e-4


def _ce(profile, **kw):
    torch.manual_seed(1)
    _, key, _ = train_cross_entropy(SmallCNN(1, 8), _images(), torch.arange(40) % 4, num_classes=4, steps=5,
                                    batch_size=15, lr=0.01, recipe="digits", profile_name=profile, seed=3, **kw)
    state = artifacts.load_torch(artifacts.cache_path(profile.name, "cluster_distance_ce", key, ".pt"))
    return weights(state), [r["train_loss"] for r in state["history"]], state["config"].get("shards")


def test_cross_entropy_on_two_processes_matches_one_process_with_the_same_micro_batches(ood_dirs, one_thread):
    two, one = get_profile("smoke", world_size=2, device="cpu"), get_profile("smoke", device="cpu")
    w_two, loss_two, shards_two = _ce(two)  # launches torchrun, then loads
    w_one, loss_one, shards_one = _ce(one, micro_batches=2)
    assert shards_two == {"world_size": 2, "micro_batches": 2} and shards_one == {"world_size": 1, "micro_batches": 2}
    for k in w_two:
        torch.testing.assert_close(w_two[k], w_one[k], rtol=0, atol=ATOL, msg=k)
    assert len(loss_two) == 5 and np.allclose(loss_two, loss_one, rtol=0, atol=ATOL), (loss_two, loss_one)
    w_whole, _, shards = _ce(one)
    assert shards is None and max((w_whole[k] - w_two[k]).abs().max().item() for k in w_two) > 1e-4


def _embedding_ood(profile):
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(60, 1, 8, 8, generator=g), np.arange(60) % 4
    arch = Architecture("mlp", (1, 8, 8), 4, hidden=(16,), embed_dim=4)
    # pretraining leaves the classifier and the centres out of the loss (DDP must still accept it); a batch of
    # 15 of the 54 kept images splits 8 / 7
    pre = pretrain(x, y, arch, epochs=2, lr=1e-3, batch_size=16, seed=3, profile=profile, kmeans_n_init=2)
    model, log = finetune(pre, x, y, arch, Variant("full", lambda_e=1.0, lambda_c=1.0, sift_fraction=0.1), epochs=3,
                          lr=0.01, momentum=0.9, batch_size=15, seed=3, profile=profile)
    return pre["state"], model.state_dict(), log["intervals"]


def test_embedding_ood_phases_on_two_processes_match_one_process(ood_dirs, one_thread):
    pre_two, joint_two, log_two = _embedding_ood(get_profile("smoke", world_size=2, device="cpu"))  # 2 launches
    pre_one, joint_one, log_one = _embedding_ood(get_profile("smoke", device="cpu"))
    for two, one in ((pre_two, pre_one), (joint_two, joint_one)):
        for k in one:  # measured: 3e-8 after 8 Adam + 12 SGD steps (unequal shares round differently)
            torch.testing.assert_close(two[k], one[k], rtol=0, atol=ATOL, msg=k)
    assert len(log_two) == len(log_one) == 3
    for a, b in zip(log_two, log_one):
        assert np.array_equal(a["dropped"], b["dropped"]) and abs(a["train_loss"] - b["train_loss"]) < ATOL
    assert not list((ood_dirs["artifacts"] / "smoke" / "embedding-ood").glob("*-data.pt"))  # hand-offs removed


def _pseudo_label(profile, **kw):
    from dataclasses import replace

    s = replace(PseudoLabelSettings(), width=8, source_batch=15, source_epochs=2, finetune_batch=15, finetune_epochs=2)
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(40, 1, 16, 16, generator=g), np.arange(40) % 4
    source = train_source(s, x, y, profile=profile, seed=3, **kw)
    tuned = finetune_pseudo(s, source, x, y % 2, profile=profile, seed=4, tag="t", **kw)
    return [weights({"model": m}) for m in (source.state_dict(), *tuned["snapshots"])]


def test_pseudo_label_source_and_finetune_on_two_processes_match_one_process(ood_dirs, one_thread):
    two = _pseudo_label(get_profile("smoke", world_size=2, device="cpu"))  # 2 launches
    one = _pseudo_label(get_profile("smoke", device="cpu"), micro_batches=2)
    assert len(two) == len(one) == 3  # the source network, then one snapshot an epoch
    for a, b in zip(two, one):
        for k in a:
            torch.testing.assert_close(a[k], b[k], rtol=0, atol=ATOL, msg=k)
    whole = _pseudo_label(get_profile("smoke", device="cpu"))
    assert max((whole[0][k] - two[0][k]).abs().max().item() for k in two[0]) > 1e-4


def _scan(profile, **kw):
    from dataclasses import replace

    s = replace(PseudoLabelSettings(), width=8, scan_batch=15, scan_epochs=2, selflabel_batch=15, selflabel_epochs=2,
                selflabel_threshold=0.3)  # a low threshold: the barely trained heads have confident samples
    x = torch.rand(40, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    neighbours = np.random.default_rng(0).integers(0, 40, size=(40, 5))
    heads, _ = scan_step(s, x, neighbours, fresh_backbone(s, 1, 3), (2, 3), profile=profile, seed=3, **kw)
    labelled, meta = self_label(s, x, heads[1], profile=profile, seed=4, **kw)
    return [weights({"model": m.state_dict()}) for m in (*heads, labelled)], meta


def test_scan_and_self_labelling_on_two_processes_match_one_process(ood_dirs, one_thread):
    two, meta_two = _scan(get_profile("smoke", world_size=2, device="cpu"))  # 2 launches
    one, meta_one = _scan(get_profile("smoke", device="cpu"), micro_batches=2)
    for a, b in zip(two, one):  # measured: 0, 0 and 7e-9
        for k in a:
            torch.testing.assert_close(a[k], b[k], rtol=0, atol=ATOL, msg=k)
    # the confident samples are counted over the whole batch, once a step (rank 0 writes them)
    assert meta_two["confident"] == meta_one["confident"] > 0 and meta_two["batches"] == meta_one["batches"] == 4
    whole, _ = _scan(get_profile("smoke", device="cpu"))
    assert max((whole[0][k] - two[0][k]).abs().max().item() for k in two[0]) > 1e-4
