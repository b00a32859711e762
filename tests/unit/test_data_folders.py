"""Image-folder loaders on tiny trees of real PNG / JPEG files: folder copies, ImageNet, TinyImageNet."""

import numpy as np
import pytest
import torch
from PIL import Image

from ood_helpers.core.data import load_dataset, select_classes
from ood_helpers.core.data import image_folder


pytestmark = pytest.mark.usefixtures("data_dir")  # tests/conftest.py: an empty data folder, no OOD_<NAME>_DIR


def write_image(path, rng, size=(8, 8), mode="RGB", fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = (*size, 3) if mode == "RGB" else size
    # smooth-ish content so JPEG round-trips closely
    arr = (rng.integers(0, 8, size=shape) * 32).astype(np.uint8)
    Image.fromarray(arr, mode=mode).save(path, format=fmt, quality=100)
    return np.asarray(Image.open(path).convert(mode))


def make_copy(root, rng, classes=("cat", "ant", "bee"), n_train=5, n_test=2):
    """train/<class>/NN.png and test/<class>/NN.png; returns {(part, class): [arrays in sorted name order]}."""
    pixels = {}
    for part, n in (("train", n_train), ("test", n_test)):
        for c in classes:
            # written in reverse so sorted order differs from creation order
            arrs = {i: write_image(root / part / c / f"{i:02d}.png", rng) for i in reversed(range(n))}
            pixels[part, c] = [arrs[i] for i in range(n)]
    return pixels


def test_folder_copy_splits_pixels_and_cache(tmp_path, data_dir, monkeypatch):
    rng = np.random.default_rng(0)
    root = tmp_path / "cifar10copy"
    pixels = make_copy(root, rng)
    val = load_dataset("cifar10", "val", root=root, per_class=(0, 2, 0))
    train = load_dataset("cifar10", "train", root=root, per_class=(0, 2, 0))
    test = load_dataset("cifar10", "test", root=root)
    assert val.classes == ["ant", "bee", "cat"]  # sorted folder names
    assert (len(train), len(val), len(test)) == (9, 6, 6)
    for ds, part, sl in ((val, "train", slice(0, 2)), (train, "train", slice(2, 5)), (test, "test", slice(0, 2))):
        for label, c in enumerate(ds.classes):
            got = ds.images[ds.targets == label].permute(0, 2, 3, 1).numpy()
            np.testing.assert_array_equal(got, np.stack(pixels[part, c][sl]))
    caches = sorted((data_dir / "cache").glob("cifar10-*.pt"))
    assert len(caches) == 2  # one per decoded folder (train, test), no temp files left
    assert not list((data_dir / "cache").glob(".*"))

    # the second load reads the cache, decoding nothing
    def no_decode(*a, **k):
        raise AssertionError("decoded although cached")

    monkeypatch.setattr(image_folder, "decode_file", no_decode)
    again = load_dataset("cifar10", "val", root=root, per_class=(0, 2, 0))
    assert torch.equal(again.images, val.images) and again.fingerprint() == val.fingerprint()
    monkeypatch.undo()
    monkeypatch.setenv("OOD_DATA_DIR", str(data_dir))

    # a corrupt cache is decoded again; a changed file list gets a new key
    caches[0].write_bytes(b"truncated")
    assert torch.equal(load_dataset("cifar10", "test", root=root).images, test.images)
    write_image(root / "test" / "ant" / "99.png", rng)
    assert len(load_dataset("cifar10", "test", root=root)) == 7
    assert len(list((data_dir / "cache").glob("cifar10-test-*.pt"))) == 2


def test_folder_copy_found_by_env_and_default_location(tmp_path, data_dir, monkeypatch):
    rng = np.random.default_rng(1)
    make_copy(tmp_path / "envcopy", rng, classes=("x", "y"), n_train=3, n_test=1)
    monkeypatch.setenv("OOD_CIFAR10_DIR", str(tmp_path / "envcopy"))
    assert load_dataset("cifar10", "train", per_class=(0, 1, 0)).classes == ["x", "y"]
    monkeypatch.delenv("OOD_CIFAR10_DIR")
    make_copy(data_dir / "cifar100", rng, classes=("p", "q", "r"), n_train=2, n_test=1)
    ds = load_dataset("cifar100", "test", channels=1, image_size=4)
    assert ds.classes == ["p", "q", "r"] and ds.images.shape == (3, 1, 4, 4)


def test_gray_jpeg_copy_keeps_one_channel(tmp_path):
    rng = np.random.default_rng(2)
    ref = {}
    for part in ("train", "test"):
        for c in ("0", "1"):
            for i in range(3):
                ref[part, c, i] = write_image(tmp_path / "m" / part / c / f"{i}.jpg", rng, size=(6, 6), mode="L")
    ds = load_dataset("mnist", "test", root=tmp_path / "m")
    assert ds.images.shape == (6, 1, 6, 6)
    # JPEG round trip: what was written, decoded back
    expected = np.stack([ref["test", c, i] for c in ("0", "1") for i in range(3)])
    assert np.abs(ds.images[:, 0].numpy().astype(int) - expected.astype(int)).max() <= 2


def test_missing_folder_names_folder_and_layout(tmp_path):
    (tmp_path / "half" / "train" / "a").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r"half.*train/<class>"):
        load_dataset("svhn", "train", root=tmp_path / "half" / "train" / "a", download=False)
    with pytest.raises(FileNotFoundError, match=r"nowhere.*<folder>/train/<wnid>"):
        load_dataset("imagenet", "train", root=tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"nowhere.*val_annotations"):
        load_dataset("tinyimagenet", "test", root=tmp_path / "nowhere")


