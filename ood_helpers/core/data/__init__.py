"""Datasets and class splits: one entry point, ``load_dataset(name, split, profile=...)``.

Modules: ``imageset`` (the ImageSet type, channel / size adaptation, ``select_classes``),
``embedded`` (mnist5k, digits, MNIST-pairs, noise), ``torchvision_sets`` (MNIST ... Omniglot,
downloaded or read from a local image-folder copy), ``image_folder`` (listing, decoding and
caching image folders; the lazy ``FolderImageSet``), ``imagenet`` (ImageNet, TinyImageNet),
``splits`` (the paper's class order, seen / val / test ranges, open-set splits), ``summary``
(tables of the splits and sizes), ``registry`` (``load_dataset``).
"""

from ood_helpers.core.data.embedded import SPLITS
from ood_helpers.core.data.image_folder import FolderImageSet
from ood_helpers.core.data.imageset import ImageSet, adapt_images, select_classes
from ood_helpers.core.data.registry import DATASETS, load_dataset, many_class_split
from ood_helpers.core.data.splits import (ClassSplit, class_order, class_split, novel_digit_order, open_set_splits, paper_class_order, range_labels, test_ranges)

__all__ = [
    "DATASETS",
    "SPLITS",
    "ClassSplit",
    "FolderImageSet",
    "ImageSet",
    "adapt_images",
    "class_split",
    "load_dataset",
    "many_class_split",
    "open_set_splits",
    "paper_class_order",
    "class_order",
    "novel_digit_order",
    "range_labels",
    "select_classes",
    "test_ranges",
]
