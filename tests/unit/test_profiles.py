"""Profile validation: every field-local rule (``Profile.__post_init__``) and every rule between
fields (``Profile.validate``, run by ``get_profile``, ``Profile.from_dict`` and ``run.check_profile``),
each with a value that must fail, naming the field, and one that must pass."""

import dataclasses

import pytest

from ood_helpers import run
from ood_helpers.core.profile import PROFILES, Profile, get_profile
from ood_helpers.homogeneity.sampling import MAX_SET_SIZE, MIN_SET_SIZE


@pytest.mark.parametrize("name", list(PROFILES))
def test_every_named_profile_is_consistent_and_survives_json(name):
    profile = get_profile(name)
    assert profile is not PROFILES[name] and profile == PROFILES[name]
    assert Profile.from_dict(profile.to_dict()) == profile
    assert profile.validate() is profile


# (field, values that must fail, value that must pass) on the smoke profile
FIELD_RULES = [
    ("trials", [-3, 0, 1.0, True, "2"], 1),
    ("queries_per_class", [0, -1, 2.5], 1),
    ("eval_every", [0, -2], 1),
    ("pretrain_steps", [-1, 1.5], 0),  # 0: the untrained network
    ("homogeneity_steps", [-1], 0),  # 0: only the step-0 evaluation
    ("set_size", [MIN_SET_SIZE - 1, 0, -5, 2.0, True, MAX_SET_SIZE + 1], MIN_SET_SIZE),
    ("class_split", [(8, 2, 0), (8, -1, 2), (8, 2), (8, 2, 2, 1), (8.0, 2, 2), "8,2,2"], (8, 2, 3)),
    ("per_class", [(12, -1, 8), (12, 8), (12, 8, 8.5)], (12, 9, 9)),
    ("eval_ranges", [(), (0, 1), (2, 1), (1, 1), (1.5,), (-1, 2), 2], (2,)),
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
    derived = dataclasses.replace(PROFILES["smoke"], set_size=9)  # per_class 8 val / test images: inconsistent
    with pytest.raises(ValueError, match=r"set_size=9 does not fit per_class=\(12, 8, 8\)"):
        derived.validate()


def test_set_size_bounds_are_the_samplers():
    big = (MAX_SET_SIZE,) * 3
    assert get_profile("smoke", set_size=MAX_SET_SIZE, per_class=big).set_size == MAX_SET_SIZE
    with pytest.raises(ValueError, match=rf"set_size \(images per set\) must be an int in {MIN_SET_SIZE}..{MAX_SET_SIZE}, got {MAX_SET_SIZE + 1}"):
        get_profile("smoke", set_size=MAX_SET_SIZE + 1, per_class=(MAX_SET_SIZE + 1,) * 3)


# ===== rules between fields =====


@pytest.mark.parametrize("index, split", [(0, "train"), (1, "val"), (2, "test")])
def test_set_size_needs_that_many_images_a_class_in_every_split(index, split):
    short = [12, 8, 8]
    short[index] = 4  # smoke: set_size 5
    with pytest.raises(ValueError, match=rf"set_size=5 does not fit per_class=.*per_class\[{index}\] = 4 {split} images"):
        get_profile("smoke", per_class=tuple(short))
    exact = [12, 8, 8]
    exact[index] = 5  # set_size images: k - 1 supports and the query, or one full set
    assert get_profile("smoke", per_class=tuple(exact)).per_class[index] == 5
    # and the same fix from the other side
    assert get_profile("smoke", per_class=tuple(short), set_size=4).set_size == 4


def test_every_short_split_is_named_at_once():
    with pytest.raises(ValueError) as info:
        get_profile("smoke", set_size=10)  # per_class (12, 8, 8)
    message = str(info.value)
    assert "per_class[1] = 8 val" in message and "per_class[2] = 8 test" in message
    assert "per_class[0]" not in message and "Use set_size <= 8" in message


def test_per_class_zero_means_every_image():
    paper = get_profile("paper")
    assert paper.per_class[0] == 0 and paper.set_size == 25  # every training image, whatever set_size
    assert get_profile("cifar", per_class=(0, 0, 0)).per_class == (0, 0, 0)
    # MNIST-pairs composes its images: "every image" does not exist there
    with pytest.raises(ValueError, match=r"per_class=\(0, 8, 8\): many_class 'mnist-pairs'"):
        get_profile("smoke", per_class=(0, 8, 8))


def test_eval_ranges_stay_within_the_test_classes():
    with pytest.raises(ValueError, match=r"eval_ranges=\(1, 3\) reaches 3 test classes but class_split=\(8, 2, 2\) "
                                         r"has 2 \(class_split\[2\]\)"):
        get_profile("smoke", eval_ranges=(1, 3))
    assert get_profile("smoke", eval_ranges=(1, 3), class_split=(8, 2, 3)).eval_ranges == (1, 3)
    # shrinking the paper's classes needs its ranges shrunk too
    with pytest.raises(ValueError, match=r"eval_ranges=\(10, 20, 40, 80, 100\)"):
        get_profile("paper", class_split=(4, 2, 2))
    assert get_profile("paper", class_split=(4, 2, 2), eval_ranges=(1, 2)).num_classes == 8


def test_class_split_fits_the_many_class_set():
    with pytest.raises(ValueError, match=r"class_split=\(80, 10, 11\) needs 101 classes but many_class 'mnist-pairs' has 100"):
        get_profile("quick", class_split=(80, 10, 11))
    assert get_profile("quick", class_split=(80, 10, 10)).num_classes == 100
    with pytest.raises(ValueError, match=r"many_class 'imagenet' has 1000"):
        get_profile("paper", class_split=(900, 100, 100))
    assert get_profile("quick", many_class="svhn").many_class == "svhn"  # unknown sets are not counted here


def test_eval_every_above_the_homogeneity_steps_is_allowed():
    # documented: train.fit then evaluates at step 0 and at the last step only
    assert get_profile("smoke", eval_every=100, homogeneity_steps=6).eval_every == 100


def test_from_dict_validates():
    data = get_profile("smoke").to_dict()
    with pytest.raises(ValueError, match=r"eval_ranges=\(1, 3\)"):
        Profile.from_dict({**data, "eval_ranges": [1, 3]})
    with pytest.raises(ValueError, match="trials must be an int >= 1, got -3"):
        Profile.from_dict({**data, "trials": -3})
    assert Profile.from_dict({**data, "eval_ranges": [2]}).eval_ranges == (2,)


# ===== run.check_profile: before any notebook =====


@pytest.mark.parametrize(
    "fields, parameters, message",
    [
        ({}, {"trials": -3}, r"trials must be an int >= 1, got -3"),
        ({"trials": -3}, {}, r"trials must be an int >= 1, got -3"),
        ({}, {"set_size": 9}, r"set_size=9 does not fit per_class"),
        ({"eval_ranges": (1, 3)}, {}, r"eval_ranges=\(1, 3\)"),
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
