"""Cache keys notice code changes: ``artifacts.code_fingerprint`` of the maker's import closure in every trained
artifact's config, derived from the source (no module lists kept by hand)."""

from __future__ import annotations

import pytest

from ood_helpers.core import artifacts
from ood_helpers.core.artifacts import keys
from ood_helpers.core.data import load_dataset
from ood_helpers.core.profile import get_profile
from ood_helpers.homogeneity import training
from ood_helpers.homogeneity.classifier import classifier_config


def _homogeneity_key(profile) -> str:
    config = training.homogeneity_config(profile, 1, "encoder-key", "train-fp", "val-fp", 0, {"layers": 1}, None)
    return artifacts.config_hash(config)


@pytest.fixture
def edited_source(monkeypatch):
    """Replaces the source text ``code_fingerprint`` reads for one module."""
    real = keys._read_source

    def edit(module: str, change):
        monkeypatch.setattr(keys, "_read_source", lambda name: change(real(name)) if name == module else real(name))
    return edit


def test_editing_the_loss_changes_the_homogeneity_key(edited_source):
    p = get_profile("smoke")
    before = _homogeneity_key(p)
    assert _homogeneity_key(p) == before  # stable within a process and across calls
    edited_source("ood_helpers.homogeneity.loss", lambda src: src.replace("per_set.mean()", "per_set.sum()"))
    assert _homogeneity_key(p) != before


def test_comments_docstrings_and_unrelated_modules_keep_the_key(edited_source):
    p = get_profile("smoke")
    before = _homogeneity_key(p)
    edited_source("ood_helpers.homogeneity.loss", lambda src: src.replace('"""Binary cross-entropy', '"""Cross-entropy')
                  .replace("    return per_set.mean()", "    # averaged over the batch\n    return per_set.mean()"))
    assert _homogeneity_key(p) == before
    assert "ood_helpers.cac.loss" not in artifacts.code_closure("ood_helpers.homogeneity.training")
    edited_source("ood_helpers.cac.loss", lambda src: src + "\nEXTRA = 1\n")  # another paper's loss
    assert _homogeneity_key(p) == before


def test_a_transitive_import_changes_classifier_keys(edited_source):
    p = get_profile("smoke")
    data = load_dataset("digits", "train")
    before = artifacts.config_hash(classifier_config(p, data, seed=0))
    edited_source("ood_helpers.core.train", lambda src: src + "\nEXTRA = 1\n")  # classifier -> core.train
    assert artifacts.config_hash(classifier_config(p, data, seed=0)) != before


def test_a_function_local_import_joins_the_closure(edited_source):
    assert "ood_helpers.cac.loss" not in artifacts.code_closure("ood_helpers.homogeneity.loss")
    edited_source("ood_helpers.homogeneity.loss",
                  lambda src: src + "\n\ndef _late():\n    from ood_helpers.cac import loss\n    return loss\n")
    assert "ood_helpers.cac.loss" in artifacts.code_closure("ood_helpers.homogeneity.loss")


def test_amp_and_architecture_are_in_the_keys():
    p = get_profile("smoke")
    data = load_dataset("digits", "train")
    config = classifier_config(p, data, seed=0)
    assert config["amp"] is False  # amp only acts on CUDA; the CPU key says so
    hom = training.homogeneity_config(p, 1, "e", "t", "v", 0, {"dropout": 0.1}, None)
    other = training.homogeneity_config(p, 1, "e", "t", "v", 0, {"dropout": 0.0}, None)
    assert artifacts.config_hash(hom) != artifacts.config_hash(other)


def test_unknown_module_is_refused():
    with pytest.raises(ValueError, match="no module 'nope'"):
        artifacts.code_fingerprint("nope")
    with pytest.raises(ValueError, match="name at least one module"):
        artifacts.code_fingerprint()


def test_a_file_edited_during_a_run_keeps_that_runs_keys(tmp_path, monkeypatch):
    from ood_helpers.core.artifacts import keys

    module = tmp_path / "pkg" / "ood_helpers" / "maker.py"
    module.parent.mkdir(parents=True)
    module.write_text("def make():\n    return 1\n")
    monkeypatch.setattr(keys, "_PACKAGE_ROOT", tmp_path / "pkg")
    keys._read_source.cache_clear()
    try:
        before = artifacts.code_fingerprint("ood_helpers.maker")
        module.write_text("def make():\n    return 2\n")  # the process still runs the code it imported
        assert artifacts.code_fingerprint("ood_helpers.maker") == before
        keys._read_source.cache_clear()  # a new process reads the edit
        assert artifacts.code_fingerprint("ood_helpers.maker") != before
    finally:
        keys._read_source.cache_clear()