WNIDS = ["n02", "n01", "n03"]


def make_imagenet_train(root, rng, n=4):
    pixels = {}
    for w in WNIDS:
        for i in reversed(range(n)):
            pixels[w, i] = write_image(root / "train" / w / f"{w}_{i}.JPEG", rng, size=(10, 12), fmt="JPEG")
    (root / "LOC_synset_mapping.txt").write_text("n01 tench, Tinca tinca\nn02 goldfish\nn03 shark, great white\n")
    return pixels


def test_imagenet_class_folder_val_layout(tmp_path):
    rng = np.random.default_rng(3)
    root = tmp_path / "imagenet"
    make_imagenet_train(root, rng)
    for w in WNIDS:
        write_image(root / "val" / w / f"ILSVRC2012_val_{w}.JPEG", rng, size=(9, 9), fmt="JPEG")
    val = load_dataset("imagenet", "val", root=root, per_class=(0, 2, 0))
    train = load_dataset("imagenet", "train", root=root, per_class=(0, 2, 0))
    test = load_dataset("imagenet", "test", root=root, per_class=(0, 2, 0))
    assert val.classes == ["tench", "goldfish", "shark"]  # sorted wnids n01, n02, n03, named
    assert [p.split("/")[-1] for p, _ in val.samples] == ["n01_0.JPEG", "n01_1.JPEG", "n02_0.JPEG", "n02_1.JPEG", "n03_0.JPEG", "n03_1.JPEG"]
    assert sorted(p.split("/")[-1] for p, _ in train.samples) == [f"{w}_{i}.JPEG" for w in sorted(WNIDS) for i in (2, 3)]
    assert test.targets.tolist() == [0, 1, 2]
    assert [p.split("/")[-1] for p, _ in test.samples] == [f"ILSVRC2012_val_{w}.JPEG" for w in sorted(WNIDS)]
    x, y = train[0]
    assert x.shape == (3, 10, 12) and y == 0 and x.dtype == torch.float32


def test_imagenet_flat_val_with_csv_and_lazy_interface(tmp_path):
    rng = np.random.default_rng(4)
    root = tmp_path / "imagenet"
    make_imagenet_train(root, rng, n=3)
    rows = ["ImageId,PredictionString"]
    ref = {}
    for j, w in enumerate(["n03", "n01", "n03", "n02"]):
        ref[j] = write_image(root / "val" / f"ILSVRC2012_val_{j:08d}.JPEG", rng, size=(10, 10), fmt="JPEG")
        rows.append(f"ILSVRC2012_val_{j:08d},{w} 1 2 3 4 {w} 5 6 7 8")
    (root / "LOC_val_solution.csv").write_text("\n".join(rows) + "\n")
    test = load_dataset("imagenet", "test", root=root, per_class=(0, 1, 0))
    assert sorted(test.targets.tolist()) == [0, 1, 2, 2]
    by_file = {p.split("/")[-1]: t for p, t in test.samples}
    assert by_file["ILSVRC2012_val_00000000.JPEG"] == 2 and by_file["ILSVRC2012_val_00000001.JPEG"] == 0
    # pixels of the lazily decoded file match the array PIL read back after writing
    i = [p.split("/")[-1] for p, _ in test.samples].index("ILSVRC2012_val_00000003.JPEG")
    got = (test[i][0] * 255).round().permute(1, 2, 0).numpy()
    assert np.abs(got - ref[3]).max() <= 2
    # profile-style conversion: gray, shorter side 4 + centre crop
    small = load_dataset("imagenet", "train", root=root, per_class=(0, 1, 0), channels=1, image_size=4)
    assert small.image_shape == (1, 4, 4) and small.images.shape == (6, 1, 4, 4)
    # select_classes / subset / fingerprint on the lazy set
    sub = select_classes(small, [2, 0])
    assert sub.classes == ["shark", "tench"] and sorted(sub.targets.tolist()) == [0, 0, 1, 1]
    assert all(p.split("/")[-2] == ("n03" if t == 0 else "n01") for p, t in sub.samples)
    assert sub.fingerprint() != small.fingerprint()
    assert small.fingerprint() == load_dataset("imagenet", "train", root=root, per_class=(0, 1, 0), channels=1, image_size=4).fingerprint()
    with pytest.raises(ValueError, match="val_per_class=3 leaves no training images"):
        load_dataset("imagenet", "train", root=root, per_class=(0, 3, 0))


