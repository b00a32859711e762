"""The dry run (``core/dry_run.py``): what it cuts and what it keeps, that ``--set`` wins over it, where its
outputs go; and the inputs check of ``ood_helpers.preflight`` that runs before any notebook."""

from __future__ import annotations

import pytest

from ood_helpers import preflight, run
from ood_helpers.cac.settings import cac_settings
from ood_helpers.core.artifacts import cache_path
from ood_helpers.core.dry_run import DRY_RUNS, AtMost, output_name
from ood_helpers.core.overrides import notebook_profile
from ood_helpers.core.profile import PROFILES, get_profile
from ood_helpers.homogeneity.settings import homogeneity_settings


def test_at_most_caps_ints_and_tuples_and_keeps_zero():
    assert AtMost(2).apply(450_000) == 2 and AtMost(2).apply(0) == 0 and AtMost(5).apply((0, 50, 50)) == (0, 5, 5)


@pytest.mark.parametrize("name", ["cifar", "paper"])
def test_a_dry_run_keeps_the_data_and_networks_and_cuts_the_run_size(name):
    full, dry = PROFILES[name], get_profile(name, dry_run=True)
    for field in ("many_class", "class_split", "image_size", "channels", "resnet_width", "small_stem", "augmentation"):
        assert getattr(dry, field) == getattr(full, field), field
    assert dry.device == "cpu" and dry.trials == 1 and dry.models == 1 and dry.batch_size <= 4
    hs, hs_full = homogeneity_settings(dry), homogeneity_settings(full)
    assert (hs.transformer_layers, hs.transformer_heads, hs.transformer_head_dim) == (6, 16, 64)
    assert hs.pretrain_steps == 2 and hs.homogeneity_steps == 2 and hs.eval_eq1_queries_per_class == 1
    assert hs_full.eval_eq1_queries_per_class == 20 and hs.ood_datasets == hs_full.ood_datasets
    assert cac_settings(dry).datasets == cac_settings(full).datasets and cac_settings(dry).trials == 1


def test_set_wins_over_the_dry_run_and_a_notebook_opened_by_hand_gets_it():
    p = notebook_profile("cifar", '{"dry_run": true, "trials": 2, "extra": {"homogeneity": {"pretrain_steps": 5}}}')
    assert p.trials == 2 and p.batch_size == 4 and homogeneity_settings(p).pretrain_steps == 5
    assert homogeneity_settings(p).homogeneity_steps == 2


def test_every_papers_dry_run_names_real_settings():
    assert {"homogeneity", "cac", "embedding_ood", "cluster_distance", "pseudo_label", "discovery",
            "benchmark"} <= set(DRY_RUNS)


def test_dry_run_outputs_go_to_their_own_folders(tmp_path, monkeypatch):
    monkeypatch.setenv("OOD_ARTIFACTS_DIR", str(tmp_path))
    assert output_name(get_profile("paper", dry_run=True)) == "paper-dry-run"
    assert output_name(PROFILES["paper"]) == "paper"
    path = cache_path(get_profile("cifar", dry_run=True), "classifier", "k", ".pt")
    assert path.parent.parent.name == "cifar-dry-run"


def test_the_dry_run_says_what_it_cut():
    lines = "\n".join(preflight.dry_run_changes(get_profile("paper", dry_run=True)))
    assert "batch_size: 256 -> 4" in lines and "homogeneity.pretrain_steps: 450000 -> 2" in lines
    assert "cac.trials: 5 -> 1" in lines


def test_the_inputs_of_each_notebook_follow_the_profile():
    inputs = preflight.notebook_inputs(get_profile("paper"))
    names = {nb: {n.name for n in needs} for nb, needs in inputs.items()}
    assert names["02"] == {"imagenet"} and {"imagenet", "mnist", "fashion-mnist", "cifar10", "cifar100"} <= names["04"]
    assert "tinyimagenet" in names["06"] and "imagenet-resnet152" in names["09"]
    assert names["12"] == set() and all(not needs for needs in preflight.notebook_inputs(PROFILES["quick"]).values()
                                        if not any(n.kind == "folder" for n in needs))


def test_a_missing_dataset_stops_before_any_notebook_naming_the_variable(data_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="OOD_IMAGENET_DIR"):
        preflight.check_inputs(get_profile("paper", dry_run=True), ["02"], log=lambda *a, **k: None)
    started = []
    with pytest.raises(FileNotFoundError, match="OOD_CIFAR100_DIR"):
        run.run_all("cifar", [run.find_notebooks()[2]], overrides={"dry_run": True},
                    log=lambda *a, **k: started.append(a), progress=False)
    assert not any("[1/" in str(a) for a in started)


def test_plan_says_what_each_notebook_will_do_from_the_settings(capsys):
    assert run.main(["--profile", "paper", "--dry-run", "--plan", "--only", "03,06"]) == 0
    out = capsys.readouterr().out
    assert "Transformer 6 x 16 heads x 64 on ResNet-18 width 64 at 224 px, 2 steps x 2 sets of 3" in out
    assert "tinyimagenet" in out and "(dry run)" in out and "[1/" not in out
