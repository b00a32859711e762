"""Tables of notebook 00 and the sample-image grids, checked against counts made by hand."""

import matplotlib

matplotlib.use("agg")

import numpy as np
import pytest

from ood_helpers.core.data import class_split, load_dataset, paper_class_order
from ood_helpers.core.data.summary import (class_split_summary, class_split_table, dataset_sizes_table, profile_datasets, protocol_table)
from ood_helpers.core.plots.grids import pick_samples, sample_grid, split_grid
from ood_helpers.core.profile import get_profile
from ood_helpers.homogeneity.settings import table3_datasets

SMOKE = get_profile("smoke")


def test_profile_datasets_order_and_dedup():
    p = get_profile("paper")
    assert profile_datasets(p, also=table3_datasets(p)) == ["imagenet", "mnist", "fashion-mnist", "cifar10", "cifar100",
                                                            "gaussian", "uniform"]
    assert profile_datasets(p) == ["imagenet"]
    # a set named twice is listed once, first
    assert profile_datasets(p, also=("mnist", "imagenet", "mnist")) == ["imagenet", "mnist"]


def test_dataset_sizes_counts_by_hand():
    sets = {
        ("digits", "val"): load_dataset("digits", "val"),
        ("mnist-pairs", "train"): load_dataset("mnist-pairs", "train", profile=SMOKE, channels=3, image_size=14),
    }
    table = dataset_sizes_table(sets).set_index(["dataset", "split"])
    digits = sets["digits", "val"]
    counts = np.bincount(digits.targets.numpy())
    row = table.loc[("digits", "val")]
    assert row["images"] == len(digits) == counts.sum()
    assert row["classes"] == 10
    assert row["per class"] == f"{counts.min()}-{counts.max()}"
    assert row["image shape"] == "1 x 28 x 28"
    pairs = table.loc[("mnist-pairs", "train")]
    assert pairs["images"] == 12 * 12 and pairs["per class"] == "12" and pairs["image shape"] == "3 x 14 x 28"


def test_class_split_table_follows_paper_order():
    p = get_profile("quick")
    split = class_split(p)
    names = [f"{c:02d}" for c in range(100)]
    table = class_split_table(split, names)
    order = paper_class_order(100)
    assert table["class id"].tolist() == order.tolist()
    assert table["position"].tolist() == list(range(1, 101))
    assert (table["range"].iloc[:80] == "seen").all() and (table["range"].iloc[90:] == "test").all()
    assert table["class name"].tolist() == [names[c] for c in order]
    summary = class_split_summary(table, shown=3).set_index("range")
    assert summary.loc["val", "positions"] == "81-90" and summary.loc["seen", "classes"] == 80
    assert summary.loc["test", "class names (shuffled order)"].endswith("(7 more)")
    with pytest.raises(ValueError, match="class names"):
        class_split_table(split, names[:50])


def test_protocol_table_lists_ranges():
    table = protocol_table(get_profile("quick")).set_index("setting")
    assert table.loc["training classes", "ours (quick)"] == "1-80"
    assert table.loc["test classes", "ours (quick)"].startswith("91-100")
    assert table.loc["training classes", "paper (000, sec. 5.1, A.2)"] == "1-800"


def test_pick_samples_one_per_requested_class():
    ds = load_dataset("mnist-pairs", "test", profile=SMOKE)
    ids = [7, 3, 11]
    idx = pick_samples(ds, 8, class_ids=ids, seed=1)
    assert ds.targets[idx].tolist() == ids
    assert pick_samples(ds, 8, class_ids=ids, seed=1).tolist() == idx.tolist()
    noise = load_dataset("uniform", "test")
    assert len(set(pick_samples(noise, 5).tolist())) == 5


def test_grids_draw_titled_images():
    ds = load_dataset("mnist-pairs", "test", profile=SMOKE)
    split = class_split(SMOKE)
    fig = split_grid(ds, split, 4)
    titled = [ax.get_title() for ax in fig.axes if ax.images]
    assert len(titled) == 4 + 2 + 2
    assert titled[:4] == [ds.classes[c] for c in split.seen[:4]]
    fig = sample_grid(load_dataset("digits", "test", channels=3), 6, ncols=3)
    shown = [ax.images[0].get_array() for ax in fig.axes if ax.images]
    assert len(shown) == 6 and shown[0].shape[-1] == 3
    with pytest.raises(ValueError, match="positive"):
        sample_grid(ds, 0)
