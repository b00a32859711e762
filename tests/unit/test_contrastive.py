"""ood_helpers.core.contrastive: the library losses against hand-written formulas, the two views, the cached
and bit-identical training."""

import numpy as np
import pytest
import torch
from torch import nn

from ood_helpers.core.contrastive import (ContrastiveSpec, contrastive_loss, train_contrastive, two_view_transform, two_views, view_labels)
from tests.support import count_training


def hand_nt_xent(z: np.ndarray, tau: float) -> float:
    """SimCLR's NT-Xent written out: views i and i+B are each other's only positive; the denominator
    runs over every other view; the mean over the 2B anchors."""
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    n = len(z)
    b = n // 2
    sim = z @ z.T / tau
    total = 0.0
    for i in range(n):
        pos = (i + b) % n
        denom = sum(np.exp(sim[i, a]) for a in range(n) if a != i)
        total += -np.log(np.exp(sim[i, pos]) / denom)
    return total / n


def hand_supcon(z: np.ndarray, labels: np.ndarray, tau: float) -> float:
    """Khosla et al.'s L_out: for each anchor with positives, -mean_p log softmax over all others."""
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    sim = z @ z.T / tau
    losses = []
    for i in range(len(z)):
        others = [a for a in range(len(z)) if a != i]
        positives = [p for p in others if labels[p] == labels[i]]
        if not positives:
            continue
        log_denom = np.log(sum(np.exp(sim[i, a]) for a in others))
        losses.append(-np.mean([sim[i, p] - log_denom for p in positives]))
    return float(np.mean(losses))


def test_nt_xent_matches_the_hand_formula():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(10, 6))
    from pytorch_metric_learning.losses import NTXentLoss

    zt, labels = torch.tensor(z, dtype=torch.float64), view_labels(None, 5)
    got = contrastive_loss("simclr", 0.1)(zt, labels)
    assert float(got) == pytest.approx(hand_nt_xent(z, 0.1), rel=1e-6)
    assert float(got) == pytest.approx(float(NTXentLoss(temperature=0.1)(zt, labels)), rel=1e-9)


def test_supcon_matches_the_hand_formula():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(12, 5))
    labels = view_labels(torch.tensor([0, 1, 0, 2, 1, 1]), 6)
    got = contrastive_loss("supcon", 0.5)(torch.tensor(z, dtype=torch.float64), labels)
    assert float(got) == pytest.approx(hand_supcon(z, labels.numpy(), 0.5), rel=1e-6)


def test_simclr_positives_are_the_two_views_of_one_image():
    labels = view_labels(None, 4).numpy()
    same = labels[:, None] == labels[None, :]
    np.fill_diagonal(same, False)
    assert [tuple(np.flatnonzero(row)) for row in same] == [(4,), (5,), (6,), (7,), (0,), (1,), (2,), (3,)]
    # the views come from their own image: constant images keep their value at the centre pixel
    images = torch.stack([torch.full((1, 28, 28), 40 * (i + 1), dtype=torch.uint8) for i in range(4)])
    views = two_views(images, "digits", seed=0)
    centre = (views[:, 0, 14, 14] * 255).round().numpy()
    np.testing.assert_array_equal(centre, [40, 80, 120, 160, 40, 80, 120, 160])
    # and two views of one image differ (the augmentation is random)
    digit = torch.zeros(1, 1, 28, 28, dtype=torch.uint8)
    digit[0, 0, 6:22, 12:16] = 255
    pair = two_views(digit, "digits", seed=0)
    assert not torch.equal(pair[0], pair[1])
    torch.testing.assert_close(two_views(digit, "digits", seed=0), pair, rtol=0, atol=0)  # the seed alone decides
    assert not torch.equal(two_views(digit, "digits", seed=1), pair)


def test_views_keep_the_aspect_of_wide_images():
    torch.manual_seed(0)
    wide = torch.randint(0, 255, (3, 1, 28, 56), dtype=torch.uint8)
    assert two_views(wide, "digits", seed=0).shape == (6, 1, 28, 56)
    rgb = torch.randint(0, 255, (2, 3, 16, 16), dtype=torch.uint8)  # the cifar recipe: batched, per-image parameters
    views = two_views(rgb, "cifar", seed=3)
    assert views.shape == (4, 3, 16, 16) and torch.equal(views, two_views(rgb, "cifar", seed=3))
    with pytest.raises(ValueError, match="3-channel"):
        two_view_transform("cifar", (28, 28), 1)
    with pytest.raises(ValueError, match="come batched from two_views"):
        two_view_transform("digits", (28, 28), 1)


