"""The training loop: resume equality on CPU, NaN guard, config checks, best checkpoint."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from ood_helpers.core.artifacts import ConfigMismatchError, CorruptArtifactError
from ood_helpers.core.train import best_path_for, fit, history_path_for, load_best, read_history
from ood_helpers.homogeneity.settings import homogeneity_settings

from tests.support import count_training, profile_with

CONFIG = {"kind": "toy", "lr": 0.05}


class Interrupt(Exception):
    pass


def toy_model() -> nn.Module:
    torch.manual_seed(0)
    # dropout draws from torch's RNG, so resume equality also checks the saved torch RNG state
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))


def toy_batch(step, rng):
    x = torch.from_numpy(rng.normal(size=(8, 6)).astype(np.float32))
    return x, (x[:, 0] > 0).long() + (x[:, 1] > 0).long()


def ce_loss(model, batch):
    x, y = batch
    return nn.functional.cross_entropy(model(x), y)


def run(path, steps=12, stop_at=None, eval_fn=None, **kw):
    model = toy_model()
    opt = torch.optim.Adam(model.parameters(), lr=CONFIG["lr"])
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.5)

    def batch_fn(step, rng):
        if stop_at is not None and step == stop_at:
            raise Interrupt(f"simulated crash at step {step}")
        return toy_batch(step, rng)

    result = fit(model, opt, batch_fn=batch_fn, loss_fn=ce_loss, steps=steps, ckpt_path=path, config=CONFIG,
                 rng=np.random.default_rng(7), scheduler=sched, checkpoint_every=4, eval_every=3,
                 eval_fn=eval_fn, progress=False, **kw)
    return model, opt, result


def test_resumed_run_is_bit_identical(tmp_path):
    full, full_opt, _ = run(tmp_path / "full.pt")
    with pytest.raises(Interrupt):
        run(tmp_path / "cut.pt", stop_at=9)  # last checkpoint at step 8
    resumed, resumed_opt, result = run(tmp_path / "cut.pt")
    assert result.resumed_from == 8 and result.step == 12
    for (name, a), (_, b) in zip(full.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), name
    assert full_opt.state_dict()["param_groups"][0]["lr"] == resumed_opt.state_dict()["param_groups"][0]["lr"]
    # the history on disk equals the uninterrupted one (evals after the checkpoint are redone, not duplicated)
    assert read_history(history_path_for(tmp_path / "cut.pt")) == read_history(history_path_for(tmp_path / "full.pt"))
    assert [r["step"] for r in read_history(history_path_for(tmp_path / "full.pt"))] == [3, 6, 9, 12]


def test_finished_run_reloads_without_training(tmp_path):
    trained, _, _ = run(tmp_path / "a.pt")

    def explode(step, rng):
        raise AssertionError("a finished run must not draw batches")

    model = toy_model()
    opt = torch.optim.Adam(model.parameters(), lr=CONFIG["lr"])
    result = fit(model, opt, batch_fn=explode, loss_fn=ce_loss, steps=12, ckpt_path=tmp_path / "a.pt",
                 config=CONFIG, progress=False)
    assert result.resumed_from == 12
    assert all(torch.equal(a, b) for a, b in zip(trained.state_dict().values(), model.state_dict().values()))


def test_nan_loss_raises_and_keeps_last_checkpoint(tmp_path):
    path = tmp_path / "nan.pt"
    run(path, steps=8)  # a good checkpoint at step 8
    before = path.read_bytes()

    def nan_loss(model, batch):
        return ce_loss(model, batch) * float("nan")

    model = toy_model()
    opt = torch.optim.Adam(model.parameters(), lr=CONFIG["lr"])
    with pytest.raises(FloatingPointError, match=r"loss is nan at step 9 .*step 8"):
        fit(model, opt, batch_fn=toy_batch, loss_fn=nan_loss, steps=12, ckpt_path=path, config=CONFIG,
            progress=False)
    assert path.read_bytes() == before


def test_inf_loss_on_first_step(tmp_path):
    model = toy_model()
    opt = torch.optim.Adam(model.parameters())
    with pytest.raises(FloatingPointError, match="loss is inf at step 1"):
        fit(model, opt, batch_fn=toy_batch, loss_fn=lambda m, b: ce_loss(m, b) + float("inf"), steps=3,
            ckpt_path=tmp_path / "inf.pt", config=CONFIG, progress=False)
    assert not (tmp_path / "inf.pt").exists()


def test_config_mismatch_and_truncated_checkpoint_are_refused(tmp_path):
    path = tmp_path / "c.pt"
    run(path, steps=4)
    model = toy_model()
    opt = torch.optim.Adam(model.parameters())
    with pytest.raises(ConfigMismatchError, match="lr"):
        fit(model, opt, batch_fn=toy_batch, loss_fn=ce_loss, steps=8, ckpt_path=path,
            config={**CONFIG, "lr": 0.1}, progress=False)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CorruptArtifactError, match="truncated or corrupt"):
        fit(model, opt, batch_fn=toy_batch, loss_fn=ce_loss, steps=8, ckpt_path=path, config=CONFIG, progress=False)


def test_best_checkpoint_follows_metric(tmp_path):
    scores = {0: 0.1, 3: 0.5, 6: 0.9, 9: 0.4, 12: 0.2}  # peaks at step 6
    snapshots = {}

    def eval_fn(step):
        assert not model_holder[0].training
        snapshots[step] = {k: v.clone() for k, v in model_holder[0].state_dict().items()}
        return {"acc": scores[step]}

    model_holder = [None]
    model = toy_model()
    model_holder[0] = model
    opt = torch.optim.Adam(model.parameters(), lr=CONFIG["lr"])
    result = fit(model, opt, batch_fn=toy_batch, loss_fn=ce_loss, steps=12, ckpt_path=tmp_path / "b.pt",
                 config=CONFIG, eval_fn=eval_fn, eval_every=3, best_metric="acc", progress=False)
    assert (result.best_step, result.best_value) == (6, 0.9)
    assert [r["step"] for r in result.history] == [0, 3, 6, 9, 12]
    fresh = toy_model()
    assert load_best(fresh, tmp_path / "b.pt", CONFIG) == 6
    for name, value in fresh.state_dict().items():
        assert torch.equal(value, snapshots[6][name]), name
    assert best_path_for(tmp_path / "b.pt").exists()


def test_bad_arguments(tmp_path):
    model = toy_model()
    opt = torch.optim.Adam(model.parameters())
    with pytest.raises(ValueError, match="steps must be an int >= 0, got -1"):
        fit(model, opt, batch_fn=toy_batch, loss_fn=ce_loss, steps=-1, ckpt_path=tmp_path / "x.pt", config=CONFIG)
    with pytest.raises(ValueError, match="needs an eval_fn"):
        fit(model, opt, batch_fn=toy_batch, loss_fn=ce_loss, steps=1, ckpt_path=tmp_path / "x.pt", config=CONFIG,
            best_metric="acc")


# ===== the cached classifier and homogeneity models =====


def recording_fit(monkeypatch, module):
    """Wraps ``module.fit`` so every FitResult it returns is appended to the returned list."""
    results = []
    real_fit = module.fit

    def wrapper(*args, **kwargs):
        results.append(real_fit(*args, **kwargs))
        return results[-1]

    monkeypatch.setattr(module, "fit", wrapper)
    return results


def tiny_imageset(n_per_class=6, classes=3):
    from ood_helpers.core.data import ImageSet

    g = torch.Generator().manual_seed(0)
    images = (torch.rand(n_per_class * classes, 1, 12, 12, generator=g) * 255).to(torch.uint8)
    targets = torch.arange(classes).repeat_interleave(n_per_class)
    return ImageSet(images, targets, [str(c) for c in range(classes)], "tiny")


def test_train_classifier_is_cached_by_config(tmp_path, monkeypatch):
    from ood_helpers.homogeneity import classifier as classifier_mod

    from ood_helpers.core.artifacts import cache_path

    monkeypatch.setenv("OOD_ARTIFACTS_DIR", str(tmp_path))
    profile = profile_with("smoke", pretrain_steps=3, batch_size=8)
    ds = tiny_imageset()  # 18 images: one micro-batch of 8 a step
    results = recording_fit(monkeypatch, classifier_mod)
    with count_training() as trained:
        first = classifier_mod.train_classifier(profile, ds, seed=1, progress=False)
    assert not first.training and first.fc.out_features == 3
    assert trained == {"steps": 3, "backward": 3}  # the counters see a real run
    assert (results[0].resumed_from, results[0].step) == (0, 3)
    ckpt = cache_path(profile.name, "classifier", first.cache_key, ".pt")
    stamp = ckpt.stat().st_mtime_ns, ckpt.read_bytes()

    with count_training() as trained:
        again = classifier_mod.train_classifier(profile, ds, seed=1, progress=False)
    # loaded, not retrained: no backward pass, no optimizer step, fit started at its last step, file untouched
    assert trained == {"steps": 0, "backward": 0}
    assert (results[1].resumed_from, results[1].step, results[1].seconds) == (3, 3, 0.0)
    assert (ckpt.stat().st_mtime_ns, ckpt.read_bytes()) == stamp
    assert again.cache_key == first.cache_key
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), again.state_dict().values()))
    # another seed is another network, under another key, and is trained
    with count_training() as trained:
        other = classifier_mod.train_classifier(profile, ds, seed=2, progress=False)
    assert trained == {"steps": 3, "backward": 3}
    assert other.cache_key != first.cache_key
    assert not torch.equal(other.fc.weight, first.fc.weight)


def test_homogeneity_model_keeps_best_unseen_step(tmp_path, monkeypatch):
    from ood_helpers.homogeneity.training import get_homogeneity_model, overfitting_summary
    from ood_helpers.core.train import best_path_for
    from ood_helpers.core.artifacts import cache_path, load_torch

    monkeypatch.setenv("OOD_ARTIFACTS_DIR", str(tmp_path))
    profile = profile_with("smoke", pretrain_steps=2, homogeneity_steps=4, eval_every=2)
    with count_training() as trained:
        model, history = get_homogeneity_model(profile, 2, progress=False)
    # 2 classifier steps (96 seen-class images, batches of 32) + 4 homogeneity steps of 4 sets, one backward each
    assert trained == {"steps": 6, "backward": 6}
    assert history["step"] == [0, 2, 4]
    best = int(np.argmax(history["val_unseen_acc"]))  # first maximum wins ties
    assert history["best_step"] == history["step"][best]
    stored = load_torch(best_path_for(cache_path(profile.name, "homogeneity", history["key"], ".pt")))
    assert stored["step"] == history["best_step"]
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in stored["model"].items())
    summary = overfitting_summary(history)
    assert summary["unseen_best"] == pytest.approx(100 * max(history["val_unseen_acc"]))
    # asked again, the classifier and the homogeneity model come from their checkpoints: nothing trains
    with count_training() as trained:
        again, history_again = get_homogeneity_model(profile, 2, progress=False)
    assert trained == {"steps": 0, "backward": 0}
    assert history_again == history and again.cache_key == model.cache_key
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in model.state_dict().items())
    with pytest.raises(ValueError, match="variant must be 1"):
        get_homogeneity_model(profile, 3)


def test_homogeneity_optimizer_splits_encoder_and_transformer_learning_rates():
    from ood_helpers.homogeneity.model import HomogeneityModel
    from ood_helpers.core.networks.resnet import build_resnet18, encoder_from_classifier, feature_dim
    from ood_helpers.homogeneity.training import homogeneity_optimizer

    clf = build_resnet18(5, 1, 4, False)
    model = HomogeneityModel(encoder_from_classifier(clf), feature_dim(clf), 1, 2, 4)
    for encoder_lr, expected in ((1e-6, 1e-6), (0.0, 2e-3)):  # 0 means "same as the Transformer"
        opt = homogeneity_optimizer(model, profile_with("smoke", lr_homogeneity=2e-3, lr_homogeneity_encoder=encoder_lr))
        groups = [{id(p) for p in g["params"]} for g in opt.param_groups]
        assert groups[0] == {id(p) for p in model.encoder.parameters()}
        assert groups[0].isdisjoint(groups[1]) and groups[0] | groups[1] == {id(p) for p in model.parameters()}
        assert [g["lr"] for g in opt.param_groups] == [expected, 2e-3]
        assert opt.param_groups[1]["betas"] == (0.9, 0.999)


def test_table3_classifiers_get_their_own_size_and_steps():
    from ood_helpers.homogeneity.trained_models import own_classifier_profile
    from ood_helpers.core.profile import get_profile

    paper = own_classifier_profile(get_profile("paper"))
    assert (homogeneity_settings(paper).pretrain_steps, paper.image_size, paper.small_stem) == (15_000, 32, True)
    # the ImageNet classifiers keep the paper's schedule
    assert homogeneity_settings(get_profile("paper")).pretrain_steps == 450_000
    quick = get_profile("quick")
    own = own_classifier_profile(quick)
    # the same run: the same fields and paper-000 settings (own carries its steps in extra["homogeneity"])
    assert homogeneity_settings(own) == homogeneity_settings(quick)
    assert dataclasses.replace(own, extra=quick.extra) == quick
    custom = own_classifier_profile(profile_with("cifar", own_classifier_image_size=96, own_classifier_steps=7))
    assert (homogeneity_settings(custom).pretrain_steps, custom.image_size, custom.small_stem) == (7, 96, False)
