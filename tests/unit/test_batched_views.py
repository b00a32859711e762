"""data.batched_views against torchvision's per-image transforms it replaces, and its drawing of parameters."""

import math

import numpy as np
import pytest
import torch
from torchvision.transforms.v2 import functional as TF

from ood_helpers.core.data.batched_views import CropRotation, crop_rotate, draw_crop_rotation

BILINEAR = TF.InterpolationMode.BILINEAR


def one(width, height, centre_x, centre_y, degrees) -> CropRotation:
    return CropRotation(*[torch.tensor([float(v)], dtype=torch.float64) for v in (width, height, centre_x, centre_y, degrees)])


def test_a_crop_equals_torchvisions_resized_crop_inside_the_border():
    torch.manual_seed(0)
    h, w = 28, 56
    x = torch.rand(1, 1, h, w)
    top, left, ch, cw = 5, 10, 18, 30  # a box in pixels, as torchvision takes it
    ours = crop_rotate(x, one(cw / w, ch / h, (2 * left + cw) / w - 1, (2 * top + ch) / h - 1, 0))
    ref = TF.resized_crop(x, top, left, ch, cw, [h, w], interpolation=BILINEAR, antialias=False)
    # the outermost pixels differ by design: interpolate clamps at the crop's edge, we read the pixel beyond it
    torch.testing.assert_close(ours[..., 1:-1, 1:-1], ref[..., 1:-1, 1:-1], rtol=0, atol=1e-5)


@pytest.mark.parametrize("degrees", [12.0, -30.0])
def test_a_rotation_equals_torchvisions_bilinear_rotate_where_both_sample_inside(degrees):
    torch.manual_seed(1)
    x = torch.rand(1, 1, 28, 56)
    ours = crop_rotate(x, one(1, 1, 0, 0, degrees))
    ref = TF.rotate(x, degrees, interpolation=BILINEAR)
    inside = ours != 0  # ours zeroes a pixel whose centre maps outside the image; torchvision blends the fill in
    assert inside.float().mean() > 0.7
    torch.testing.assert_close(ours[inside], ref[inside], rtol=0, atol=1e-5)
    assert (ref[~inside].abs() > 0).any()  # the difference is only there


def test_identity_parameters_return_the_images_and_each_image_gets_its_own():
    x = torch.rand(3, 2, 8, 12)
    ident = CropRotation(*[torch.tensor(v, dtype=torch.float64) for v in ([1.0] * 3, [1.0] * 3, [0.0] * 3, [0.0] * 3, [0.0] * 3)])
    torch.testing.assert_close(crop_rotate(x, ident), x, rtol=0, atol=1e-6)
    mixed = CropRotation(*[torch.tensor(v, dtype=torch.float64) for v in ([1.0, 0.5, 1.0], [1.0, 0.5, 1.0], [0.0, 0.5, 0.0],
                                                                         [0.0, -0.5, 0.0], [0.0, 0.0, 90.0])])
    out = crop_rotate(x, mixed)
    torch.testing.assert_close(out[0], x[0], rtol=0, atol=1e-6)
    for i in (1, 2):
        alone = CropRotation(*[getattr(mixed, f)[i:i + 1] for f in ("width", "height", "centre_x", "centre_y", "degrees")])
        torch.testing.assert_close(out[i:i + 1], crop_rotate(x[i:i + 1], alone), rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="3 images but 1"):
        crop_rotate(x, one(1, 1, 0, 0, 0))


def test_draws_follow_the_asked_area_ratio_position_and_angle():
    p = draw_crop_rotation(20_000, torch.Generator().manual_seed(0), scale=(0.6, 1.0), ratio=(3 / 4, 4 / 3), degrees=15)
    area = (p.width * p.height).numpy()
    unclipped = ((p.width < 1) & (p.height < 1)).numpy()
    assert area.min() >= 0.6 * 0.75 and area.max() <= 1.0 + 1e-12
    square = draw_crop_rotation(20_000, torch.Generator().manual_seed(1), scale=(0.6, 1.0), ratio=(1, 1))
    assert (square.width == square.height).all()  # aspect 1 never clips: the area is the drawn one, U(0.6, 1)
    assert float((square.width * square.height).mean()) == pytest.approx(0.8, abs=0.005)
    log_ratio = np.log((p.width / p.height).numpy()[unclipped])
    assert log_ratio.min() >= math.log(3 / 4) - 1e-9 and log_ratio.max() <= math.log(4 / 3) + 1e-9
    # the crop stays inside the image
    assert ((p.centre_x.abs() + p.width) <= 1 + 1e-12).all() and ((p.centre_y.abs() + p.height) <= 1 + 1e-12).all()
    assert p.degrees.abs().max() <= 15 and p.degrees.mean().abs() < 0.3
    again = draw_crop_rotation(20_000, torch.Generator().manual_seed(0))
    assert torch.equal(again.width, p.width)
    with pytest.raises(ValueError, match="scale"):
        draw_crop_rotation(3, torch.Generator(), scale=(0.0, 1.0))


def test_random_shift_equals_torchvisions_padded_crop_at_the_drawn_offsets():
    from ood_helpers.core.data.batched_views import random_shift

    torch.manual_seed(2)
    x = torch.rand(64, 1, 28, 56)
    out = random_shift(x, torch.Generator().manual_seed(9), pad=2)
    dx, dy = torch.randint(-2, 3, (2, 64), generator=torch.Generator().manual_seed(9))  # the same draw
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(64):  # v2.RandomCrop(padding=2) with top = 2 + dy, left = 2 + dx
        ref = TF.crop(padded[i], int(2 + dy[i]), int(2 + dx[i]), 28, 56)
        torch.testing.assert_close(out[i], ref, rtol=0, atol=1e-5)
    assert set(dx.tolist()) == {-2, -1, 0, 1, 2}