def test_imagenet_flat_val_without_csv_is_refused(tmp_path):
    rng = np.random.default_rng(5)
    root = tmp_path / "imagenet"
    make_imagenet_train(root, rng, n=2)
    write_image(root / "val" / "ILSVRC2012_val_00000001.JPEG", rng, fmt="JPEG")
    with pytest.raises(FileNotFoundError, match="LOC_val_solution.csv"):
        load_dataset("imagenet", "test", root=root, per_class=(0, 1, 0))


def test_imagenet_from_env_in_kaggle_layout(tmp_path, monkeypatch):
    rng = np.random.default_rng(6)
    root = tmp_path / "kaggle"
    make_imagenet_train(root / "ILSVRC" / "Data" / "CLS-LOC", rng, n=2)
    monkeypatch.setenv("OOD_IMAGENET_DIR", str(root))
    # a folder without val/ is refused whatever split is asked, before any training could start
    with pytest.raises(FileNotFoundError, match=r"has no val/ folder .*CLS-LOC/val"):
        load_dataset("imagenet", "train", per_class=(0, 1, 0))
    (root / "ILSVRC" / "Data" / "CLS-LOC" / "val").mkdir()
    ds = load_dataset("imagenet", "val", per_class=(0, 1, 0))
    assert len(ds) == 3 and ds.targets.tolist() == [0, 1, 2]


def test_tinyimagenet_release_layout(tmp_path):
    rng = np.random.default_rng(7)
    root = tmp_path / "tiny-imagenet-200"
    for w in WNIDS:
        for i in range(3):
            write_image(root / "train" / w / "images" / f"{w}_{i}.JPEG", rng, size=(64, 64), fmt="JPEG")
        (root / "train" / w / f"{w}_boxes.txt").write_text("")
    lines = []
    for j, w in enumerate(["n01", "n03", "n03"]):
        write_image(root / "val" / "images" / f"val_{j}.JPEG", rng, size=(64, 64), fmt="JPEG")
        lines.append(f"val_{j}.JPEG\t{w}\t0\t0\t63\t63")
    (root / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    (root / "words.txt").write_text("n01\tgoldfish, Carassius auratus\nn02\tsalamander\nn03\tbullfrog\nn99\tunused\n")
    test = load_dataset("tinyimagenet", "test", root=root, per_class=(0, 1, 0))
    val = load_dataset("tinyimagenet", "val", root=root, per_class=(0, 1, 0), image_size=32)
    assert test.classes == ["goldfish", "salamander", "bullfrog"]
    assert test.targets.tolist() == [0, 2, 2]
    assert [p.split("/")[-1] for p, _ in val.samples] == ["n01_0.JPEG", "n02_0.JPEG", "n03_0.JPEG"]
    assert val.images.shape == (3, 3, 32, 32)
    assert len(load_dataset("tinyimagenet", "train", root=root, per_class=(0, 1, 0))) == 6


def test_lazy_file_lists_are_cached_and_refreshed(tmp_path, data_dir, monkeypatch):
    rng = np.random.default_rng(8)
    root = tmp_path / "imagenet"
    make_imagenet_train(root, rng, n=2)
    (root / "val").mkdir()
    first = load_dataset("imagenet", "train", root=root, per_class=(0, 1, 0))
    assert len(list((data_dir / "cache").glob("scan-*.json"))) == 1

    def no_scan(*a, **k):
        raise AssertionError("scanned although the file list is cached")

    monkeypatch.setattr(image_folder, "scan_class_folders", no_scan)
    again = load_dataset("imagenet", "train", root=root, per_class=(0, 1, 0))
    assert again.samples == first.samples
    monkeypatch.undo()
    monkeypatch.setenv("OOD_DATA_DIR", str(data_dir))
    # a new file changes its class folder's mtime, so the list is scanned again
    import os
    import time

    newfile = root / "train" / "n01" / "n01_9.JPEG"
    write_image(newfile, rng, fmt="JPEG")
    later = time.time_ns() + 10**9  # coarse-mtime file systems: make the change visible
    os.utime(root / "train" / "n01", ns=(later, later))
    grown = load_dataset("imagenet", "train", root=root, per_class=(0, 1, 0))
    assert len(grown) == len(first) + 1
    # a damaged cached list is rebuilt
    for f in (data_dir / "cache").glob("scan-*.json"):
        f.write_text("{not json")
    assert load_dataset("imagenet", "train", root=root, per_class=(0, 1, 0)).samples == grown.samples


def test_tiny_file_list_refreshes_on_new_image(tmp_path, data_dir):
    import os
    import time

    rng = np.random.default_rng(9)
    root = tmp_path / "tiny"
    for w in WNIDS:
        write_image(root / "train" / w / "images" / f"{w}_0.JPEG", rng, fmt="JPEG")
        write_image(root / "train" / w / "images" / f"{w}_1.JPEG", rng, fmt="JPEG")
    assert len(load_dataset("tinyimagenet", "train", root=root, per_class=(0, 1, 0))) == 3
    write_image(root / "train" / "n02" / "images" / "n02_2.JPEG", rng, fmt="JPEG")
    later = time.time_ns() + 10**9
    os.utime(root / "train" / "n02" / "images", ns=(later, later))
    assert len(load_dataset("tinyimagenet", "train", root=root, per_class=(0, 1, 0))) == 4
