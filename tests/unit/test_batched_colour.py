"""data.batched_colour against torchvision's per-image colour ops, and its drawing of parameters."""

import itertools

import pytest
import torch
from torchvision.transforms.v2 import functional as TF

from ood_helpers.core.data.batched_colour import OPERATIONS, Jitter, colour_jitter, draw_jitter

TF_OPS = {"brightness": TF.adjust_brightness, "contrast": TF.adjust_contrast, "saturation": TF.adjust_saturation,
          "hue": TF.adjust_hue}


def images(n=6, seed=0):
    x = torch.rand(n, 3, 12, 10, generator=torch.Generator().manual_seed(seed))
    x[0] = x[0, :1]  # a grey image: hue and saturation leave it, contrast blends it with its own mean
    x[1, :, :4] = torch.tensor([0.9, 0.2, 0.2])[:, None, None]  # flat red, green and blue-dominant regions
    x[1, :, 4:8] = torch.tensor([0.1, 0.8, 0.3])[:, None, None]
    x[1, :, 8:] = torch.tensor([0.2, 0.3, 1.0])[:, None, None]
    return x


@pytest.mark.parametrize("name", [name for name, _ in OPERATIONS])
def test_each_operation_equals_torchvisions_with_each_images_own_factor(name):
    x = images()
    factors = torch.tensor([0.6, 1.4, 1.0, 0.75, 1.2, 0.9], dtype=torch.float64)
    if name == "hue":
        factors = torch.tensor([0.1, -0.1, 0.0, 0.05, -0.5, 0.5], dtype=torch.float64)
    ours = dict(OPERATIONS)[name](x.clone(), factors)
    for i in range(len(x)):
        torch.testing.assert_close(ours[i], TF_OPS[name](x[i], float(factors[i])), rtol=0, atol=2e-6)


def test_the_jitter_applies_each_images_operations_in_its_own_order_then_grayscale():
    x = images(24, seed=1)
    params = draw_jitter(24, torch.Generator().manual_seed(5), p=0.8, p_gray=0.3)
    params.order = torch.tensor(list(itertools.permutations(range(4))))  # every order once
    ours = colour_jitter(x, params)
    for i in range(len(x)):
        ref = x[i]
        if params.apply[i]:
            for op in params.order[i].tolist():
                name = OPERATIONS[op][0]
                ref = TF_OPS[name](ref, float(getattr(params, name)[i]))
        if params.grayscale[i]:
            ref = TF.rgb_to_grayscale(ref, num_output_channels=3)
        torch.testing.assert_close(ours[i], ref, rtol=0, atol=5e-6)
    untouched = ~params.apply & ~params.grayscale
    assert untouched.any() and torch.equal(ours[untouched], x[untouched])


def test_on_uint8_images_the_float_jitter_is_within_four_levels_of_torchvisions():
    """torchvision truncates a uint8 image back to uint8 after each of the four operations (and floors the luma it
    blends with), up to a level each, amplified by the factors; we keep floats from the uint8 input on."""
    u8 = (images(8, seed=2) * 255).round().to(torch.uint8)
    params = draw_jitter(8, torch.Generator().manual_seed(6), p=1.0, p_gray=0.0)
    ours = colour_jitter(u8.float() / 255, params) * 255
    for i in range(8):
        ref = u8[i]
        for op in params.order[i].tolist():
            name = OPERATIONS[op][0]
            ref = TF_OPS[name](ref, float(getattr(params, name)[i]))
        diff = (ours[i] - ref.float()).abs()
        assert diff.max() <= 4.5 and diff.mean() < 3.0, (i, float(diff.max()), float(diff.mean()))


def test_draws_follow_the_recipes_ranges_probabilities_and_orders():
    n = 24_000
    p = draw_jitter(n, torch.Generator().manual_seed(0), brightness=0.4, contrast=0.3, saturation=0.2, hue=0.1,
                    p=0.8, p_gray=0.2)
    for prob, drawn in ((0.8, p.apply), (0.2, p.grayscale)):
        assert abs(drawn.double().mean() - prob) < 4 * (prob * (1 - prob) / n) ** 0.5
    for name, lo, hi in (("brightness", 0.6, 1.4), ("contrast", 0.7, 1.3), ("saturation", 0.8, 1.2), ("hue", -0.1, 0.1)):
        v = getattr(p, name)
        assert lo <= v.min() and v.max() <= hi and abs(v.mean() - (lo + hi) / 2) < 0.01 * (hi - lo), name
    counts = torch.unique(p.order, dim=0, return_counts=True)[1]
    assert len(counts) == 24 and counts.min() > n / 24 * 0.85 and counts.max() < n / 24 * 1.15
    again = draw_jitter(n, torch.Generator().manual_seed(0), brightness=0.4, contrast=0.3, saturation=0.2, hue=0.1)
    assert torch.equal(again.order, p.order) and torch.equal(again.hue, p.hue)  # the generator alone decides


def test_a_subset_jitters_its_rows_as_the_whole_batch_does_and_bad_input_is_refused():
    x = images(10, seed=3)
    params = draw_jitter(10, torch.Generator().manual_seed(1))
    rows = torch.tensor([7, 2, 5])
    torch.testing.assert_close(colour_jitter(x[rows], params.subset(rows)), colour_jitter(x, params)[rows], rtol=0, atol=0)
    with pytest.raises(ValueError, match="10 images but 3"):
        colour_jitter(x, params.subset(rows))
    with pytest.raises(ValueError, match="RGB"):
        colour_jitter(x[:, :1], params)
    with pytest.raises(ValueError, match="hue in"):
        draw_jitter(3, torch.Generator(), hue=0.7)
    assert isinstance(params.subset([0]), Jitter)
