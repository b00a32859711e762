"""CAC's cifar / paper profile data path on real CIFAR-10 JPEGs (skipped when the copy is absent), the
settings, and the figure helpers against brute-force counts."""

import numpy as np
import pytest
import torch

from ood_helpers.cac.data import load_paper_set
from ood_helpers.cac.figures import extreme_unknowns, unknown_confusion
from ood_helpers.cac.settings import cac_settings
from ood_helpers.cac.splits import open_set_split
from ood_helpers.cac.training import recipe_for
from ood_helpers.cac.trials import TrialOutcome, run_trial
from ood_helpers.core.profile import get_profile
from tests.support import extract_cifar


@pytest.fixture(scope="module")
def cifar_ten(tmp_path_factory):
    """20 train and 10 test JPEGs of every CIFAR-10 class, extracted from the real copy."""
    return extract_cifar(tmp_path_factory.mktemp("cifar"), {"train": 20, "test": 10})


def test_cifar10_trial_from_a_jpeg_folder_trains_with_the_cifar_recipe(cifar_ten, monkeypatch, ood_dirs):
    monkeypatch.setenv("OOD_CIFAR10_DIR", str(cifar_ten))
    d = load_paper_set("cifar10", 0, download=False)
    assert d.names_known == ["bird", "cat", "deer", "frog", "ship", "truck"]  # old split, trial 0
    assert d.names_unknown == {0: "airplane", 1: "automobile", 5: "dog", 7: "horse"}
    assert d.sizes() == {"train": 6 * 16, "val": 6 * 4, "test": 6 * 10, "unknown": 4 * 10}
    assert d.x_train.shape[1:] == (3, 32, 32) and d.x_train.dtype == torch.uint8
    rec = recipe_for("cifar10", epochs=(1, 1), width=0.125, batch_size=32)
    assert rec.hflip == 0.5 and rec.rotation == 10 and rec.flip_anchors and rec.lrs == (0.01, 0.001)
    o = run_trial(d, "cac", rec, profile=get_profile("smoke"), seed=0)
    assert 0 <= o.record["auroc"] <= 1 and len(o.s_unknown) == 40


def test_cifar_plus_needs_cifar100_and_says_so(cifar_ten, monkeypatch, tmp_path):
    monkeypatch.setenv("OOD_CIFAR10_DIR", str(cifar_ten))
    monkeypatch.setenv("OOD_DATA_DIR", str(tmp_path))
    with pytest.raises(Exception, match="(?i)cifar100|cifar-100"):
        load_paper_set("cifar+10", 0, download=False)


def test_settings_per_profile_and_overrides():
    quick = cac_settings(get_profile("quick"))
    assert quick.datasets == ("mnist5k",) and quick.width == 0.25
    assert "tinyimagenet" in cac_settings(get_profile("paper")).datasets
    changed = cac_settings(get_profile("quick", extra={"cac": {"trials": 2, "epochs": [4]}}))
    assert changed.trials == 2 and changed.epochs == (4,)
    with pytest.raises(ValueError, match="trials"):
        cac_settings(get_profile("quick", extra={"cac": {"trials": 6}}))
    with pytest.raises(ValueError, match="fig4_dataset"):
        cac_settings(get_profile("quick", extra={"cac": {"datasets": ["svhn"]}}))
    with pytest.raises(ValueError, match="unknown cac setting"):
        cac_settings(get_profile("quick", extra={"cac": {"epoch": 3}}))


class _Data:
    def __init__(self, split, y_unknown):
        self.split, self.y_unknown = split, torch.as_tensor(y_unknown)