def test_cifar_views_are_torchvisions_ops_at_each_views_own_draw():
    """The batched SimCLR CIFAR views against v2.functional, view by view, at the crops, flips, jitters and
    grayscale draws two_views made: within 5 of 255 levels (torchvision rounds or truncates to uint8 after
    every operation, we keep floats)."""
    from torchvision.transforms.v2 import functional as TF

    from ood_helpers.core.contrastive_views import CIFAR_JITTER, CIFAR_SCALE, two_views_per_image
    from ood_helpers.core.data.batched_colour import OPERATIONS, draw_jitter
    from ood_helpers.core.data.batched_views import draw_boxes

    rgb = torch.randint(0, 256, (6, 3, 16, 20), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    views = two_views(rgb, "cifar", seed=11) * 255
    g = torch.Generator().manual_seed(11)
    boxes = draw_boxes(12, (16, 20), g, scale=CIFAR_SCALE, ratio=(1.25 * 3 / 4, 1.25 * 4 / 3))
    jitter = draw_jitter(12, g, **CIFAR_JITTER)
    for v in range(12):
        ref = TF.resized_crop(rgb[v % 6], int(boxes.top[v]), int(boxes.left[v]), int(boxes.height[v]),
                              int(boxes.width[v]), [16, 20], antialias=True)
        ref = TF.horizontal_flip(ref) if boxes.flip[v] else ref
        for op in jitter.order[v].tolist() if jitter.apply[v] else []:
            name = OPERATIONS[op][0]
            ref = getattr(TF, f"adjust_{name}")(ref, float(getattr(jitter, name)[v]))
        ref = TF.rgb_to_grayscale(ref, num_output_channels=3) if jitter.grayscale[v] else ref
        diff = (views[v] - ref.float()).abs()
        assert diff.max() <= 5.0 and diff.mean() < 2.0, (v, float(diff.max()), float(diff.mean()))
    assert two_views_per_image(rgb, "cifar", seed=11).shape == views.shape  # the per-image reference still runs


def test_cifar_views_turn_grey_a_fifth_of_the_time_and_a_share_is_those_rows():
    rgb = torch.zeros(400, 3, 8, 8, dtype=torch.uint8)
    rgb[:, 0], rgb[:, 1] = 200, 40  # red: only grayscale makes the three channels equal
    views = two_views(rgb, "cifar", seed=0)
    grey = (views[:, 0] == views[:, 1]).all(dim=(1, 2)) & (views[:, 1] == views[:, 2]).all(dim=(1, 2))
    assert abs(grey.double().mean() - 0.2) < 4 * (0.16 / 800) ** 0.5
    rows = torch.tensor([799, 3, 400])
    assert torch.equal(two_views(rgb, "cifar", seed=0, rows=rows), views[rows])
    assert torch.equal(two_views(rgb[:1], "digits", seed=0, rows=[1]), two_views(rgb[:1], "digits", seed=0)[1:])


def tiny_encoder(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    net.out_dim = 4
    return net


def tiny_data():
    gen = torch.Generator().manual_seed(0)
    return torch.randint(0, 255, (16, 1, 12, 12), dtype=torch.uint8, generator=gen), torch.arange(16) % 4


@pytest.mark.parametrize("loss", ["simclr", "supcon"])
def test_training_is_cached_and_bit_identical(loss):
    images, labels = tiny_data()
    spec = ContrastiveSpec(loss=loss, steps=3, batch_size=8, head_hidden=8, head_out=4)
    lab = labels if loss == "supcon" else None
    a = train_contrastive(tiny_encoder(0), images, lab, spec=spec, profile="test-contrastive-a", seed=0, progress=False)
    b = train_contrastive(tiny_encoder(0), images, lab, spec=spec, profile="test-contrastive-b", seed=0, progress=False)
    assert a.key == b.key
    for (name, pa), pb in zip(a.encoder.state_dict().items(), b.encoder.state_dict().values()):
        assert torch.equal(pa, pb), name
    assert not torch.equal(a.encoder[0].weight, tiny_encoder(0)[0].weight)  # it did train
    assert a.seconds > 0
    with count_training() as counts:
        again = train_contrastive(tiny_encoder(0), images, lab, spec=spec, profile="test-contrastive-a", seed=0,
                                  progress=False)
    assert counts == {"steps": 0, "backward": 0}
    assert torch.equal(again.encoder[0].weight, a.encoder[0].weight) and again.seconds == a.seconds
    z = again.project(images.float() / 255)
    np.testing.assert_allclose(z.norm(dim=1).numpy(), 1.0, rtol=1e-5)
    # another seed is another run
    c = train_contrastive(tiny_encoder(0), images, lab, spec=spec, profile="test-contrastive-a", seed=1, progress=False)
    assert c.key != a.key


def test_bad_input_is_refused_before_training():
    images, labels = tiny_data()
    with pytest.raises(ValueError, match="SupCon needs labels"):
        train_contrastive(tiny_encoder(0), images, None, spec=ContrastiveSpec(loss="supcon"), profile="t", seed=0)
    with pytest.raises(ValueError, match="self-supervised"):
        train_contrastive(tiny_encoder(0), images, labels, spec=ContrastiveSpec(loss="simclr"), profile="t", seed=0)
    with pytest.raises(ValueError, match="uint8"):
        train_contrastive(tiny_encoder(0), images.float(), None, spec=ContrastiveSpec(), profile="t", seed=0)
    with pytest.raises(ValueError, match="loss must be"):
        ContrastiveSpec(loss="byol")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("recipe", ["digits", "cifar"])
def test_views_on_the_gpu_are_the_cpus_views(recipe):
    from ood_helpers.core.data.transforms import batched_train_view

    rgb = torch.randint(0, 256, (32, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(4))
    rows = torch.arange(5, 40)
    on_gpu = two_views(rgb, recipe, seed=9, rows=rows, device="cuda")
    assert on_gpu.device.type == "cuda"
    torch.testing.assert_close(on_gpu.cpu(), two_views(rgb, recipe, seed=9, rows=rows), rtol=0, atol=1e-4)
    crops = batched_train_view(recipe, rgb, torch.Generator().manual_seed(3), rows=rows[:20], device="cuda")
    torch.testing.assert_close(crops.cpu(), batched_train_view(recipe, rgb, torch.Generator().manual_seed(3),
                                                               rows=rows[:20]), rtol=0, atol=1e-4)
