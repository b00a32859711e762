"""CAC's training recipe: data carve-outs, the checkpoint rule, stages with a fresh optimizer, the cache,
a rank's share augmented as those rows of the whole batch, and a trained net that separates known from unknown.
(Bit-identical reruns in separate processes: tests/integration/test_determinism.py.)"""

import hashlib

import numpy as np
import pytest
import torch

from ood_helpers.cac.data import load_trial
from ood_helpers.cac.network import OSRCIEncoder
from ood_helpers.cac.training import Preprocess, logits_of, recipe_for, train_trial
from ood_helpers.cac.trials import run_trial
from ood_helpers.core.profile import get_profile
from tests.support import count_training


def test_mnist5k_carve_out_and_digits_split():
    d = load_trial("mnist5k", 0)
    assert d.split.known == (0, 1, 2, 3, 6, 9)
    assert d.sizes() == {"train": 6 * 320, "val": 6 * 80, "test": 6 * 100, "unknown": 4 * 100}
    assert torch.equal(torch.bincount(d.y_train), torch.full((6,), 320))
    assert sorted(set(d.y_unknown.tolist())) == [4, 5, 7, 8]
    # no image in two parts (compare the raw bytes)
    seen = {hashlib.sha1(x.numpy().tobytes()).hexdigest() for x in torch.cat([d.x_train, d.x_val])}
    assert not seen & {hashlib.sha1(x.numpy().tobytes()).hexdigest() for x in torch.cat([d.x_test, d.x_unknown])}
    g = load_trial("digits", 1)
    assert g.split.known == (2, 3, 5, 7, 8, 9) and g.x_train.shape[1:] == (1, 8, 8)
    from sklearn.datasets import load_digits

    counts = np.bincount(load_digits().target)
    known, unknown = list(g.split.known), list(g.split.unknown)
    train, val = (sum(round(counts[c] * f) for c in known) for f in (0.50, 0.15))
    assert g.sizes() == {"train": train, "val": val, "test": int(counts[known].sum()) - train - val,
                         "unknown": sum(int(counts[c]) - round(counts[c] * 0.50) - round(counts[c] * 0.15) for c in unknown)}


def test_preprocess_normalises_by_known_training_statistics_and_resizes_mnist_to_32():
    d = load_trial("mnist5k", 0, per_class=(20, 5, 5))
    pre = Preprocess(recipe_for("mnist5k"), d.x_train)
    x = pre.eval_view(d.x_train)
    assert x.shape[-2:] == (32, 32)
    assert float(x.mean()) == pytest.approx(0.0, abs=1e-5) and float(x.std()) == pytest.approx(1.0, abs=1e-3)
    a, b = pre.train_view(d.x_train[:4], 7), pre.train_view(d.x_train[:4], 7)
    assert torch.equal(a, b) and not torch.equal(a, pre.train_view(d.x_train[:4], 8))


def _tiny(p, loss="cac", epochs=(2,), lrs=(0.01,)):
    d = load_trial("digits", 0)
    return d, train_trial(d, loss, recipe_for("digits", epochs=epochs, lrs=lrs), profile=p, seed=3)


def test_checkpoint_is_the_lowest_validation_anchor_loss_and_ce_the_best_accuracy(ood_dirs):
    p = get_profile("smoke")
    _, (_, info) = _tiny(p, epochs=(6,))
    vals = [r["val_anchor"] for r in info["history"]]
    assert info["best_epoch"] == int(np.argmin(vals))  # history[i] is the eval after epoch i
    _, (_, info) = _tiny(p, "ce", epochs=(6,))
    accs = [r["val_acc"] for r in info["history"]]
    assert info["best_epoch"] == int(np.argmax(accs))


def test_second_stage_restarts_from_the_best_with_a_fresh_optimizer_and_is_cached(ood_dirs):
    p = get_profile("smoke")
    with count_training() as first:
        d, (model, info) = _tiny(p, epochs=(2, 2), lrs=(0.01, 0.001))
    assert [r["lr"] for r in info["history"] if r["step"] > 0] == [0.01, 0.01, 0.001, 0.001]
    assert [s["lr"] for s in info["stages"]] == [0.01, 0.001] and first["steps"] > 0
    assert info["best_epoch"] >= 2  # the final model is the best epoch of stage 2
    with count_training() as again:
        _, (model2, _) = _tiny(p, epochs=(2, 2), lrs=(0.01, 0.001))
    assert again == {"steps": 0, "backward": 0}
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), model2.state_dict().values()))
    with count_training() as changed:
        _tiny(p, epochs=(2, 3), lrs=(0.01, 0.001))
    assert changed["steps"] > 0  # another config trains (stage 1 is reused from the cache)