BOXES = [(3, 5, 20, 17, False), (0, 0, 32, 32, True), (10, 2, 7, 30, True), (31, 31, 1, 1, False)]


def test_a_box_resized_and_flipped_equals_torchvisions_resized_crop_and_flip_everywhere():
    from ood_helpers.core.data.batched_views import Boxes, resized_crop_flip

    x = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    boxes = Boxes(*[torch.tensor(v) for v in zip(*BOXES)])
    ours = resized_crop_flip(x, boxes, (32, 32))
    u8 = (x * 255).round().to(torch.uint8)
    ours_u8 = resized_crop_flip(u8.float() / 255, boxes, (32, 32)) * 255
    for i, (top, left, h, w, flip) in enumerate(BOXES):
        ref = TF.resized_crop(x[i], top, left, h, w, [32, 32], antialias=True)
        ref_u8 = TF.resized_crop(u8[i], top, left, h, w, [32, 32], antialias=True)
        ref, ref_u8 = (TF.horizontal_flip(ref), TF.horizontal_flip(ref_u8)) if flip else (ref, ref_u8)
        torch.testing.assert_close(ours[i], ref, rtol=0, atol=1e-5)  # border pixels included: clamped to the box
        assert (ours_u8[i] - ref_u8.float()).abs().max() <= 1.0  # torchvision rounds uint8 results, we keep floats


def _torchvision_boxes(n, size, scale, ratio):
    from torchvision.transforms import v2

    crop = v2.RandomResizedCrop(size, scale=scale, ratio=ratio)
    torch.manual_seed(0)
    image = torch.zeros(1, *size)
    return np.array([[p[k] for k in ("top", "left", "height", "width")]
                     for p in (crop.make_params([image]) for _ in range(n))], dtype=float)


@pytest.mark.parametrize("size,scale,ratio", [((32, 32), (0.2, 1.0), (3 / 4, 4 / 3)),
                                              ((28, 56), (0.2, 1.0), (1.5, 8 / 3)),  # the cifar recipe on a wide image
                                              ((16, 16), (0.9, 1.0), (2.0, 3.0))])  # never fits: the central crop
def test_box_draws_follow_torchvisions_distribution_tries_and_fallback(size, scale, ratio):
    from ood_helpers.core.data.batched_views import draw_boxes

    n = 6000
    b = draw_boxes(n, size, torch.Generator().manual_seed(1), scale=scale, ratio=ratio)
    ours = torch.stack([b.top, b.left, b.height, b.width], 1).double().numpy()
    ref = _torchvision_boxes(n, size, scale, ratio)
    assert (ours[:, 0] + ours[:, 2] <= size[0]).all() and (ours[:, 1] + ours[:, 3] <= size[1]).all()
    assert (ours >= 0).all() and (ours[:, 2:] >= 1).all()
    # area share, log aspect, top, left: two-sample Kolmogorov-Smirnov distance below its 0.1 % critical value
    for stat in (lambda a: a[:, 2] * a[:, 3] / (size[0] * size[1]), lambda a: np.log(a[:, 3] / a[:, 2]),
                 lambda a: a[:, 0], lambda a: a[:, 1]):
        a, r = np.sort(stat(ours)), np.sort(stat(ref))
        grid = np.union1d(a, r)
        ks = np.abs(np.searchsorted(a, grid, side="right") - np.searchsorted(r, grid, side="right")).max() / n
        assert ks < 1.95 * (2 / n) ** 0.5, ks
    assert abs(b.flip.double().mean() - 0.5) < 4 * (0.25 / n) ** 0.5


def test_a_padded_crop_equals_torchvisions_padded_crop_and_flip_pixel_for_pixel():
    from ood_helpers.core.data.batched_views import draw_padded_crops, padded_crop_flip

    x = torch.rand(300, 3, 8, 6, generator=torch.Generator().manual_seed(3))
    boxes = draw_padded_crops(300, (8, 6), torch.Generator().manual_seed(4), pad=4)
    out = padded_crop_flip(x, boxes, pad=4)
    for i in range(300):
        ref = TF.crop(TF.pad(x[i], [4], padding_mode="reflect"), int(boxes.top[i]), int(boxes.left[i]), 8, 6)
        ref = TF.horizontal_flip(ref) if boxes.flip[i] else ref
        assert torch.equal(out[i], ref), i
    assert set(boxes.top.tolist()) == set(range(9)) and set(boxes.left.tolist()) == set(range(9))
    assert 0.38 < boxes.flip.double().mean() < 0.62


@pytest.mark.parametrize("recipe", ["digits", "cifar", "imagenet", "none"])
def test_batched_train_views_are_seeded_and_a_share_equals_those_rows_of_the_batch(recipe):
    from ood_helpers.core.data.batched_views import random_shift
    from ood_helpers.core.data.transforms import batched_train_view

    u8 = torch.randint(0, 256, (10, 3, 12, 12), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    whole = batched_train_view(recipe, u8, torch.Generator().manual_seed(7))
    assert whole.shape == (10, 3, 12, 12) and whole.dtype == torch.float32
    rows = torch.tensor([8, 1, 4])
    assert torch.equal(batched_train_view(recipe, u8, torch.Generator().manual_seed(7), rows=rows), whole[rows])
    assert torch.equal(batched_train_view(recipe, u8, torch.Generator().manual_seed(7)), whole)
    if recipe == "digits":  # the same draws and images as the shift the quick profile trained with
        assert torch.equal(whole, random_shift(u8.float() / 255, torch.Generator().manual_seed(7), pad=2))
    if recipe == "none":
        assert torch.equal(whole, u8.float() / 255)