def test_unknown_confusion_counts_accepted_unknowns_by_brute_force():
    rng = np.random.default_rng(0)
    outcomes = []
    for t in range(3):
        sp = open_set_split("mnist", t)
        y_u = rng.choice(sp.unknown, 50)
        outcomes.append(TrialOutcome({}, rng.random(40), rng.random(50), rng.integers(0, 6, 40), rng.integers(0, 6, 50),
                                     _Data(sp, y_u)))
    counts, seen, thetas = unknown_confusion(outcomes, keep=0.95)
    brute = np.zeros((10, 10))
    for o, theta in zip(outcomes, thetas):
        assert np.mean(o.s_known <= theta) >= 0.95 and np.mean(o.s_known < theta) < 0.95
        for u, s, k in zip(o.data.y_unknown.numpy(), o.s_unknown, o.pred_unknown):
            if s <= theta:
                brute[u, o.data.split.known[k]] += 1
    assert np.array_equal(counts, brute)
    assert not seen[np.diag_indices(10)].any() and not counts[~seen].any()
    all_counts, _, _ = unknown_confusion(outcomes, accepted_only=False)
    assert all_counts.sum() == 150
    hi, lo = extreme_unknowns(outcomes[0], 3)
    assert list(outcomes[0].s_unknown[hi]) == sorted(outcomes[0].s_unknown)[::-1][:3]
    assert list(outcomes[0].s_unknown[lo]) == sorted(outcomes[0].s_unknown)[:3]


def test_tinyimagenet_trial_from_a_release_layout_folder(tmp_path, monkeypatch, ood_dirs):
    """A fake 200-class TinyImageNet (10 train images and 2 val images a class, 64 px JPEGs)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    root = tmp_path / "tiny-imagenet-200"
    wnids = [f"n{k:08d}" for k in range(200)]
    lines = []
    for k, w in enumerate(wnids):
        folder = root / "train" / w / "images"
        folder.mkdir(parents=True)
        for i in range(10):
            Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(folder / f"{w}_{i}.JPEG")
        for j in range(2):
            (root / "val" / "images").mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((64, 64, 3), k, dtype=np.uint8)).save(root / "val" / "images" / f"val_{k}_{j}.JPEG")
            lines.append(f"val_{k}_{j}.JPEG\t{w}\t0\t0\t63\t63")
    (root / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("OOD_TINYIMAGENET_DIR", str(root))
    d = load_paper_set("tinyimagenet", 0)
    assert d.split.known[:3] == (24, 45, 46) and len(d.split.unknown) == 180
    assert d.sizes() == {"train": 20 * 9, "val": 20 * 1, "test": 20 * 2, "unknown": 180 * 2}  # 90/10 split
    assert d.x_train.shape[1:] == (3, 64, 64)
    # the val images carry their class id as pixel value: the known test images are the known classes'
    assert sorted(set(d.x_test[:, 0, 0, 0].tolist())) == [24, 45, 46, 49, 50, 58, 75, 76, 85, 87, 123, 126, 131, 142,
                                                          146, 147, 159, 189, 192, 199]
    rec = recipe_for("tinyimagenet", epochs=(1, 1), width=0.125, batch_size=64)
    assert rec.image_size == 64 and rec.dropout == 0.3 and rec.weight_decay == 1e-3 and rec.rotation == 20
    o = run_trial(d, "ce", rec, profile=get_profile("smoke"), seed=0)
    assert o.record["openness"] == pytest.approx(0.57360, abs=1e-5)


def test_paired_gaps_by_hand():
    from ood_helpers.cac.experiment import paired_gaps

    recs = [{"dataset": "D", "trial": t, "loss": loss, "auroc": v}
            for t, (c, e) in enumerate([(0.9, 0.8), (0.7, 0.75), (0.95, 0.85)]) for loss, v in (("cac", c), ("ce", e))]
    gaps = paired_gaps(recs)
    d = np.array([0.1, -0.05, 0.1])
    assert gaps.loc["D", "mean gap"] == pytest.approx(round(d.mean(), 4))
    assert gaps.loc["D", "std"] == pytest.approx(round(d.std(ddof=1), 4))
    assert gaps.loc["D", "cac ahead"] == 2 and gaps.loc["D", "trials"] == 3
