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
