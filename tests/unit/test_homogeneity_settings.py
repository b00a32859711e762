"""Paper 000's settings (``homogeneity.settings``): every rule on one setting and every rule between the settings
and the profile, each with a value that must fail, naming the setting, and one that must pass; and the three
ways to set them (``--set homogeneity.FIELD``, a notebook's ``homogeneity={...}``, ``with_homogeneity_settings``)."""

from __future__ import annotations

import pytest

from ood_helpers.core.overrides import encode_overrides, notebook_profile, parse_assignments
from ood_helpers.core.profile import PROFILES, get_profile
from ood_helpers.core.profile_checks import MAX_SET_SIZE, MIN_SET_SIZE
from ood_helpers.homogeneity.settings import (HOMOGENEITY, HOMOGENEITY_FIELDS, homogeneity_settings, table3_datasets,
                                              with_homogeneity_settings)
from tests.support import profile_with


@pytest.mark.parametrize("name", list(PROFILES))
def test_every_named_profile_has_consistent_settings(name):
    assert homogeneity_settings(get_profile(name)) == HOMOGENEITY[name]


# (setting, values that must fail, value that must pass) on the smoke profile
RULES = [
    ("queries_per_class", [0, -1, 2.5], 1),
    ("eval_every", [0, -2], 1),
    ("pretrain_steps", [-1, 1.5], 0),  # 0: the untrained network
    ("homogeneity_steps", [-1], 0),  # 0: only the step-0 evaluation
    ("set_size", [MIN_SET_SIZE - 1, 0, -5, 2.5, MAX_SET_SIZE + 1], MIN_SET_SIZE),
    ("eval_ranges", [(), (0, 1), (2, 1), (1, 1), (-1, 2)], (2,)),
]
FAILING = [(field, bad) for field, bads, _ in RULES for bad in bads]


@pytest.mark.parametrize("field, bad", FAILING, ids=[f"{f}={b!r}" for f, b in FAILING])
def test_a_bad_setting_is_refused_naming_it(field, bad):
    with pytest.raises(ValueError, match=rf"homogeneity setting.*{field}") as info:
        homogeneity_settings(profile_with("smoke", **{field: bad}))
    assert str(bad).strip("()") in str(info.value) or repr(bad) in str(info.value)


@pytest.mark.parametrize("field, good", [(f, g) for f, _, g in RULES], ids=[f for f, _, _ in RULES])
def test_the_smallest_good_setting_is_accepted(field, good):
    assert getattr(homogeneity_settings(profile_with("smoke", **{field: good}, class_split=(8, 2, 2))), field) == good


def test_set_size_bounds_are_the_samplers():
    big = (MAX_SET_SIZE,) * 3
    assert homogeneity_settings(profile_with("smoke", set_size=MAX_SET_SIZE, per_class=big)).set_size == MAX_SET_SIZE
    with pytest.raises(ValueError, match=rf"set_size \(images per set\) must be an int in {MIN_SET_SIZE}..{MAX_SET_SIZE}, "
                                         rf"got {MAX_SET_SIZE + 1}"):
        homogeneity_settings(profile_with("smoke", set_size=MAX_SET_SIZE + 1, per_class=(MAX_SET_SIZE + 1,) * 3))


@pytest.mark.parametrize("index, split", [(0, "train"), (1, "val"), (2, "test")])
def test_set_size_needs_that_many_images_a_class_in_every_split(index, split):
    short = [12, 8, 8]
    short[index] = 4  # smoke: set_size 5
    with pytest.raises(ValueError, match=rf"set_size=5 does not fit per_class=.*per_class\[{index}\] = 4 {split} images"):
        homogeneity_settings(get_profile("smoke", per_class=tuple(short)))
    exact = [12, 8, 8]
    exact[index] = 5  # set_size images: k - 1 supports and the query, or one full set
    assert homogeneity_settings(get_profile("smoke", per_class=tuple(exact))).set_size == 5
    # and the same fix from the other side
    assert homogeneity_settings(profile_with("smoke", per_class=tuple(short), set_size=4)).set_size == 4


def test_every_short_split_is_named_at_once():
    with pytest.raises(ValueError) as info:
        homogeneity_settings(profile_with("smoke", set_size=10))  # per_class (12, 8, 8)
    message = str(info.value)
    assert "per_class[1] = 8 val" in message and "per_class[2] = 8 test" in message
    assert "per_class[0]" not in message and "Use set_size <= 8" in message


