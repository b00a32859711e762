"""Streaming data: step plans, per-sample augmentation recipes, workers, ranks, the decode limit."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ood_helpers.core.data import ImageSet
from ood_helpers.core.data.loading import (AugmentedView, EvalView, ImageStepPlanner, LoaderSettings, StepBatchSampler, eval_loader, rank_micro_ids, step_loader)
from ood_helpers.core.data.transforms import recipe_for, train_transform
from ood_helpers.homogeneity.sampling import HomogeneitySampler, SetStepPlanner


def imageset(n=24, c=3, h=8, w=8, classes=4):
    g = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (n, c, h, w), generator=g, dtype=torch.uint8)
    return ImageSet(images, torch.arange(n) % classes, [str(i) for i in range(classes)], "toy")


def collect(loader):
    return [(x.clone(), y.clone()) for x, y in loader]


def test_step_plan_depends_on_seed_and_step_only():
    a, b = ImageStepPlanner(50, 12, 4, seed=3), ImageStepPlanner(50, 12, 4, seed=3)
    assert a.plan(7) == b.plan(7) and a.plan(7) != a.plan(8)
    assert ImageStepPlanner(50, 12, 4, seed=4).plan(7) != a.plan(7)
    keys = [k for micro in a.plan(7) for k in micro]
    assert len(keys) == 12 and len({p for p, _ in keys}) == 12  # distinct images within a step
    assert [len(m) for m in a.plan(7)] == [4, 4, 4]
    with pytest.raises(ValueError, match="micro-batch of 5 images must divide the batch of 12"):
        ImageStepPlanner(50, 12, 5, seed=0)
    with pytest.raises(ValueError, match="needs at least that many"):
        ImageStepPlanner(5, 12, 4, seed=0)


def test_ranks_take_every_world_size_th_micro_batch_and_cover_the_step():
    plan = ImageStepPlanner(40, 16, 4, seed=0).plan
    one = list(StepBatchSampler(plan, 4, 2, 4))
    per_rank = [list(StepBatchSampler(plan, 4, 2, 4, rank=r, world_size=2)) for r in range(2)]
    assert len(one) == 8 and [len(p) for p in per_rank] == [4, 4]
    # step s, micro j of the single process is rank j % 2's (j // 2)-th micro-batch of that step
    for s in range(2):
        for j in range(4):
            assert one[4 * s + j] == per_rank[j % 2][2 * s + j // 2]
    assert list(rank_micro_ids(4, 1, 2)) == [1, 3]
    with pytest.raises(ValueError, match="do not split evenly over 3 processes"):
        rank_micro_ids(4, 0, 3)


@pytest.mark.parametrize("recipe", ["cifar", "digits", "imagenet"])
def test_batches_do_not_depend_on_workers_or_resumption(recipe):
    ds = imageset()
    view = AugmentedView(ds, recipe, (8, 8))
    plan = ImageStepPlanner(len(ds), 8, 4, seed=5)
    serial = collect(step_loader(view, plan.plan, 2, 0, 3, LoaderSettings(0)))
    workers = collect(step_loader(view, plan.plan, 2, 0, 3, LoaderSettings(2)))
    resumed = collect(step_loader(view, plan.plan, 2, 1, 3, LoaderSettings(0)))
    assert len(serial) == 6
    for (x, y), (x2, y2) in zip(serial, workers):
        assert torch.equal(x, x2) and torch.equal(y, y2)
    for (x, _), (x2, _) in zip(serial[2:], resumed):
        assert torch.equal(x, x2)
    # labels follow the planned positions
    positions = [p for micro in plan.plan(0) for p, _ in micro]
    assert torch.cat([serial[0][1], serial[1][1]]).tolist() == ds.targets[positions].tolist()


def shifted_crops(image, pad, mode, flips):
    """Every crop of the padded image (and of its mirror): what the recipe may return, brute force."""
    c, h, w = image.shape
    padded = F.pad(image[None].float(), (pad,) * 4, mode=mode)[0]
    out = []
    for src in ([padded, padded.flip(-1)] if flips else [padded]):
        for dy in range(2 * pad + 1):
            for dx in range(2 * pad + 1):
                out.append(src[:, dy:dy + h, dx:dx + w])
    return out


@pytest.mark.parametrize("recipe,pad,mode,flips", [("cifar", 4, "reflect", True), ("digits", 2, "constant", False)])
def test_crop_recipes_are_shifts_of_the_padded_image(recipe, pad, mode, flips):
    ds = imageset(n=6, c=3 if recipe == "cifar" else 1)
    view = AugmentedView(ds, recipe, (8, 8))
    outputs = [view[(i, seed)][0] for i in range(6) for seed in range(8)]
    for k, out in enumerate(outputs):
        candidates = shifted_crops(ds.images[k // 8], pad, mode, flips)
        assert any(torch.equal(out.float(), cand) for cand in candidates), k
    # per-sample randomness: the same image under different seeds is not always the same crop
    assert len({tuple(o.flatten().tolist()) for o in outputs[:8]}) > 1
    if not flips:  # digits are never mirrored: with pad 0 the recipe would be the identity
        assert train_transform("digits", (8, 8)).__class__.__name__ == "RandomCrop"


def test_imagenet_recipe_crops_the_full_decoded_image_to_the_asked_size():
    ds = imageset(n=4, h=40, w=30)
    view = AugmentedView(ds, "imagenet", (16, 16))
    x, y = view[(2, 11)]
    assert x.shape == (3, 16, 16) and x.dtype == torch.uint8 and y == 2
    assert torch.equal(x, view[(2, 11)][0]) and not torch.equal(x, view[(2, 12)][0])


def test_auto_recipe_per_dataset():
    assert recipe_for("auto", "imagenet", 3) == "imagenet"
    assert recipe_for("auto", "cifar100", 3) == "cifar"
    assert recipe_for("auto", "mnist", 3) == "digits"  # no flips even when converted to RGB
    assert recipe_for("auto", "fashion-mnist", 1) == "none"
    assert recipe_for("none", "imagenet", 3) == "none"
    with pytest.raises(ValueError, match="augmentation must be 'auto' or one of"):
        recipe_for("autoaugment", "imagenet", 3)


def test_eval_loader_streams_the_evaluation_views_in_order():
    ds = imageset(n=10)
    got = collect(eval_loader(ds, 4, LoaderSettings(1), positions=[9, 0, 3]))
    x = torch.cat([b[0] for b in got])
    assert torch.equal(x, ds.images[[9, 0, 3]]) and torch.cat([b[1] for b in got]).tolist() == [1, 0, 3]
    assert len(EvalView(ds)) == 10


def test_set_micro_batches_partition_the_step():
    labels = np.repeat(np.arange(6), 5)
    planner = SetStepPlanner(HomogeneitySampler(labels, 4, variant=2), batch=8, micro=2, seed=[1, 2])
    whole = HomogeneitySampler(labels, 4, variant=2).sample(8, np.random.default_rng([1, 2, 3]))
    parts = planner.plan(3)
    assert len(parts) == 4 and planner.keys(3) == [p.unique.tolist() for p in parts]
    assert torch.equal(torch.cat([p.positions for p in parts]), whole.positions)
    assert torch.equal(torch.cat([p.targets for p in parts]), whole.targets)
    for p in parts:  # each micro-batch lists exactly the distinct images it uses
        assert sorted(set(p.positions[p.mask].tolist())) == p.unique.tolist()
    with pytest.raises(ValueError, match="micro-batch of 3 sets must divide the batch of 8 sets"):
        SetStepPlanner(HomogeneitySampler(labels, 4), batch=8, micro=3, seed=0)


def test_on_disk_sets_refuse_to_decode_whole_above_the_limit(tmp_path, monkeypatch):
    from PIL import Image

    from ood_helpers.core.data.image_folder import FolderImageSet

    rng = np.random.default_rng(0)
    samples = []
    for i in range(5):
        path = tmp_path / f"c{i % 2}" / f"{i}.png"
        path.parent.mkdir(exist_ok=True)
        pixels = rng.integers(0, 256, (20, 26, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(path)
        samples.append((path, i % 2))
    ds = FolderImageSet(samples, ["a", "b"], "disk", base=tmp_path, image_size=14, eval_resize_ratio=256 / 224)
    monkeypatch.setenv("OOD_DECODE_LIMIT", "4")
    with pytest.raises(MemoryError, match=r"refusing to decode all 5 images .*limit 4.*stream it"):
        ds.images
    monkeypatch.setenv("OOD_DECODE_LIMIT", "5")
    whole = ds.images
    # evaluation view: shorter side to round(14 * 256 / 224) = 16 px, then the central 14 x 14
    assert whole.shape == (5, 3, 14, 14) and ds.decode(0).shape == (3, 20, 26)
    streamed = torch.cat([x for x, _ in eval_loader(ds, 2, LoaderSettings(0))])
    assert torch.equal(streamed, whole)
    monkeypatch.setenv("OOD_DECODE_LIMIT", "lots")
    with pytest.raises(ValueError, match="OOD_DECODE_LIMIT must be an int"):
        ds.images


def test_profile_refuses_batches_that_do_not_split():
    from ood_helpers.core.profile import get_profile
    from ood_helpers.homogeneity.settings import homogeneity_settings

    from tests.support import profile_with

    # sets per homogeneity step are paper 000's setting: homogeneity_settings checks them against the profile
    with pytest.raises(ValueError, match=r"homogeneity settings of profile 'quick': micro_batch_sets=3 does not "
                                         r"divide the 16 sets"):
        homogeneity_settings(profile_with("quick", set_batch_size=16, micro_batch_sets=3))
    with pytest.raises(ValueError, match=r"batch_size=127 does not split evenly over world_size=2"):
        get_profile("quick", batch_size=127, world_size=2)
    with pytest.raises(ValueError, match=r"micro_batch_images=48 does not divide the 64 images each of 2"):
        get_profile("quick", world_size=2, micro_batch_images=48)
    with pytest.raises(ValueError, match="augmentation must be one of"):
        get_profile("quick", augmentation="heavy")
    paper = get_profile("paper")
    assert homogeneity_settings(paper).set_batch_size % paper.micro_batch_sets == 0


def test_more_processes_than_devices_is_refused_before_any_work():
    import os

    from ood_helpers.core.launch import check_world_size
    from tests.support import profile_with

    too_many = (os.cpu_count() or 1) + 1
    with pytest.raises(ValueError, match=rf"world_size={too_many} training processes on cpu, but this machine has"):
        check_world_size(profile_with("smoke", device="cpu", world_size=too_many, batch_size=32 * too_many,
                                      set_batch_size=4 * too_many))
