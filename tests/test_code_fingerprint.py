"""Cache keys notice code changes: ``artifacts.code_fingerprint`` in every trained artifact's config."""

from __future__ import annotations

import pytest

from ood_helpers import artifacts, pipeline
from ood_helpers.classifier import classifier_config
from ood_helpers.data import load_dataset
from ood_helpers.profiles import get_profile


def _homogeneity_key(profile) -> str:
    config = pipeline.homogeneity_config(profile, 1, "encoder-key", "train-fp", "val-fp", 0, {"layers": 1}, None)
    return artifacts.config_hash(config)


@pytest.fixture
def edited_source(monkeypatch):
    """Replaces the source text ``code_fingerprint`` reads for one module."""
    real = artifacts._module_source

    def edit(module: str, change):
        monkeypatch.setattr(artifacts, "_module_source", lambda name: change(real(name)) if name == module else real(name))
    return edit


def test_editing_the_loss_changes_the_homogeneity_key(edited_source):
    p = get_profile("smoke")
    before = _homogeneity_key(p)
    assert _homogeneity_key(p) == before  # stable within a process and across calls
    edited_source("losses.homogeneity", lambda src: src.replace("per_set.mean()", "per_set.sum()"))
    assert _homogeneity_key(p) != before


def test_comments_and_docstrings_keep_the_key(edited_source):
    p = get_profile("smoke")
    before = _homogeneity_key(p)
    edited_source("losses.homogeneity", lambda src: src.replace('"""Binary cross-entropy', '"""Cross-entropy')
                  .replace("    return per_set.mean()", "    # averaged over the batch\n    return per_set.mean()"))
    assert _homogeneity_key(p) == before


def test_editing_the_training_loop_changes_classifier_keys(edited_source):
    p = get_profile("smoke")
    data = load_dataset("digits", "train")
    before = artifacts.config_hash(classifier_config(p, data, seed=0))
    edited_source("train", lambda src: src + "\nEXTRA = 1\n")
    assert artifacts.config_hash(classifier_config(p, data, seed=0)) != before


def test_amp_and_architecture_are_in_the_keys():
    p = get_profile("smoke")
    data = load_dataset("digits", "train")
    config = classifier_config(p, data, seed=0)
    assert config["amp"] is False  # amp only acts on CUDA; the CPU key says so
    hom = pipeline.homogeneity_config(p, 1, "e", "t", "v", 0, {"dropout": 0.1}, None)
    other = pipeline.homogeneity_config(p, 1, "e", "t", "v", 0, {"dropout": 0.0}, None)
    assert artifacts.config_hash(hom) != artifacts.config_hash(other)


def test_unknown_module_is_refused():
    with pytest.raises(ValueError, match="no module ood_helpers.nope"):
        artifacts.code_fingerprint("nope")
    with pytest.raises(ValueError, match="name at least one module"):
        artifacts.code_fingerprint()
