"""cluster_distance.datasets and settings: the stand-in splits keep ID and OOD apart, and per-profile
settings are overridable through the profile's extra."""

import dataclasses

import numpy as np
import pytest

from ood_helpers.cluster_distance.datasets import load_id_split, photo_crops
from ood_helpers.cluster_distance.encoders import build_encoder
from ood_helpers.cluster_distance.settings import CLUSTER_DISTANCE, KEY
from ood_helpers.core.data.embedded import mnist5k_arrays
from ood_helpers.core.settings import settings_for
from ood_helpers.core.profile import get_profile


def test_digits6_keeps_id_and_near_ood_apart():
    s = CLUSTER_DISTANCE["quick"]
    a, b = load_id_split("digits6", get_profile("quick"), 0, s), load_id_split("digits6", get_profile("quick"), 1, s)
    labels = mnist5k_arrays()[1]
    known = set(labels[a.train.extra["sources"].numpy()])
    near = set(labels[a.ood["near: other 4 digits"].extra["sources"].numpy()])
    assert len(known) == 6 and len(near) == 4 and not known & near
    assert known != set(labels[b.train.extra["sources"].numpy()])  # a new draw of ID digits per trial
    parts = [set(getattr(a, p).extra["sources"].numpy()) for p in ("train", "val", "test")]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert (len(a.train), len(a.val), len(a.test)) == (1800, 600, 600) and a.num_classes == 6
    assert set(a.ood) == {"near: other 4 digits", "far: photo crops", "far: uniform noise"}


def test_pairs_holds_out_unseen_numbers():
    from ood_helpers.core.data.splits import class_split

    p = get_profile("smoke")
    split = load_id_split("pairs", p, 0, dataclasses.replace(CLUSTER_DISTANCE["smoke"], id_limit=0))
    cs = class_split(p)
    assert split.num_classes == len(cs.seen)
    assert [split.train.classes[i] for i in range(split.num_classes)] == [f"{c:02d}" for c in cs.seen]
    near = split.ood["near: unseen test numbers"]
    assert set(near.classes) == {f"{c:02d}" for c in cs.test}
    assert split.ood["far: photo crops"].images.shape[1:] == (1, 28, 56)


def test_photo_crops_are_deterministic_uint8():
    a, b = photo_crops(5, (28, 28), 0), photo_crops(5, (28, 28), 0)
    assert a.images.dtype.is_floating_point is False and a.images.shape == (5, 1, 28, 28)
    assert np.array_equal(a.images.numpy(), b.images.numpy())
    assert not np.array_equal(a.images.numpy(), photo_crops(5, (28, 28), 1).images.numpy())


def test_settings_per_profile_and_overrides():
    p = dataclasses.replace(get_profile("quick"), extra={KEY: {"contrastive_steps": 7, "archs": ["cnn"]}})
    s = settings_for(p, KEY, CLUSTER_DISTANCE)
    assert s.contrastive_steps == 7 and s.archs == ("cnn",)
    with pytest.raises(ValueError, match="unknown cluster_distance setting"):
        settings_for(dataclasses.replace(p, extra={KEY: {"contrastiv_steps": 1}}), KEY, CLUSTER_DISTANCE)
    assert set(CLUSTER_DISTANCE) == {"smoke", "quick", "cifar", "paper"}
    assert CLUSTER_DISTANCE["cifar"].id_sets == ("cifar10", "cifar100")


def test_encoders_give_their_out_dim():
    import torch

    s = CLUSTER_DISTANCE["quick"]
    for arch in ("cnn", "resnet18"):
        enc = build_encoder(arch, 1, s, 0).eval()
        assert enc(torch.rand(2, 1, 28, 56)).shape == (2, enc.out_dim)
    with pytest.raises(ValueError, match="unknown architecture"):
        build_encoder("vit", 1, s, 0)
