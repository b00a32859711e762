"""Profile overrides: --set parsing typed by the Profile fields, refusals, the JSON text a notebook
receives, and notebook_profile against get_profile built by hand."""

import dataclasses
import typing

import pytest

from ood_helpers.core.overrides import (coerce_field, decode_overrides, encode_overrides, field_types, notebook_profile, parse_assignments)
from ood_helpers.core.profile import Profile, get_profile


@pytest.mark.parametrize(
    "item, field, expected",
    [
        ("batch_size=2", "batch_size", 2),  # int
        ("batch_size=15_000", "batch_size", 15_000),
        ("amp=false", "amp", False),  # bool, any case, 1 / 0
        ("amp=TRUE", "amp", True),
        ("small_stem=1", "small_stem", True),
        ("small_stem=0", "small_stem", False),
        ("device=cpu", "device", "cpu"),  # str, quoted or not
        ("many_class='cifar100'", "many_class", "cifar100"),
        ("device=cuda:1", "device", "cuda:1"),
        ("image_size=64", "image_size", 64),  # int | None
        ("image_size=none", "image_size", None),
        ("image_size=null", "image_size", None),
        ("class_split=4,2,2", "class_split", (4, 2, 2)),  # tuple[int, int, int]
        ("class_split=[4,2,2]", "class_split", (4, 2, 2)),
        ("class_split=(4, 2, 2)", "class_split", (4, 2, 2)),
        ('extra={"augment": false}', "extra", {"augment": False}),  # dict, JSON or Python
        ("extra={'augment': False, 'k': 3}", "extra", {"augment": False, "k": 3}),
        ("trials = 3", "trials", 3),
    ],
)
def test_parse_types_every_kind_of_field(item, field, expected):
    parsed = parse_assignments([item])
    assert parsed == {field: expected}
    assert type(parsed[field]) is type(expected)
    if isinstance(expected, tuple):
        assert all(type(a) is type(b) for a, b in zip(parsed[field], expected))


def test_several_assignments_and_none():
    items = ["batch_size=2", "class_split=4,2,2", "device=cpu", "amp=false", 'extra={"augment": false}']
    assert parse_assignments(items) == {
        "batch_size": 2, "class_split": (4, 2, 2), "device": "cpu", "amp": False, "extra": {"augment": False}}
    assert parse_assignments([]) == parse_assignments(None) == {}


def test_every_profile_field_is_known_and_takes_its_own_value():
    # generic over the dataclass: a field added to Profile is covered without listing it here
    hints = typing.get_type_hints(Profile)
    fields = [f.name for f in dataclasses.fields(Profile) if f.name != "name"]
    assert list(field_types()) == fields
    paper = get_profile("paper")
    for name in fields:
        value = getattr(paper, name)
        assert coerce_field(name, value) == value, name
        assert decode_overrides(encode_overrides({name: value})) == {name: value}, (name, hints[name])


@pytest.mark.parametrize(
    "items, message",
    [
        (["no_such_field=1"], r"--set no_such_field=1: unknown profile field 'no_such_field'; known fields: .*batch_size.*a paper's "
                             r"setting is METHOD.FIELD \(e.g. homogeneity.set_size=5"),
        (["batch_sise=2"], r"unknown profile field 'batch_sise' \(did you mean 'batch_size'\?\)"),
        (["name=quick"], r"'name' cannot be set: the profile is chosen with --profile"),
        (["batch_size"], r"--set 'batch_size': expected FIELD=VALUE or METHOD.FIELD=VALUE, e.g. --set trials=2"),
        (["=2"], r"expected FIELD=VALUE"),
        (["trials=2", "trials=3"], r"--set trials is given twice; set each field once"),
        (["batch_size=2.5"], r"profile field 'batch_size' \(int\) expects an integer; got '2.5'"),
        (["batch_size=true"], r"expects an integer"),
        (["amp=maybe"], r"'amp' \(bool\) expects true or false \(or 1 / 0\); got 'maybe'"),
        (["image_size=big"], r"'image_size' \(int \| None\) expects an integer or none"),
        (["class_split=4,2"], r"'class_split' \(tuple\[int, int, int\]\) expects 3 values \(each an integer\) separated by commas"),
        (["class_split=a,b,c"], r"expects 3 values"),
        (["class_split=[4,2"], r"expects 3 values"),
        (["extra=[1]"], r"'extra' \(dict\) expects a JSON object such as \{\"augment\": false\}"),
        (["extra={augment"], r"'extra' \(dict\) expects a JSON object"),
    ],
)
def test_refusals_say_what_is_expected(items, message):
    with pytest.raises(ValueError, match=message):
        parse_assignments(items)


