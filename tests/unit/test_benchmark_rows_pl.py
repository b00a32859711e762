"""The open-set benchmark's rows of paper 003 (notebook 09: DN2 and pseudo-label kNN) on a small smoke-profile
trial of mnist5k: scores against a brute-force numpy 1-NN cosine distance on features computed by hand from the
cached networks, no label ever read (every ``y_*`` of the trial raises), bit-identical retraining in a fresh
cache, the quick profile's setting changes under the user's overrides, and 3-channel images refused by name."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ood_helpers.benchmark import rows_pseudo_label as R
from ood_helpers.benchmark.runner import compute
from ood_helpers.core.profile import get_profile
from ood_helpers.pseudo_label.settings import PSEUDO_LABEL
from tests.support import make_trial, smoke_trial_data

ROWS = {r.key: r for r in R.ROWS}


@pytest.fixture(scope="module")
def data():
    return smoke_trial_data()


def run_row(key, t, data=None):
    return compute(ROWS[key], t, data)


class NoLabels:
    """A trial's data whose labels cannot be read: any ``y_*`` attribute raises."""

    def __init__(self, inner):
        self.inner = inner

    def __getattr__(self, name):
        if name.startswith("y_"):
            raise AssertionError(f"a label-free row read trial.data.{name}")
        return getattr(self.inner, name)


def brute_force_1nn(encoder, data, size: int) -> tuple[np.ndarray, np.ndarray]:
    """1 - max cosine similarity to the training features, every pair computed in numpy (float64)."""
    def feats(x):
        x = F.interpolate(x.float() / 255.0, size=(size, size), mode="bilinear", antialias=True).clamp(0, 1)
        encoder.eval()
        with torch.no_grad():
            f = encoder(x).double().numpy()
        return f / np.linalg.norm(f, axis=1, keepdims=True)

    train = feats(data.x_train)
    return tuple(np.array([1.0 - max(float(q @ r) for r in train) for q in feats(x)])
                 for x in (data.x_test, data.x_unknown))


@pytest.fixture(scope="module")
def first_run(data, tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("OOD_ARTIFACTS_DIR", str(tmp_path_factory.mktemp("artifacts")))
    t = make_trial(data)
    out = {key: run_row(key, t) for key in ("dn2", "pl_knn")}  # DN2 first: it trains the shared network
    s = R.settings(t)
    d = R.trial_images(t, s)
    source = R.pretrained(t, s, d)  # from the cache the rows filled
    model, meta = R.finetuned(t, s, d, source)
    yield t, out, source, model, meta
    mp.undo()


def test_dn2_is_1nn_cosine_on_pretrained_features(first_run):
    t, out, source, _, _ = first_run
    known, unknown = brute_force_1nn(source.encoder, t.data, PSEUDO_LABEL["smoke"].image_size)
    np.testing.assert_allclose(out["dn2"].s_known, known, atol=1e-5)
    np.testing.assert_allclose(out["dn2"].s_unknown, unknown, atol=1e-5)
    assert out["dn2"].pred_known is None and "trained now: source" in out["dn2"].note


def test_pl_knn_is_1nn_cosine_on_the_fine_tuned_average(first_run):
    t, out, source, model, meta = first_run
    known, unknown = brute_force_1nn(model.encoder, t.data, PSEUDO_LABEL["smoke"].image_size)
    np.testing.assert_allclose(out["pl_knn"].s_known, known, atol=1e-5)
    np.testing.assert_allclose(out["pl_knn"].s_unknown, unknown, atol=1e-5)
    # fine-tuning moved the features away from DN2's, and started from the shared pretrained network
    assert not np.allclose(out["pl_knn"].s_known, out["dn2"].s_known, atol=1e-4)
    assert "source" not in out["pl_knn"].note.split("trained now:")[1]
    assert meta["clusters"] == t.num_classes == 6
    assert sum(meta["pseudo_label_counts"]) == len(t.data.x_train)
    assert out["pl_knn"].extra["pseudo_label_counts"] == meta["pseudo_label_counts"]


def test_no_label_read_and_identical_retraining(first_run, data, tmp_path, monkeypatch):
    """Retrained from nothing in a fresh cache on a trial whose labels raise: the same scores, bit for bit."""
    monkeypatch.setenv("OOD_ARTIFACTS_DIR", str(tmp_path))
    t0, out, _, _, _ = first_run
    t = dataclasses.replace(t0, data=NoLabels(data))
    with pytest.raises(AssertionError, match="label-free"):
        t.data.y_train  # noqa: B018  (the poison works)
    for key in ("pl_knn", "dn2"):  # pl_knn first: it trains the pretrained network itself
        again = run_row(key, t, data)
        assert ("trained now: source" if key == "pl_knn" else "every stage loaded from its cache") in again.note
        np.testing.assert_array_equal(again.s_known, out[key].s_known)
        np.testing.assert_array_equal(again.s_unknown, out[key].s_unknown)


def test_quick_changes_under_user_overrides(data):
    quick = R.settings(make_trial(data, get_profile("quick")))
    assert quick == dataclasses.replace(PSEUDO_LABEL["quick"], **R.CHANGES["quick"], data="digits")
    user = get_profile("quick", extra={"pseudo_label": {"scan_epochs": 7}})
    assert R.settings(make_trial(data, user)).scan_epochs == 7
    assert R.settings(make_trial(data)) == dataclasses.replace(PSEUDO_LABEL["smoke"], data="digits")


def test_colour_images_refused_by_the_grey_stand_in(data):
    rgb = dataclasses.replace(data, **{f"x_{p}": getattr(data, f"x_{p}").repeat(1, 3, 1, 1)
                                       for p in ("train", "val", "test", "unknown")})
    t = make_trial(rgb)
    for row in R.ROWS:
        assert "1 channel" in row.why_not(t)
        with pytest.raises(ValueError, match="cannot run on this trial"):
            row.run(t)
    assert all(row.why_not(make_trial(data)) is None for row in R.ROWS)
