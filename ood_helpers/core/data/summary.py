"""Tables describing a profile's data: which datasets, their sizes, the class split, the protocol."""

from __future__ import annotations

import pandas as pd

from ood_helpers.core.data.embedded import SPLITS
from ood_helpers.core.data.imageset import ImageSet
from ood_helpers.core.data.registry import load_dataset
from ood_helpers.core.data.splits import NOVEL_DIGIT, ClassSplit


def profile_datasets(profile, also=()) -> list[str]:
    """The profile's dataset names: the many-class set, then ``also`` (e.g. paper 000's OOD and noise sets,
    ``homogeneity.settings.table3_datasets``)."""
    names = [profile.many_class, *also]
    return list(dict.fromkeys(names))  # a set named twice is loaded once


def load_profile_datasets(profile, also=(), splits=SPLITS, **kwargs) -> dict[tuple[str, str], ImageSet]:
    """{(dataset, split): ImageSet} for every dataset of ``profile_datasets(profile, also)`` and each split."""
    return {(n, s): load_dataset(n, s, profile=profile, **kwargs) for n in profile_datasets(profile, also)
            for s in splits}


def dataset_sizes_table(sets: dict[tuple[str, str], ImageSet]) -> pd.DataFrame:
    """One row per (dataset, split): images, classes present, images per class (min-max), image shape C x H x W."""
    rows = []
    for (name, split), ds in sets.items():
        counts = ds.class_counts()
        present = counts[counts > 0]
        rows.append(
            {
                "dataset": name,
                "split": split,
                "images": len(ds),
                "classes": int(len(present)),
                "per class": f"{present.min()}-{present.max()}" if len(present) and present.min() != present.max()
                else str(int(present.min()) if len(present) else 0),
                "image shape": " x ".join(map(str, ds.image_shape)) if len(ds) else "-",
            }
        )
    return pd.DataFrame(rows)


def class_split_table(split: ClassSplit, class_names: list[str]) -> pd.DataFrame:
    """One row per class in shuffled order: position (1-based, the paper's "classes 1-800"), original
    class id, class name, range (seen / val / test)."""
    if len(class_names) < split.num_classes:
        raise ValueError(f"{len(class_names)} class names for a split over {split.num_classes} classes")
    rows = []
    for group in ("seen", "val", "test"):
        for cid in getattr(split, group):
            rows.append({"class id": int(cid), "class name": class_names[cid], "range": group})
    df = pd.DataFrame(rows)
    df.insert(0, "position", range(1, len(df) + 1))
    return df


def class_split_summary(table: pd.DataFrame, shown: int = 12) -> pd.DataFrame:
    """Per range of ``class_split_table``: positions, class count and the first ``shown`` class names."""
    rows = []
    for group, part in table.groupby("range", sort=False):
        names = part["class name"].tolist()
        more = f", ... ({len(names) - shown} more)" if len(names) > shown else ""
        rows.append(
            {
                "range": group,
                "positions": f"{part['position'].min()}-{part['position'].max()}",
                "classes": len(names),
                "class names (shuffled order)": ", ".join(names[:shown]) + more,
            }
        )
    return pd.DataFrame(rows)


def _order_words(profile) -> str:
    shuffle = f"numpy.random.seed(0); rand({profile.num_classes}).argsort()"
    if getattr(profile, "class_order", "paper") == "novel-digit":
        return (f"{shuffle}, classes without the digit {NOVEL_DIGIT} first (class_order 'novel-digit': no seen class "
                f"contains a {NOVEL_DIGIT}, every test class does)")
    return shuffle


def protocol_table(profile) -> pd.DataFrame:
    """The main paper's modified-ImageNet protocol (section 5.1, appendix A.2) beside this profile's."""
    seen, val, test = profile.class_split
    n_val, n_test = profile.per_class[1], profile.per_class[2]
    dataset = f"{profile.many_class} ({profile.num_classes} classes)"
    if profile.many_class == "mnist-pairs" and profile.num_classes < 100:  # smoke: the first class ids only
        dataset = f"mnist-pairs (class ids 0-{profile.num_classes - 1} of its 100)"
    if profile.many_class == "mnist-pairs":
        val_images = f"{n_val} a class, pairs of mnist5k digits held out for validation"
        test_images = f"{n_test} a class, pairs of mnist5k digits held out for testing"
    else:
        val_images = f"first {n_val} training images of each class"
        test_images = "ImageNet's validation set" if profile.many_class == "imagenet" else "the official test split"
    rows = [
        ("many-class dataset", "ImageNet (1,000 classes)", dataset),
        ("class order", "numpy.random.seed(0); rand(1000).argsort()", _order_words(profile)),
        ("training classes", "1-800", f"1-{seen}"),
        ("validation classes", "801-900 (validation on classes 1-900)", f"{seen + 1}-{seen + val} (validation on classes 1-{seen + val})"),
        ("test classes", "901-1000 (testing on all classes)", f"{seen + val + 1}-{seen + val + test} (testing on all classes)"),
        ("validation images", "first 50 training images of each class", val_images),
        ("test images", "ImageNet's validation set (50 a class)", test_images),
    ]
    return pd.DataFrame(rows, columns=["setting", "paper (000, sec. 5.1, A.2)", f"ours ({profile.name})"])