def test_trained_cac_separates_known_from_unknown_and_measures_by_ood_metrics(ood_dirs):
    p = get_profile("smoke")
    d = load_trial("digits", 0)
    o = run_trial(d, "cac", recipe_for("digits", epochs=(15,)), profile=p, seed=0)
    r = o.record
    assert r["accuracy"] > 0.9 and r["auroc"] > 0.8
    from sklearn.metrics import roc_auc_score

    y = np.r_[np.zeros(len(o.s_known)), np.ones(len(o.s_unknown))]
    assert r["auroc"] == pytest.approx(roc_auc_score(y, np.r_[o.s_known, o.s_unknown]), abs=1e-12)
    assert r["accuracy"] == pytest.approx(float(np.mean(o.pred_known == d.y_test.numpy())))
    assert r["openness"] == pytest.approx(0.13397, abs=1e-5)


def test_osrci_encoder_matches_the_paper_size():
    assert sum(q.numel() for q in OSRCIEncoder(10, 3, 32).parameters()) == pytest.approx(1.01e6, rel=0.01)
    assert sum(q.numel() for q in OSRCIEncoder(20, 3, 64, dropout=0.3).parameters()) == pytest.approx(1.16e6, rel=0.01)
    m = OSRCIEncoder(6, 1, 32, width=0.25)
    assert sum(q.numel() for q in m.parameters()) == pytest.approx(66e3, rel=0.01)
    assert logits_of(m, torch.zeros(3, 1, 32, 32)).shape == (3, 6)
    with pytest.raises(ValueError, match="multiple of 8"):
        OSRCIEncoder(6, 1, 28)


def test_batched_augmentation_equals_torchvisions_crop_flip_and_rotation(monkeypatch):
    """The one-grid_sample augmentation against torchvision's functional resized_crop / hflip / rotate with the
    same crop box, flip and angle."""
    from torchvision.transforms import RandomResizedCrop
    from torchvision.transforms.v2 import functional as TF

    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 3, 32, 32, generator=g)
    boxes = [(2, 3, 24, 20), (0, 0, 32, 32), (5, 1, 27, 30), (8, 8, 20, 22)]
    calls = iter(boxes)
    monkeypatch.setattr(RandomResizedCrop, "get_params", staticmethod(lambda img, scale, ratio: next(calls)))
    pre = Preprocess(recipe_for("cifar+", crop_min=0.8, hflip=0.5), x)
    torch.manual_seed(3)
    out = pre.augment_batch(x)
    torch.manual_seed(3)
    flips = torch.rand(4) < 0.5  # the draw augment_batch makes after the boxes
    for k, (top, left, h, w) in enumerate(boxes):
        ref = TF.resized_crop(x[k], top, left, h, w, [32, 32], antialias=False)
        ref = TF.horizontal_flip(ref) if flips[k] else ref
        # the outermost output pixels sample up to half a pixel outside the box: resized_crop repeats the box's
        # edge there, the batched version reads the real neighbouring pixels
        assert torch.allclose(out[k][:, 1:-1, 1:-1], ref[:, 1:-1, 1:-1], atol=1e-5), k
        assert (out[k] - ref).abs().max() < 0.5
    # rotation alone (no crop, no flip): torchvision's rotate with bilinear interpolation, fill 0
    pre = Preprocess(recipe_for("cifar10", crop_min=0.0, hflip=0.0, rotation=10), x)
    torch.manual_seed(4)
    out = pre.augment_batch(x)
    torch.manual_seed(4)
    angles = torch.empty(4, dtype=torch.float64).uniform_(-10, 10)
    for k in range(4):
        ref = TF.rotate(x[k], float(angles[k]), interpolation=TF.InterpolationMode.BILINEAR)
        ref_other = TF.rotate(x[k], -float(angles[k]), interpolation=TF.InterpolationMode.BILINEAR)
        inner = (slice(None), slice(6, 26), slice(6, 26))  # away from the corners filled with 0
        err = min((out[k] - ref)[inner].abs().max(), (out[k] - ref_other)[inner].abs().max())
        assert err < 1e-4, (k, float(err))


# the recipe of tests/integration/ddp/test_cac_ddp.py: a batch of 31 that two ranks split 16 / 15
SHARE_RECIPE = recipe_for("mnist5k", epochs=(2,), width=0.125, batch_size=31, hflip=0.5, rotation=10)


def test_a_share_of_the_batch_is_augmented_as_those_rows_of_the_whole_batch():
    d = load_trial("mnist5k", 0, per_class=(8, 2, 2))
    pre = Preprocess(SHARE_RECIPE, d.x_train)
    whole = pre.train_view(d.x_train[:10], 11)
    for rows in (np.arange(0, 5), np.arange(5, 10), np.array([1, 4, 9])):
        torch.testing.assert_close(pre.train_view(d.x_train[:10], 11, rows), whole[rows], rtol=0, atol=1e-6)
    # augmenting the share alone (its own draws) gives other images: the rows argument matters
    assert (pre.train_view(d.x_train[5:10], 11) - whole[5:]).abs().max() > 0.1
