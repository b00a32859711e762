"""ImageNet and TinyImageNet from local folders, lazily decoded, with the main paper's protocol.

Section 5.1 and appendix A.2 of paper 000: ImageNet's validation set is the test set, the
first 50 training images of each class (sorted file names) are the validation set, and the
classes are shuffled with ``numpy.random.seed(0); numpy.random.rand(1000).argsort()``. Here the
classes are the sorted wnids; ``splits.class_split`` applies the shuffle.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ood_helpers.core import paths
from ood_helpers.core.data.image_folder import FolderImageSet, env_dir, scan_class_folders_cached, split_train_val
from ood_helpers.core.data.transforms import EVAL_RESIZE_RATIO

IMAGENET_LAYOUT = (
    "<folder>/train/<wnid>/*.JPEG, and the validation images either in class folders "
    "<folder>/val/<wnid>/*.JPEG or flat <folder>/val/*.JPEG with <folder>/LOC_val_solution.csv "
    "(Kaggle's layout <folder>/ILSVRC/Data/CLS-LOC/{train,val} + <folder>/LOC_val_solution.csv also works)"
)
TINYIMAGENET_LAYOUT = (
    "the release layout <folder>/train/<wnid>/images/*.JPEG, <folder>/val/images/*.JPEG "
    "and <folder>/val/val_annotations.txt"
)


def _split_folder_set(train_samples, test_samples, split, *, classes, names, name, base, val_per_class, channels,
                      image_size, eval_resize_ratio=1.0):
    if split == "test":
        samples = test_samples
    else:
        labels = np.array([t for _, t in train_samples], dtype=np.int64)
        idx = split_train_val(labels, split, val_per_class, classes, name)
        samples = [train_samples[i] for i in idx]
    return FolderImageSet(samples, names, name, base=base, channels=channels, image_size=image_size,
                          eval_resize_ratio=eval_resize_ratio)


def _read_names(path: Path, sep: str | None) -> dict[str, str]:
    """wnid -> first human-readable name from a synset mapping file (empty when absent)."""
    if not path.is_file():
        return {}
    out = {}
    for line in path.read_text().splitlines():
        wnid, _, rest = line.strip().partition(sep or " ")
        if wnid:
            out[wnid] = rest.split(",")[0].strip() or wnid
    return out


def load_imagenet(split, *, root=None, val_per_class=50, channels=None, image_size=None) -> FolderImageSet:
    """ImageNet with the main paper's protocol: classes = sorted wnids (shuffle them with
    ``class_split``), "val" = first ``val_per_class`` sorted training files a class, "train" =
    the rest, "test" = ImageNet's validation set. Folder: ``root``, OOD_IMAGENET_DIR or data/imagenet."""
    folder = Path(root) if root is not None else env_dir("imagenet") or paths.data_root() / "imagenet"
    data = folder / "ILSVRC" / "Data" / "CLS-LOC" if (folder / "ILSVRC" / "Data" / "CLS-LOC").is_dir() else folder
    # both halves are checked whatever the split, so a missing val/ is reported before hours of training
    for part in ("train", "val"):
        if not (data / part).is_dir():
            raise FileNotFoundError(f"ImageNet: {folder} has no {part}/ folder (looked for {data / part}); "
                                    f"expected {IMAGENET_LAYOUT}")
    classes, train_samples = scan_class_folders_cached(data / "train", what="ImageNet", layout=IMAGENET_LAYOUT)
    index = {c: i for i, c in enumerate(classes)}
    names = _read_names(folder / "LOC_synset_mapping.txt", None) or _read_names(data / "LOC_synset_mapping.txt", None)
    test_samples = []
    if split == "test":
        val = data / "val"
        if not val.is_dir():
            raise FileNotFoundError(f"ImageNet: no validation folder {val}; expected {IMAGENET_LAYOUT}")
        if any(p.is_dir() for p in val.iterdir()):
            val_classes, test_samples = scan_class_folders_cached(val, what="ImageNet validation", layout=IMAGENET_LAYOUT)
            unknown = sorted(set(val_classes) - set(classes))
            if unknown:
                raise ValueError(f"ImageNet: validation classes {unknown[:5]} in {val} have no training folder")
            test_samples = [(p, index[val_classes[t]]) for p, t in test_samples]
        else:
            csv_path = next((p for p in (folder / "LOC_val_solution.csv", data / "LOC_val_solution.csv", val / "LOC_val_solution.csv") if p.is_file()), None)
            if csv_path is None:
                raise FileNotFoundError(
                    f"ImageNet: {val} holds no class folders and no LOC_val_solution.csv was found in {folder}; "
                    f"expected {IMAGENET_LAYOUT}"
                )
            with open(csv_path, newline="") as fh:
                rows = list(csv.DictReader(fh))
            for row in rows:
                wnid = row["PredictionString"].split()[0]
                if wnid not in index:
                    raise ValueError(f"ImageNet: {csv_path} names class {wnid!r} which has no training folder")
                file = val / f"{row['ImageId']}.JPEG"
                if not file.is_file():
                    raise FileNotFoundError(f"ImageNet: {csv_path} lists {file.name} but {file} does not exist")
                test_samples.append((str(file), index[wnid]))
            test_samples.sort(key=lambda s: (s[1], s[0]))
    return _split_folder_set(
        train_samples, test_samples, split,
        classes=classes, names=[names.get(c, c) for c in classes], name="imagenet", base=data,
        val_per_class=val_per_class, channels=channels, image_size=image_size, eval_resize_ratio=EVAL_RESIZE_RATIO,
    )  # fmt: skip


def load_tinyimagenet(split, *, root=None, val_per_class=50, channels=None, image_size=None) -> FolderImageSet:
    """TinyImageNet (200 classes, 64x64) from its release layout: "val" = first ``val_per_class``
    sorted training files a class, "train" = the rest, "test" = the release's labelled val set.
    Folder: ``root``, OOD_TINYIMAGENET_DIR, data/tinyimagenet or data/tiny-imagenet-200."""
    if root is not None:
        folder = Path(root)
    else:
        default = paths.data_root() / "tinyimagenet"
        alt = paths.data_root() / "tiny-imagenet-200"
        folder = env_dir("tinyimagenet") or (alt if not default.exists() and alt.exists() else default)
    classes, train_samples = scan_class_folders_cached(folder / "train", what="TinyImageNet", layout=TINYIMAGENET_LAYOUT)
    index = {c: i for i, c in enumerate(classes)}
    names = _read_names(folder / "words.txt", "\t")
    test_samples = []
    if split == "test":
        ann = folder / "val" / "val_annotations.txt"
        if not ann.is_file():
            raise FileNotFoundError(f"TinyImageNet: no {ann}; expected {TINYIMAGENET_LAYOUT}")
        for line in ann.read_text().splitlines():
            if not line.strip():
                continue
            file, wnid = line.split("\t")[:2]
            if wnid not in index:
                raise ValueError(f"TinyImageNet: {ann} names class {wnid!r} which has no training folder")
            path = folder / "val" / "images" / file
            if not path.is_file():
                raise FileNotFoundError(f"TinyImageNet: {ann} lists {file} but {path} does not exist")
            test_samples.append((str(path), index[wnid]))
        test_samples.sort(key=lambda s: (s[1], s[0]))
    return _split_folder_set(
        train_samples, test_samples, split,
        classes=classes, names=[names.get(c, c) for c in classes], name="tinyimagenet", base=folder,
        val_per_class=val_per_class, channels=channels, image_size=image_size,
    )  # fmt: skip
