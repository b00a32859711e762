"""Per-method settings per profile, overridden through Profile.extra."""

from dataclasses import dataclass

import pytest

from ood_helpers.core.settings import settings_for
from ood_helpers.core.overrides import notebook_profile
from ood_helpers.core.profile import get_profile


@dataclass(frozen=True)
class Knobs:
    epochs: int = 5
    lam: float = 0.1
    grid: tuple[int, ...] = (1, 2)


TABLE = {"smoke": Knobs(epochs=1), "quick": Knobs()}


def test_defaults_per_profile_and_typed_overrides():
    assert settings_for(get_profile("smoke"), "toy", TABLE).epochs == 1
    prof = get_profile("quick", extra={"toy": {"epochs": "3", "grid": "4,5", "lam": 1}})
    got = settings_for(prof, "toy", TABLE)
    assert got == Knobs(epochs=3, lam=1.0, grid=(4, 5)) and isinstance(got.lam, float)
    # the command-line path: --set 'extra={...}' travels as a notebook's overrides text
    via_notebook = notebook_profile("quick", '{"extra": {"toy": {"epochs": 7}}}')
    assert settings_for(via_notebook, "toy", TABLE).epochs == 7


@pytest.mark.parametrize("extra, message", [
    ({"toy": {"epoch": 2}}, "unknown toy setting 'epoch' \\(did you mean 'epochs'\\?\\)"),
    ({"toy": {"epochs": "many"}}, "toy setting 'epochs' expects an integer"),
    ({"toy": 3}, "must be a JSON object"),
])
def test_bad_overrides_are_named(extra, message):
    with pytest.raises(ValueError, match=message):
        settings_for(get_profile("quick", extra=extra), "toy", TABLE)


def test_profile_without_settings_is_named():
    with pytest.raises(ValueError, match="no entry for profile 'paper'"):
        settings_for(get_profile("paper"), "toy", TABLE)
