"""``--set METHOD.FIELD=VALUE`` reaches one paper's settings the same way for every paper."""

from __future__ import annotations

import pytest

from ood_helpers.cac.settings import cac_settings
from ood_helpers.core.overrides import parse_assignments
from ood_helpers.core.profile import get_profile
from ood_helpers.core.settings import settings_for
from ood_helpers.pseudo_label.settings import PSEUDO_LABEL


def test_dotted_assignments_land_in_the_methods_settings_typed():
    fields = parse_assignments(["trials=2", "cac.epochs=3,2", "cac.width=0.5", "pseudo_label.trials=1"])
    assert fields["trials"] == 2
    assert fields["extra"] == {"cac": {"epochs": "3,2", "width": "0.5"}, "pseudo_label": {"trials": "1"}}
    profile = get_profile("smoke", **fields)
    assert cac_settings(profile).epochs == (3, 2) and cac_settings(profile).width == 0.5
    assert settings_for(profile, "pseudo_label", PSEUDO_LABEL).trials == 1
    assert cac_settings(get_profile("smoke")).epochs == (1,)  # the profile's own value when not set


def test_dotted_and_json_extra_merge_and_clash_by_name():
    merged = parse_assignments(['extra={"cac": {"trials": 2}}', "cac.width=0.5"])
    assert merged["extra"] == {"cac": {"trials": 2, "width": "0.5"}}
    with pytest.raises(ValueError, match="both set cac setting 'width'"):
        parse_assignments(['extra={"cac": {"width": 1}}', "cac.width=0.5"])
    with pytest.raises(ValueError, match="given twice"):
        parse_assignments(["cac.width=0.5", "cac.width=1"])
    with pytest.raises(ValueError, match="METHOD.FIELD=VALUE"):
        parse_assignments(["cac.=1"])


def test_a_mistyped_setting_is_refused_by_name_with_a_suggestion():
    profile = get_profile("smoke", **parse_assignments(["cac.epoch=3"]))
    with pytest.raises(ValueError, match="unknown cac setting 'epoch' \\(did you mean 'epochs'\\?\\)"):
        cac_settings(profile)
    with pytest.raises(ValueError, match="cac setting 'width' expects a number"):
        cac_settings(get_profile("smoke", **parse_assignments(["cac.width=wide"])))
