"""torchvision-named sets: real on-disk formats read by torchvision, the offline error path, and
the real CIFAR-10 JPEG copy through the image-folder path."""

import struct
import urllib.error
import urllib.request

import numpy as np
import pytest
import torch
from PIL import Image

from ood_helpers.core.data import load_dataset
from tests.support import extract_cifar


pytestmark = pytest.mark.usefixtures("data_dir")  # tests/conftest.py: an empty data folder, no OOD_<NAME>_DIR


def write_idx(raw, prefix, images, labels):
    """MNIST's idx-ubyte format: big-endian magic 2051 / 2049, counts, then the bytes."""
    raw.mkdir(parents=True, exist_ok=True)
    n, h, w = images.shape
    (raw / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 2051, n, h, w) + images.tobytes())
    (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, n) + labels.astype(np.uint8).tobytes())


@pytest.mark.parametrize("name,folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_idx_files_round_trip_through_torchvision(data_dir, name, folder):
    rng = np.random.default_rng(0)
    train_x = rng.integers(0, 256, size=(30, 28, 28), dtype=np.uint8)
    train_y = np.tile(np.arange(10), 3)[rng.permutation(30)]
    test_x = rng.integers(0, 256, size=(10, 28, 28), dtype=np.uint8)
    test_y = rng.permutation(10)
    write_idx(data_dir / folder / "raw", "train", train_x, train_y)
    write_idx(data_dir / folder / "raw", "t10k", test_x, test_y)

    val = load_dataset(name, "val", per_class=(0, 1, 0), download=False)
    train = load_dataset(name, "train", per_class=(0, 1, 0), download=False)
    test = load_dataset(name, "test", download=False)
    # "val" = the first training image of each class, in file order; "train" = the rest
    first = np.array([np.flatnonzero(train_y == c)[0] for c in range(10)])
    rest = np.setdiff1d(np.arange(30), first)
    np.testing.assert_array_equal(np.sort(val.targets.numpy()), np.arange(10))
    np.testing.assert_array_equal(val.images[:, 0].numpy(), train_x[np.sort(first)])
    np.testing.assert_array_equal(train.images[:, 0].numpy(), train_x[rest])
    np.testing.assert_array_equal(train.targets.numpy(), train_y[rest])
    np.testing.assert_array_equal(test.images[:, 0].numpy(), test_x)
    np.testing.assert_array_equal(test.targets.numpy(), test_y)
    assert len(test.classes) == 10
    rgb = load_dataset(name, "test", channels=3, image_size=32, download=False)
    assert rgb.images.shape == (10, 3, 32, 32)


@pytest.mark.parametrize("name", ["cifar10", "mnist", "svhn"])
def test_offline_download_says_what_to_do_and_leaves_nothing(data_dir, monkeypatch, name):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    var = "OOD_" + name.upper().replace("-", "_") + "_DIR"
    with pytest.raises(RuntimeError, match=rf"needs internet.*{var}") as err:
        load_dataset(name, "test")
    assert "Temporary failure in name resolution" in str(err.value)  # the cause is kept
    leftovers = [p for p in data_dir.rglob("*") if p.is_file()]
    assert leftovers == []
    assert not list(data_dir.glob(".download-*"))


def test_missing_without_download_is_a_clear_error(data_dir):
    with pytest.raises(FileNotFoundError, match=r"cifar100 not found.*image folder .*cifar100"):
        load_dataset("cifar100", "train", download=False)


@pytest.fixture(scope="module")
def cifar_subset(tmp_path_factory):
    """20 train and 20 test JPEGs of three classes extracted from the real CIFAR-10 copy."""
    return extract_cifar(tmp_path_factory.mktemp("cifar"), {"train": 20, "test": 20}, classes={"bird", "cat", "ship"})


def test_real_cifar10_jpeg_copy(cifar_subset, monkeypatch):
    monkeypatch.setenv("OOD_CIFAR10_DIR", str(cifar_subset))
    val = load_dataset("cifar10", "val", per_class=(0, 5, 0))
    train = load_dataset("cifar10", "train", per_class=(0, 5, 0))
    test = load_dataset("cifar10", "test", channels=1)
    assert val.classes == ["bird", "cat", "ship"] and train.classes == val.classes
    assert (len(val), len(train), len(test)) == (15, 45, 60)
    assert val.images.shape[1:] == (3, 32, 32) and test.images.shape[1:] == (1, 32, 32)
    # the first 5 sorted files of "cat" are val; compare with PIL's decode of those files
    cat = sorted((cifar_subset / "train" / "cat").glob("*.jpg"))[:5]
    ref = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in cat])
    np.testing.assert_array_equal(val.images[val.targets == 1].permute(0, 2, 3, 1).numpy(), ref)
    # natural images: colourful, not constant
    assert val.float_images().std() > 0.15
    gray_ref = np.asarray(Image.open(sorted((cifar_subset / "test" / "bird").glob("*.jpg"))[0]).convert("L"))
    assert np.abs(test.images[0, 0].numpy().astype(int) - gray_ref.astype(int)).max() <= 1
    assert torch.equal(test.targets, torch.arange(3).repeat_interleave(20))


def test_download_merges_into_existing_folder(tmp_path):
    from ood_helpers.core.data.torchvision_sets import merge_into

    dest, src = tmp_path / "root", tmp_path / "tmp"
    (dest / "omniglot-py" / "images_background").mkdir(parents=True)
    (dest / "omniglot-py" / "images_background.zip").write_text("old background")
    (src / "omniglot-py" / "images_evaluation").mkdir(parents=True)
    (src / "omniglot-py" / "images_evaluation.zip").write_text("new evaluation")
    (src / "omniglot-py" / "images_background.zip").write_text("new background")
    merge_into(src, dest)
    assert (dest / "omniglot-py" / "images_background").is_dir()  # the other split survives
    assert (dest / "omniglot-py" / "images_evaluation").is_dir()
    assert (dest / "omniglot-py" / "images_background.zip").read_text() == "new background"
    assert not (src / "omniglot-py" / "images_evaluation.zip").exists()


def test_bad_per_class_refused():
    with pytest.raises(ValueError, match=r"per_class must be three ints >= 0.*\(1, 2\)"):
        load_dataset("cifar10", "val", per_class=(1, 2))
    with pytest.raises(ValueError, match="per_class"):
        load_dataset("mnist5k", "val", per_class=(1, -2, 3))
