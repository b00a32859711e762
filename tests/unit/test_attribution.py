"""Guided backprop (captum) on ResNets, the Figure 1 grid and the map-similarity measure."""

import numpy as np
import pytest
import torch
from scipy.stats import rankdata
from torch import nn

from ood_helpers.homogeneity import attribution as gbp
from ood_helpers.homogeneity import attribution_similarity as sim
from ood_helpers.core.networks.resnet import build_resnet18
from ood_helpers.homogeneity import attribution_figures as attr


@pytest.fixture(scope="module")
def resnet():
    torch.manual_seed(0)
    return build_resnet18(5, in_channels=1, width=4, small_stem=True).eval()


@pytest.fixture(scope="module")
def images():
    return torch.rand(6, 1, 28, 56, generator=torch.Generator().manual_seed(1))


class _GuidedReLU(torch.autograd.Function):
    """Guided backprop's ReLU written out: forward ReLU, backward passes positive gradients at positive inputs."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad.clamp(min=0) * (x > 0).to(grad.dtype)


class _GuidedReLUModule(nn.Module):
    def forward(self, x):
        return _GuidedReLU.apply(x)


def _manual_guided_backprop(model, x, target):
    net = gbp.guided_backprop_model(model)
    for module in list(net.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, nn.ReLU):
                setattr(module, name, _GuidedReLUModule())
    x = x.clone().requires_grad_(True)
    net(x).gather(1, target[:, None]).sum().backward()
    return x.grad


def test_maps_have_the_input_shape_and_are_not_zero(resnet, images):
    maps, targets = gbp.guided_backprop(resnet, images, batch_size=4)
    assert maps.shape == images.shape and maps.dtype == torch.float32
    assert torch.isfinite(maps).all()
    assert (maps.abs().flatten(1).sum(1) > 0).all(), "every image must get a non-zero map"
    with torch.no_grad():
        assert torch.equal(targets, resnet(images).argmax(1))


def test_maps_equal_guided_backprop_written_out(resnet, images):
    maps, targets = gbp.guided_backprop(resnet, images)
    expected = _manual_guided_backprop(resnet, images, targets)
    torch.testing.assert_close(maps, expected, rtol=1e-4, atol=1e-6)
    plain = images.clone().requires_grad_(True)  # and differ from the plain gradient
    resnet(plain).gather(1, targets[:, None]).sum().backward()
    assert not torch.allclose(plain.grad, maps)


def test_explicit_target_and_rgb_input():
    torch.manual_seed(3)
    net = build_resnet18(4, in_channels=3, width=4, small_stem=True).eval()
    x = torch.rand(3, 3, 16, 16)
    maps, targets = gbp.guided_backprop(net, x, target=2)
    assert maps.shape == x.shape and targets.tolist() == [2, 2, 2]
    torch.testing.assert_close(maps, _manual_guided_backprop(net, x, targets), rtol=1e-4, atol=1e-6)


def test_original_model_is_left_alone(resnet, images):
    before = {k: v.clone() for k, v in resnet.state_dict().items()}
    resnet.train()
    gbp.guided_backprop(resnet, images[:2])
    assert resnet.training
    resnet.eval()
    assert all(torch.equal(before[k], v) for k, v in resnet.state_dict().items())
    assert gbp.relu_reuse(resnet, images[:2]), "torchvision blocks reuse self.relu; the copy must not"
    assert gbp.relu_reuse(gbp.guided_backprop_model(resnet), images[:2]) == []


def test_reused_relu_outside_torchvision_blocks_is_refused():
    relu = nn.ReLU()
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 4), relu, nn.Linear(4, 4), relu, nn.Linear(4, 2))
    with pytest.raises(ValueError, match=r"ReLU module\(s\) \['2'\] are called more than once"):
        gbp.guided_backprop_model(net, torch.rand(2, 1, 2, 2))


def test_bad_images_are_refused(resnet):
    with pytest.raises(ValueError, match=r"images must be a float tensor \[N, C, H, W\], got \(1, 28, 56\)"):
        gbp.guided_backprop(resnet, torch.rand(1, 28, 56))
    with pytest.raises(ValueError, match="images must be floats in"):
        gbp.guided_backprop(resnet, torch.zeros(1, 1, 28, 56, dtype=torch.uint8))


def test_rank_similarity_is_spearman_of_absolute_maps():
    rng = np.random.default_rng(0)
    a = torch.from_numpy(rng.normal(size=(4, 3, 5, 6)))
    b = torch.from_numpy(rng.normal(size=(4, 3, 5, 6)))
    rho = sim.rank_similarity(a, b)
    for i in range(4):  # Spearman = Pearson correlation of the ranks
        ra = rankdata(np.abs(a[i].sum(0).numpy()).ravel())
        rb = rankdata(np.abs(b[i].sum(0).numpy()).ravel())
        assert rho[i] == pytest.approx(np.corrcoef(ra, rb)[0, 1], abs=1e-12)
    assert np.allclose(sim.rank_similarity(a, -3 * a), 1.0)  # sign and scale do not matter
    one = a[:, :1]
    assert np.allclose(sim.rank_similarity(one, one**3), 1.0)  # only the ranking matters
    inverse = torch.from_numpy(1.0 / (sim.saliency(one) + 1.0)).reshape(4, 1, 5, 6)
    assert np.allclose(sim.rank_similarity(one, inverse), -1.0)
    assert sim.rank_similarity(a[:1], torch.zeros(1, 3, 5, 6)).tolist() == [0.0]
    with pytest.raises(ValueError, match="maps must have one shape"):
        sim.rank_similarity(a, b[:2])


def test_similarity_records_average_disjoint_trials():
    rng = np.random.default_rng(1)
    ref = torch.from_numpy(rng.normal(size=(10, 1, 4, 4)))
    cand = {"same": ref.clone(), "other": torch.from_numpy(rng.normal(size=(10, 1, 4, 4)))}
    records = sim.similarity_records(ref, cand, images="group", trials=3, seed=0)
    assert len(records) == 6 and {r["images"] for r in records} == {"group"}
    assert all(r["spearman"] == pytest.approx(1.0) for r in records if r["comparison"] == "same")
    chunks = sim.trial_chunks(10, 3, 0)
    assert sorted(np.concatenate(chunks).tolist()) == list(range(10))
    rho = sim.rank_similarity(ref, cand["other"])
    other = [r for r in records if r["comparison"] == "other"]
    assert [r["spearman"] for r in other] == pytest.approx([rho[c].mean() for c in chunks])
    assert sum(r["n_images"] for r in other) == 10
    with pytest.raises(ValueError, match=r"trials must be an int in \[1, 10\]"):
        sim.similarity_records(ref, cand, images="group", trials=11)


def test_sample_class_images_draws_only_the_asked_classes():
    from ood_helpers.core.data import ImageSet

    targets = torch.arange(5).repeat_interleave(4)
    images = (torch.arange(20, dtype=torch.uint8) * 10).reshape(20, 1, 1, 1).expand(20, 1, 2, 2).contiguous()
    ds = ImageSet(images, targets, [str(c) for c in range(5)], "toy")
    x, y = gbp.sample_class_images(ds, [1, 3], n=6, seed=0)
    assert x.shape == (6, 1, 2, 2) and x.dtype == torch.float32
    assert sorted(y.tolist()) == [1, 1, 1, 3, 3, 3]
    rows = (x[:, 0, 0, 0] * 255 / 10).round().long()
    assert torch.equal(targets[rows], y)  # each image is the row of its label
    x_all, _ = gbp.sample_class_images(ds, [2], n=100)
    assert len(x_all) == 4
    with pytest.raises(ValueError, match=r"no image of class\(es\) \[7\]"):
        gbp.sample_class_images(ds, [7], n=1)


def test_figure1_grid_lays_out_three_rows(resnet, images):
    import matplotlib

    matplotlib.use("agg")
    import matplotlib.pyplot as plt

    maps, _ = gbp.guided_backprop(resnet, images[:4])
    fig = attr.figure1_grid(images[:4], maps, torch.zeros_like(maps), column_titles=list("abcd"))
    assert len(fig.axes) == 12
    assert [fig.axes[0].get_ylabel(), fig.axes[4].get_ylabel(), fig.axes[8].get_ylabel()] == [
        "image",
        "all classes",
        "never saw the class",
    ]
    plt.close(fig)
    with pytest.raises(ValueError, match="must have the images' shape"):
        attr.figure1_grid(images[:4], maps[:, :, :10], maps, column_titles=list("abcd"))


def test_ceiling_fraction_places_the_subset_between_floor_and_ceiling():
    records = [
        {"comparison": c, "images": img, "trial": t, "spearman": v}
        for img, values in {"g1": (0.6, 0.8, 0.4), "g2": (0.5, 0.3, 0.4)}.items()
        for c, v in zip(("subset model", "all classes, other seed", "untrained"), values)
        for t in range(2)
    ]
    out = sim.ceiling_fraction(records)
    assert out.loc["g1", "position between floor and ceiling"] == pytest.approx((0.6 - 0.4) / (0.8 - 0.4))
    assert np.isnan(out.loc["g2", "position between floor and ceiling"])  # ceiling below floor: undefined


def test_gbp_similarity_of_a_model_with_itself_is_one(resnet):
    from ood_helpers.core.data import ImageSet

    gen = torch.Generator().manual_seed(5)
    ds = ImageSet((torch.rand(12, 1, 28, 56, generator=gen) * 255).to(torch.uint8), torch.arange(3).repeat(4), ["a", "b", "c"], "toy")
    torch.manual_seed(7)
    other = build_resnet18(5, in_channels=1, width=4, small_stem=True).eval()
    models = {"all": (resnet, None), "sub": (resnet, None), "all_seed2": (other, None), "untrained": (other, None)}
    records = sim.gbp_similarity(models, ds, {"sub": np.array([1, 2])}, subsets=("sub",), images_per_subset=6, trials=2)
    assert len(records) == 8 and {r["n_images"] for r in records} == {3}
    by = {(r["comparison"], r["trial"]): r["spearman"] for r in records}
    assert by[("subset model", 0)] == pytest.approx(1.0) and by[("subset model", 1)] == pytest.approx(1.0)
    assert by[("untrained", 0)] == by[("all classes, other seed", 0)] < 0.999
    with pytest.raises(ValueError, match=r"models lack \['missing'\]"):
        sim.gbp_similarity(models, ds, {"missing": np.array([1])}, subsets=("missing",))


def test_describe_position_reads_each_case():
    import pandas as pd

    cols = ["subset model", "ceiling", "floor", "position between floor and ceiling"]
    table = pd.DataFrame(
        [[0.8, 0.82, 0.4, 0.95], [0.6, 0.8, 0.4, 0.5], [0.41, 0.8, 0.4, 0.02], [0.5, 0.3, 0.4, float("nan")]],
        index=["a", "b", "c", "d"], columns=cols,
    )
    lines = sim.describe_position(table).splitlines()
    assert len(lines) == 4
    assert "supports the paper" in lines[0] and "part of the learned agreement" in lines[1]
    assert "does not support" in lines[2] and "no evidence for or against" in lines[3]
