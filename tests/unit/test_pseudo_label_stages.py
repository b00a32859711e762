"""The trained stages of notebook 09: self-labelling does not move the weights when no sample is confident,
the SCAN step's heads (one per K), and the cache (a second call loads the same weights without training)."""

import dataclasses

import numpy as np
import pytest
import torch

from ood_helpers.pseudo_label import stages
from ood_helpers.pseudo_label.neighbours import mine_neighbours
from ood_helpers.pseudo_label.settings import PSEUDO_LABEL


@pytest.fixture()
def small():
    s = PSEUDO_LABEL["smoke"]
    torch.manual_seed(0)
    images = torch.rand(48, 1, 16, 16)
    return s, images


def test_selflabel_without_confident_samples_keeps_the_weights(small, tmp_path, monkeypatch):
    monkeypatch.setenv("OOD_ARTIFACTS_DIR", str(tmp_path))
    s, images = small
    s = dataclasses.replace(s, selflabel_threshold=0.999999, selflabel_epochs=2)
    model = stages.Classifier(stages.fresh_backbone(s, 1, 0), 3).eval()
    before = {k: v.clone() for k, v in model.named_parameters()}
    trained, meta = stages.self_label(s, images, model, profile="smoke", seed=0)
    assert meta["confident"] == 0 and meta["empty_batches"] == meta["batches"] > 0
    for k, v in trained.named_parameters():
        assert torch.equal(v, before[k]), k


def test_scan_step_heads_and_cache(small, tmp_path, monkeypatch):
    monkeypatch.setenv("OOD_ARTIFACTS_DIR", str(tmp_path))
    s, images = small
    backbone = stages.fresh_backbone(s, 1, 0)
    nb = mine_neighbours(images.reshape(48, -1).numpy(), 4)
    models, meta = stages.scan_step(s, images, nb, backbone, [2, 3, 6], profile="smoke", seed=1)
    assert [m.head.out_features for m in models] == [2, 3, 6]
    # all heads share one trained backbone, which moved away from its start
    w = "body.0.weight"
    assert torch.equal(models[0].encoder.state_dict()[w], models[2].encoder.state_dict()[w])
    assert not torch.equal(models[0].encoder.state_dict()[w], backbone.state_dict()[w])
    again, meta2 = stages.scan_step(s, images, nb, backbone, [2, 3, 6], profile="smoke", seed=1)
    assert meta2 == meta  # the meta written when it trained, read back
    for a, b in zip(models, again):
        assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    with pytest.raises(ValueError, match=">= 2"):
        stages.scan_step(s, images, nb, backbone, [1], profile="smoke", seed=1)


def test_source_stand_in_learns_its_labels(tmp_path, monkeypatch):
    monkeypatch.setenv("OOD_ARTIFACTS_DIR", str(tmp_path))
    from ood_helpers.pseudo_label.splits import trial_data

    s = dataclasses.replace(PSEUDO_LABEL["smoke"], source_epochs=4, width=8)
    d = trial_data(0, s)
    model = stages.train_source(s, d.source, d.source_labels, profile="smoke", seed=0)
    classes = np.unique(d.source_labels)
    with torch.no_grad():
        pred = classes[model.eval()(d.source).argmax(1).numpy()]
    acc = (pred == d.source_labels).mean()
    assert acc > 0.5, acc  # trained with labels: well above chance (0.1) on its own source