def test_eval_ranges_stay_within_the_test_classes():
    with pytest.raises(ValueError, match=r"eval_ranges=\(1, 3\) reaches 3 test classes but class_split=\(8, 2, 2\) "
                                         r"has 2 \(class_split\[2\]\)"):
        homogeneity_settings(profile_with("smoke", eval_ranges=(1, 3)))
    assert homogeneity_settings(profile_with("smoke", eval_ranges=(1, 3), class_split=(8, 2, 3))).eval_ranges == (1, 3)
    # shrinking the paper's classes needs its ranges shrunk too
    with pytest.raises(ValueError, match=r"eval_ranges=\(10, 20, 40, 80, 100\)"):
        homogeneity_settings(get_profile("paper", class_split=(4, 2, 2)))
    assert homogeneity_settings(profile_with("paper", class_split=(4, 2, 2), eval_ranges=(1, 2))).eval_ranges == (1, 2)


def test_set_batches_split_over_processes_and_micro_batches():
    with pytest.raises(ValueError, match=r"set_batch_size=6 does not split evenly over world_size=4"):
        homogeneity_settings(profile_with("smoke", set_batch_size=6, world_size=4, batch_size=32))
    with pytest.raises(ValueError, match=r"micro_batch_sets=3 does not divide the 4 sets each of 2 process"):
        homogeneity_settings(profile_with("smoke", set_batch_size=8, world_size=2, micro_batch_sets=3))
    paper = get_profile("paper")
    assert homogeneity_settings(paper).set_batch_size % paper.micro_batch_sets == 0


def test_eval_every_above_the_homogeneity_steps_is_allowed():
    # documented: train.fit then evaluates at step 0 and at the last step only
    assert homogeneity_settings(profile_with("smoke", eval_every=100, homogeneity_steps=6)).eval_every == 100


def test_the_three_ways_to_set_a_setting_agree():
    by_cli = get_profile("smoke", **parse_assignments(["homogeneity.set_size=4", "homogeneity.eval_ranges=1"]))
    by_notebook = notebook_profile("smoke", "", homogeneity={"set_size": 4, "eval_ranges": (1,), "pretrain_steps": 0})
    by_code = with_homogeneity_settings(get_profile("smoke"), set_size=4, eval_ranges=(1,))
    assert homogeneity_settings(by_cli) == homogeneity_settings(by_notebook) == homogeneity_settings(by_code)
    assert homogeneity_settings(by_code).pretrain_steps == HOMOGENEITY["smoke"].pretrain_steps  # 0 kept the profile's
    with pytest.raises(ValueError, match=r"homogeneity.set_size is given twice"):
        notebook_profile("smoke", encode_overrides(parse_assignments(["homogeneity.set_size=4"])),
                         homogeneity={"set_size": 3})
    with pytest.raises(ValueError, match=r"unknown homogeneity setting 'set_sise' \(did you mean 'set_size'\?\)"):
        homogeneity_settings(get_profile("smoke", **parse_assignments(["homogeneity.set_sise=4"])))


def test_table3_datasets_are_never_trained_on():
    assert table3_datasets(get_profile("cifar")) == ("mnist", "fashion-mnist", "cifar10", "gaussian", "uniform")
    assert "cifar100" in table3_datasets(get_profile("paper"))  # out of distribution for ImageNet, as in the paper
    with pytest.raises(ValueError, match=r"ood_datasets=\('mnist', 'cifar100'\) holds 'cifar100', the set the "
                                         r"networks train on"):
        homogeneity_settings(profile_with("cifar", ood_datasets=("mnist", "cifar100")))
    assert "set_size" in HOMOGENEITY_FIELDS and "trials" not in HOMOGENEITY_FIELDS


def test_cosine_schedule_decays_every_group_to_zero_and_enters_the_keys():
    import math

    import torch

    from ood_helpers.core.profile import get_profile
    from ood_helpers.homogeneity.joint_stage import stage_scheduler
    from ood_helpers.homogeneity.settings import homogeneity_settings, with_homogeneity_settings

    quick = get_profile("quick")
    groups = [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 1e-6}, {"params": [torch.nn.Parameter(torch.zeros(1))]}]
    optimizer = torch.optim.Adam(groups, lr=1e-3)
    assert stage_scheduler(optimizer, with_homogeneity_settings(quick, lr_schedule="constant"), 10) is None
    cosine = with_homogeneity_settings(quick, lr_schedule="cosine")
    scheduler = stage_scheduler(optimizer, cosine, 10)
    seen = []
    for _ in range(10):
        optimizer.step()
        scheduler.step()
        seen.append([g["lr"] for g in optimizer.param_groups])
    # by hand: lr_t = lr_0 (1 + cos(pi t / T)) / 2
    assert seen[4] == pytest.approx([1e-6 * (1 + math.cos(math.pi * 5 / 10)) / 2, 1e-3 * (1 + math.cos(math.pi * 5 / 10)) / 2])
    assert seen[-1] == pytest.approx([0.0, 0.0], abs=1e-12)
    with pytest.raises(ValueError, match="lr_schedule must be one of"):
        homogeneity_settings(with_homogeneity_settings(quick, lr_schedule="linear"))
    with pytest.raises(ValueError, match="select_by must be one of"):
        homogeneity_settings(with_homogeneity_settings(quick, select_by="val_seen_acc"))
