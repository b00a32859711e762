"""Profile validation: every field-local rule (``Profile.__post_init__``) and every rule between
fields (``Profile.validate``, run by ``get_profile``, ``Profile.from_dict`` and ``run.check_profile``),
each with a value that must fail, naming the field, and one that must pass. Paper 000's settings and their
checks against the profile: ``test_homogeneity_settings.py``."""

import dataclasses

import pytest

from ood_helpers import run
from ood_helpers.core.profile import PROFILES, Profile, get_profile


@pytest.mark.parametrize("name", list(PROFILES))
def test_every_named_profile_is_consistent_and_survives_json(name):
    profile = get_profile(name)
    assert profile is not PROFILES[name] and profile == PROFILES[name]
    assert Profile.from_dict(profile.to_dict()) == profile
    assert profile.validate() is profile


# (field, values that must fail, value that must pass) on the smoke profile
FIELD_RULES = [
    ("trials", [-3, 0, 1.0, True, "2"], 1),
    ("batch_size", [0, -1, 2.5], 2),
    ("micro_batch_images", [-1, 1.5], 0),
    ("nodes", [0, -1, 1.5], 1),
    ("class_split", [(8, 2, 0), (8, -1, 2), (8, 2), (8, 2, 2, 1), (8.0, 2, 2), "8,2,2"], (8, 2, 3)),
    ("per_class", [(12, -1, 8), (12, 8), (12, 8, 8.5)], (12, 9, 9)),
]
FAILING = [(field, bad) for field, bads, _ in FIELD_RULES for bad in bads]


@pytest.mark.parametrize("field, bad", FAILING, ids=[f"{f}={b!r}" for f, b in FAILING])
def test_a_bad_field_value_is_refused_naming_the_field(field, bad):
    with pytest.raises(ValueError, match=rf"profile 'smoke': {field}\b") as info:
        get_profile("smoke", **{field: bad})
    assert repr(bad) in str(info.value) or f"{field}={bad}" in str(info.value)


@pytest.mark.parametrize("field, good", [(f, g) for f, _, g in FIELD_RULES], ids=[f for f, _, _ in FIELD_RULES])
def test_the_smallest_good_field_value_is_accepted(field, good):
    assert getattr(get_profile("smoke", **{field: good}), field) == good


def test_field_rules_also_hold_for_dataclasses_replace():
    # replace() is how derived profiles are made (trained_models.own_classifier_profile): field-local
    # rules run there too; rules between fields are left to validate(), called where profiles are resolved
    with pytest.raises(ValueError, match="trials must be an int >= 1, got 0"):
        dataclasses.replace(PROFILES["smoke"], trials=0)
    derived = dataclasses.replace(PROFILES["smoke"], per_class=(0, 8, 8))
    with pytest.raises(ValueError, match=r"per_class=\(0, 8, 8\): many_class 'mnist-pairs'"):
        derived.validate()


def test_paper_000_fields_are_not_profile_fields_and_the_error_says_where_they_went():
    with pytest.raises(ValueError, match=r"unknown profile field\(s\) \['set_size'\]"):
        get_profile("smoke", set_size=5)
    assert not {"set_size", "pretrain_steps", "eval_ranges"} & {f.name for f in dataclasses.fields(Profile)}


# ===== rules between fields =====


def test_per_class_zero_means_every_image():
    assert get_profile("paper").per_class[0] == 0
    assert get_profile("cifar", per_class=(0, 0, 0)).per_class == (0, 0, 0)
    # MNIST-pairs composes its images: "every image" does not exist there
    with pytest.raises(ValueError, match=r"per_class=\(0, 8, 8\): many_class 'mnist-pairs'"):
        get_profile("smoke", per_class=(0, 8, 8))


def test_class_split_fits_the_many_class_set():
    with pytest.raises(ValueError, match=r"class_split=\(80, 10, 11\) needs 101 classes but many_class 'mnist-pairs' has 100"):
        get_profile("quick", class_split=(80, 10, 11))
    assert get_profile("quick", class_split=(80, 10, 10)).num_classes == 100
    with pytest.raises(ValueError, match=r"many_class 'imagenet' has 1000"):
        get_profile("paper", class_split=(900, 100, 100))
    assert get_profile("quick", many_class="svhn").many_class == "svhn"  # unknown sets are not counted here


def test_processes_split_evenly_over_nodes():
    with pytest.raises(ValueError, match=r"world_size=6 does not split evenly over nodes=4 machines"):
        get_profile("smoke", world_size=6, nodes=4, batch_size=36)
    assert get_profile("smoke", world_size=4, nodes=2, batch_size=32).nodes == 2


def test_batches_split_over_processes_and_micro_batches():
    with pytest.raises(ValueError, match=r"batch_size=30 does not split evenly over world_size=4"):
        get_profile("smoke", batch_size=30, world_size=4)
    with pytest.raises(ValueError, match=r"micro_batch_images=5 does not divide the 8 images"):
        get_profile("smoke", batch_size=32, world_size=4, micro_batch_images=5)
    assert get_profile("smoke", batch_size=32, world_size=4, micro_batch_images=4).micro_batch_images == 4


def test_from_dict_validates():
    data = get_profile("smoke").to_dict()
    with pytest.raises(ValueError, match=r"per_class=\(0, 8, 8\)"):
        Profile.from_dict({**data, "per_class": [0, 8, 8]})
    with pytest.raises(ValueError, match="trials must be an int >= 1, got -3"):
        Profile.from_dict({**data, "trials": -3})
    assert Profile.from_dict({**data, "class_split": [8, 2, 3]}).class_split == (8, 2, 3)


# ===== run.check_profile: before any notebook =====


@pytest.mark.parametrize(
    "fields, parameters, message",
    [
        ({}, {"trials": -3}, r"trials must be an int >= 1, got -3"),
        ({"trials": -3}, {}, r"trials must be an int >= 1, got -3"),
        ({}, {"set_size": 9}, r"set_size=9 does not fit per_class"),
        ({"extra": {"homogeneity": {"eval_ranges": (1, 3)}}}, {}, r"eval_ranges=\(1, 3\)"),
        ({}, {"queries_per_class": -1}, r"queries_per_class must be an int >= 1"),
        ({"class_split": (8, 2, 1)}, {}, r"eval_ranges=\(1, 2\) reaches 2 test classes but class_split=\(8, 2, 1\)"),
    ],
)
def test_check_profile_refuses_bad_fields_and_parameters(fields, parameters, message):
    with pytest.raises(ValueError, match=message):
        run.check_profile("smoke", fields, parameters)


def test_check_profile_applies_parameters_as_a_notebook_does():
    run.check_profile("smoke", {}, {"trials": 0, "set_size": None, "marker": "x"})  # 0 / None: the profile's value
    run.check_profile("smoke", {"class_split": (8, 2, 3)}, {"eval_ranges": "1,3", "trials": 4})