def test_encode_is_canonical_and_decode_is_its_inverse():
    parsed = parse_assignments(["trials=3", "class_split=4,2,2", "amp=false", "image_size=none", 'extra={"b": 1, "a": [1]}'])
    text = encode_overrides(parsed)
    assert text == ('{"amp": false, "class_split": [4, 2, 2], "extra": {"a": [1], "b": 1}, "image_size": null, '
                    '"trials": 3}')
    assert decode_overrides(text) == parsed
    assert encode_overrides(decode_overrides(text)) == text
    assert encode_overrides({}) == encode_overrides(None) == ""
    assert decode_overrides("") == decode_overrides("  ") == decode_overrides(None) == {}


def test_decode_validates_hand_written_json():
    assert decode_overrides('{"trials": "3", "amp": 0, "per_class": [1, 2, 3]}') == {
        "trials": 3, "amp": False, "per_class": (1, 2, 3)}
    with pytest.raises(ValueError, match=r"unknown profile field 'trails' \(did you mean 'trials'\?\)"):
        decode_overrides('{"trails": 3}')
    with pytest.raises(ValueError, match=r"'trials' \(int\) expects an integer; got True"):
        decode_overrides('{"trials": true}')
    with pytest.raises(ValueError, match=r"'trials' \(int\) expects an integer; got 2.5"):
        decode_overrides('{"trials": 2.5}')
    with pytest.raises(ValueError, match=r"overrides must be JSON text such as"):
        decode_overrides("{trials: 3}")
    with pytest.raises(ValueError, match=r"overrides must be a JSON object"):
        decode_overrides("[3]")
    with pytest.raises(ValueError, match=r"'name' cannot be set"):
        encode_overrides({"name": "paper"})


def test_notebook_profile_equals_get_profile_by_hand():
    text = encode_overrides(parse_assignments(["homogeneity.pretrain_steps=2", "homogeneity.homogeneity_steps=2",
                                                "class_split=4,2,2", "homogeneity.eval_ranges=1,2"]))
    assert notebook_profile("paper", text, trials=3, homogeneity={"queries_per_class": 0}) == get_profile(
        "paper", class_split=(4, 2, 2), trials=3,
        extra={"homogeneity": {"pretrain_steps": "2", "homogeneity_steps": "2", "eval_ranges": "1,2"}})
    # 0 / None / "" notebook parameters mean "the profile's value"
    assert notebook_profile("quick") == notebook_profile("quick", "", trials=0, image_size=None, device="",
                                                                     homogeneity={"set_size": 0}) == get_profile("quick")
    assert notebook_profile("smoke", "", trials=4) == get_profile("smoke", trials=4)
    # get_profile drops None values; an override to None still applies
    assert notebook_profile("paper", '{"image_size": null}').image_size is None


def test_notebook_profile_refuses_a_field_given_both_ways():
    text = encode_overrides({"trials": 3})
    with pytest.raises(ValueError, match=r"trials is given twice: notebook parameter trials=4, overrides trials=3"):
        notebook_profile("smoke", text, trials=4)
    assert notebook_profile("smoke", text, trials=3).trials == 3  # the same value twice is fine
    assert notebook_profile("smoke", text, trials=0).trials == 3
    with pytest.raises(ValueError, match=r"unknown profile field 'steps'"):
        notebook_profile("smoke", "", steps=2)
    with pytest.raises(ValueError, match=r"unknown profile 'huge'"):
        notebook_profile("huge", text)
