"""Weight averaging (parameters AND buffers), the per-iteration cosine schedule's end points, the fine-tuning's
epoch snapshots and its cache."""

import numpy as np
import pytest
import torch

from ood_helpers.pseudo_label.finetune import average_state_dicts, cosine_lr, cosine_scheduler, finetune
from ood_helpers.core.networks.small_cnn import SmallCNN
from ood_helpers.pseudo_label.networks import Classifier
from ood_helpers.pseudo_label.settings import PSEUDO_LABEL


def _net(seed):
    torch.manual_seed(seed)
    m = Classifier(SmallCNN(1, 4), 3)
    m.train()
    m(torch.rand(8, 1, 28, 28) * seed)  # moves the BatchNorm running statistics and num_batches_tracked
    return m


def test_average_is_elementwise_mean_of_parameters_and_buffers():
    snaps = [{k: v.clone() for k, v in _net(s).state_dict().items()} for s in (1, 2, 3)]
    avg = average_state_dicts(snaps)
    for k, v in avg.items():
        if torch.is_floating_point(v):
            manual = sum(s[k] for s in snaps) / 3
            assert torch.allclose(v, manual, atol=1e-6), k
        else:  # num_batches_tracked: the last snapshot's
            assert torch.equal(v, snaps[-1][k]), k
    bn_keys = [k for k in avg if k.endswith("running_mean") or k.endswith("running_var")]
    assert bn_keys and not torch.allclose(avg[bn_keys[0]], snaps[0][bn_keys[0]])


def test_average_refuses_mismatched_snapshots():
    a = _net(1).state_dict()
    b = Classifier(SmallCNN(1, 4), 5).state_dict()
    with pytest.raises(ValueError, match="does not match"):
        average_state_dicts([a, b])
    with pytest.raises(ValueError, match="at least one"):
        average_state_dicts([])


def test_cosine_schedule_end_points_per_iteration():
    total = 50
    assert cosine_lr(0, total, 1e-5, 1e-6) == pytest.approx(1e-5)
    assert cosine_lr(total - 1, total, 1e-5, 1e-6) == pytest.approx(1e-6)
    assert cosine_lr((total - 1) / 2, total, 1e-5, 1e-6) == pytest.approx(5.5e-6)
    opt = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=1e-5)
    sched = cosine_scheduler(opt, total, 1e-5, 1e-6)
    used = []
    for _ in range(total):
        used.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert used[0] == pytest.approx(1e-5) and used[-1] == pytest.approx(1e-6)
    assert all(a >= b for a, b in zip(used, used[1:]))  # monotone, every iteration


def test_finetune_snapshots_average_and_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("OOD_ARTIFACTS_DIR", str(tmp_path))
    s = PSEUDO_LABEL["smoke"]
    src = _net(1).eval()
    torch.manual_seed(0)
    images = torch.rand(64, 1, 28, 28)
    labels = np.repeat([5, 7], 32)
    out = finetune(s, src, images, labels, profile="smoke", seed=3, tag="test")
    assert len(out["snapshots"]) == s.finetune_epochs and out["classes"] == 2
    # the snapshots differ (training moved) and none equals the pretrained start
    w = "encoder.body.0.weight"
    assert not torch.equal(out["snapshots"][0][w], out["snapshots"][-1][w])
    assert not torch.equal(out["snapshots"][0][w], src.state_dict()[w])
    manual = torch.stack([sn[w] for sn in out["snapshots"]]).mean(0)
    assert torch.allclose(out["model"].state_dict()[w], manual, atol=1e-6)
    again = finetune(s, src, images, labels, profile="smoke", seed=3, tag="test")  # loaded from the cache
    assert all(torch.equal(again["average"][k], out["average"][k]) for k in out["average"])
