"""The discovery experiment end to end in the smoke profile: validation streams never hold a test
class, the chosen threshold is the one the test runs use, the optional variant-2 model runs, and a
rerun loads the cached result."""

import numpy as np
import pytest

from ood_helpers.core import artifacts
from ood_helpers.homogeneity import trained_models
from ood_helpers.core.data import class_split, many_class_split
from ood_helpers.discovery import experiment as D
from ood_helpers.discovery.settings import M_HOM_V2, discovery_settings
from ood_helpers.homogeneity.paper_values import M_HOM, M_NN_COS_PRE
from ood_helpers.core.profile import get_profile
from ood_helpers.homogeneity.settings import homogeneity_settings


@pytest.fixture(scope="module")
def smoke():
    p = get_profile("smoke", extra={"discovery": {"methods": [M_HOM, M_HOM_V2, M_NN_COS_PRE], "streams": 1}})
    return p, discovery_settings(p), trained_models.load_models(p, progress=False)


def test_validation_streams_never_hold_test_classes(smoke):
    p, s, _ = smoke
    split, k = class_split(p), homogeneity_settings(p).set_size
    for name, unseen, other in (("val", split.val, split.test), ("test", split.test, split.val)):
        targets = many_class_split(p, name).targets.numpy()
        for st in D.split_streams(p, s, name, targets):
            assert set(st.unseen) == set(unseen)
            assert not set(st.labels) & set(other) and not set(st.memory_labels) & set(other)
            assert set(st.known) <= set(split.seen)
            assert np.bincount(st.memory_labels)[st.known].tolist() == [k - 1] * len(st.known)
    seeds = {name: {st.seed for st in D.split_streams(p, s, name, many_class_split(p, name).targets.numpy())}
             for name in ("val", "test")}
    assert not seeds["val"] & seeds["test"]


def test_run_discovery_end_to_end_and_cached(smoke, monkeypatch):
    p, s, models = smoke
    result = D.run_discovery(p, models, s, progress=False)
    assert set(result.chosen) == set(s.methods)
    for m in s.methods:
        test_t = {r["threshold"] for r in result.test if r["method"] == m}
        assert test_t == {result.chosen[m][0]}
        val = [r for r in result.sweep if r["method"] == m]
        assert result.chosen[m][0] in {r["threshold"] for r in val}
    assert len(result.test) == len(s.methods) * len(s.orders) * s.streams
    # a rerun reads the cache instead of scoring again
    monkeypatch.setattr(D, "_run", lambda *a, **k: pytest.fail("recomputed instead of loading the cache"))
    again = D.run_discovery(p, models, s, progress=False)
    assert again.test == result.test and again.chosen == result.chosen
    assert list((artifacts.cache_path(p, "discovery", "x").parent).glob("*.pt"))
