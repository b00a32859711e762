"""Datasets read from image folders: listing, decoding, caches, and the two dataset types.

- Folder copies (``<root>/train/<class>/*``, ``<root>/test/<class>/*``) of torchvision-named
  sets are decoded once into uint8 tensors, cached under ``paths.data_root()/cache`` keyed
  by a fingerprint of the file list (relative paths, sizes, mtimes).
- Sets too big for memory (ImageNet, TinyImageNet, see ``imagenet``) are ``FolderImageSet``s:
  the file list is kept and images are decoded on access, with the same interface as ``ImageSet``.
- Every set splits its training folder the paper's way (ImageNet, section 5.1): "val" = the
  first ``val_per_class`` training files of each class (sorted file names), "train" = the rest,
  "test" = the official held-out images.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch
import torchvision.transforms.functional as TF
from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes, make_dataset
from tqdm.auto import tqdm

from ood_helpers.core import paths
from ood_helpers.core.data.imageset import ImageSet, adapt_images, check_channels, target_hw
from ood_helpers.core.artifacts import atomic_write_text
from ood_helpers.core.artifacts import CorruptArtifactError, atomic_save_torch, load_torch
from ood_helpers.core.data.loading import DECODE_LIMIT_ENV, decode_limit

FOLDER_COPY_LAYOUT = "<folder>/train/<class>/*.png|jpg and <folder>/test/<class>/*.png|jpg"
GRAY_MODES = {"1", "L", "LA", "I", "I;16", "F"}


# ===== file lists =====


def env_dir(name: str) -> Path | None:
    """The folder named by ``OOD_<NAME>_DIR`` (e.g. OOD_FASHION_MNIST_DIR), or None."""
    value = os.environ.get(f"OOD_{name.upper().replace('-', '_')}_DIR")
    return Path(value).expanduser() if value else None


def scan_class_folders(folder: Path, *, what: str, layout: str) -> tuple[list[str], list[tuple[str, int]]]:
    """(sorted class folder names, [(path, label)] sorted by label then path) of ``folder``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{what}: folder {folder} does not exist; expected {layout}")
    try:
        classes, class_to_idx = find_classes(str(folder))
        samples = make_dataset(str(folder), class_to_idx, extensions=IMG_EXTENSIONS)
    except FileNotFoundError as err:
        raise FileNotFoundError(f"{what}: no usable class folders with images in {folder} ({err}); expected {layout}") from err
    return classes, sorted(samples, key=lambda s: (s[1], s[0]))


def folder_state(folder: Path) -> str:
    """16 hex digits over the modification times of ``folder``'s class folders (and of their
    ``images/`` sub-folder, where TinyImageNet keeps its files): they change when a file is
    added or removed, and reading them needs no listing of the files themselves."""
    h = hashlib.sha256(str(Path(folder).resolve()).encode())
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if entry.is_dir():
            h.update(f"{entry.name}:{entry.stat().st_mtime_ns}".encode())
            images = Path(entry.path) / "images"
            if images.is_dir():
                h.update(f"/images:{images.stat().st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def scan_class_folders_cached(folder: Path, *, what: str, layout: str) -> tuple[list[str], list[tuple[str, int]]]:
    """``scan_class_folders`` with the file list kept in ``data_root()/cache/scan-<state>.json``,
    so ImageNet's 1.28 million training files are listed once, not at every load."""
    import json

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{what}: folder {folder} does not exist; expected {layout}")
    path = paths.data_root() / "cache" / f"scan-{folder_state(folder)}.json"
    if path.is_file():
        try:
            stored = json.loads(path.read_text())
            return stored["classes"], [(os.path.join(folder, rel), t) for rel, t in stored["samples"]]
        except (ValueError, KeyError, TypeError):
            pass  # a damaged list is scanned again and replaced
    classes, samples = scan_class_folders(folder, what=what, layout=layout)
    rel = [[os.path.relpath(p, folder), t] for p, t in samples]
    atomic_write_text(path, json.dumps({"folder": str(folder), "classes": classes, "samples": rel}))
    return classes, samples


def first_per_class(labels: np.ndarray, n: int) -> np.ndarray:
    """Boolean mask [N]: the first ``n`` positions (in the given order) of each label."""
    labels = np.asarray(labels)
    order = np.argsort(labels, kind="stable")  # keeps the given order within a class
    ranked = labels[order]
    rank = np.empty(len(labels), dtype=np.int64)
    rank[order] = np.arange(len(labels)) - np.searchsorted(ranked, ranked, side="left")
    return rank < n


def split_train_val(labels: np.ndarray, split: str, val_per_class: int, classes: list[str], what: str) -> np.ndarray:
    """Indices of "train" (all but the first ``val_per_class`` of each class) or "val" (those first)."""
    if not isinstance(val_per_class, (int, np.integer)) or val_per_class < 0:
        raise ValueError(f"val_per_class must be an int >= 0, got {val_per_class!r}")
    counts = np.bincount(labels, minlength=len(classes))
    short = [classes[c] for c in np.flatnonzero(counts <= val_per_class)]
    if short:
        raise ValueError(
            f"{what}: val_per_class={val_per_class} leaves no training images for class(es) {short[:5]} "
            f"(they have {counts.min()} or more images); use a smaller per_class[1]"
        )
    mask = first_per_class(labels, val_per_class)
    return np.flatnonzero(mask if split == "val" else ~mask)


def files_fingerprint(files: list[str], base: Path, *, stat: bool) -> str:
    """16 hex digits of sha256 over the relative paths (and, with ``stat``, sizes and mtimes)."""
    h = hashlib.sha256()
    for f in files:
        h.update(os.path.relpath(f, base).encode())
        if stat:
            st = os.stat(f)
            h.update(f":{st.st_size}:{st.st_mtime_ns}".encode())
        h.update(b"\n")
    return h.hexdigest()[:16]


# ===== decoding =====


def image_mode(path: str) -> str:
    """"gray" or "rgb": the native colour of the image file."""
    from PIL import Image

    with Image.open(path) as im:
        return "gray" if im.mode in GRAY_MODES else "rgb"


def decode_file(path: str, mode: str) -> torch.Tensor:
    """uint8 [C, H, W] of one image file, C = 1 for mode "gray", 3 for "rgb" (PIL, as ImageFolder)."""
    from PIL import Image

    with Image.open(path) as im:
        return TF.pil_to_tensor(im.convert("L" if mode == "gray" else "RGB"))


def decode_files_cached(files: list[str], base: Path, name: str) -> torch.Tensor:
    """uint8 [N, C, H, W] of ``files`` (one shared size and colour mode), decoded once and cached
    atomically under ``data_root()/cache/<name>-<fingerprint>.pt``."""
    if not files:
        raise FileNotFoundError(f"{name}: no image files found under {base}")
    key = files_fingerprint(files, base, stat=True)
    path = paths.data_root() / "cache" / f"{name}-{key}.pt"
    if path.is_file():
        try:
            return load_torch(path, weights_only=True)["images"]
        except CorruptArtifactError:
            pass  # a damaged cache is decoded again and replaced
    mode = image_mode(files[0])
    first = decode_file(files[0], mode)
    images = torch.empty((len(files), *first.shape), dtype=torch.uint8)
    for i, f in enumerate(tqdm(files, desc=f"decoding {name}", leave=False, mininterval=2.0)):
        img = decode_file(f, mode)
        if img.shape != first.shape:
            raise ValueError(
                f"{name}: {f} is {tuple(img.shape[1:])} but {files[0]} is {tuple(first.shape[1:])}; "
                "an in-memory folder copy needs one image size"
            )
        images[i] = img
    atomic_save_torch({"images": images, "files": [os.path.relpath(f, base) for f in files]}, path)
    return images


def load_folder_copy(folder: Path, split: str, *, name: str, val_per_class: int) -> ImageSet:
    """One split of a local image-folder copy ``<folder>/{train,test}/<class>/*`` as an in-memory ImageSet."""
    folder = Path(folder)
    part = "test" if split == "test" else "train"
    what = f"image-folder copy of {name}"
    if not (folder / "train").is_dir() or not (folder / "test").is_dir():
        raise FileNotFoundError(f"{what}: {folder} lacks train/ or test/; expected {FOLDER_COPY_LAYOUT}")
    classes, samples = scan_class_folders(folder / part, what=what, layout=FOLDER_COPY_LAYOUT)
    files = [s[0] for s in samples]
    labels = np.array([s[1] for s in samples], dtype=np.int64)
    images = decode_files_cached(files, folder, f"{name}-{part}")
    if part == "train":
        idx = split_train_val(labels, split, val_per_class, classes, what)
        images, labels = images[torch.from_numpy(idx)], labels[idx]
    return ImageSet(images, labels, classes, name)


# ===== lazy folder-backed sets =====


class FolderImageSet(ImageSet):
    """An ImageSet whose images stay on disk: ``samples`` = [(path, label)], decoded in ``ds[i]``.

    ``decode(i)``: the file converted to ``channels`` (None = the files' own), full size;
    ``load(i)``: the evaluation view: with an int ``image_size`` S, resized so its shorter
    side is S * ``eval_resize_ratio`` then centre-cropped to S x S (ImageNet's 256 / 224);
    a (height, width) pair resizes exactly. Stream it with a DataLoader (``data.loading``):
    ``.images`` refuses to decode more than ``OOD_DECODE_LIMIT`` images at once.
    """

    in_memory = False

    def __init__(self, samples, classes, name, *, base: Path, channels=None, image_size=None,
                 eval_resize_ratio: float = 1.0):
        check_channels(channels)
        target_hw((1, 1), image_size)
        if not eval_resize_ratio >= 1.0:
            raise ValueError(f"eval_resize_ratio must be >= 1 (resize, then centre-crop), got {eval_resize_ratio!r}")
        self.samples = [(str(p), int(t)) for p, t in samples]
        self.base = Path(base)
        self.channels = channels
        self.image_size = image_size
        self.eval_resize_ratio = float(eval_resize_ratio)
        self._init_labels(torch.tensor([t for _, t in self.samples], dtype=torch.int64), classes, name, None)

    def decode(self, index: int) -> torch.Tensor:
        """uint8 [C, H, W] of file ``index`` at its own size, in ``channels``."""
        path = self.samples[index][0]
        return decode_file(path, "gray" if self.channels == 1 else "rgb" if self.channels == 3 else image_mode(path))

    def load(self, index: int) -> torch.Tensor:
        """uint8 [C, H, W] of image ``index``: the evaluation view (see the class docstring)."""
        img = self.decode(index)
        if isinstance(self.image_size, (int, np.integer)):
            size = int(self.image_size)
            img = TF.center_crop(TF.resize(img, round(size * self.eval_resize_ratio), antialias=True), size)
        elif self.image_size is not None:
            img = adapt_images(img[None], image_size=tuple(self.image_size))[0]
        return img

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.load(index).float().div_(255.0), self.samples[index][1]

    @property
    def images(self) -> torch.Tensor:
        """uint8 [N, C, H, W]: every image decoded; refused above ``OOD_DECODE_LIMIT`` images."""
        limit = decode_limit()
        if len(self) > limit:
            raise MemoryError(
                f"{self.name}: refusing to decode all {len(self):,} images of this on-disk set into memory "
                f"(limit {limit:,}, {DECODE_LIMIT_ENV}); stream it instead: ood_helpers.core.data.loading.eval_loader "
                "for evaluation views, embed.encode_dataset for embeddings, train.fit with a step_loader for training"
            )
        loaded = [self.load(i) for i in tqdm(range(len(self)), desc=f"decoding {self.name}", leave=False)]
        shapes = {tuple(x.shape) for x in loaded}
        if len(shapes) > 1:
            raise ValueError(f"{self.name}: images differ in size {sorted(shapes)[:3]}; pass image_size to stack them")
        return torch.stack(loaded) if loaded else torch.empty((0, 3, 1, 1), dtype=torch.uint8)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of the first image (others may differ when image_size is None)."""
        return tuple(self.load(0).shape)

    def fingerprint(self) -> str:
        """16 hex digits of sha256 over relative paths, labels, class names and the conversion."""
        if self._fingerprint is None:
            view = (self.name, self.classes, self.channels, self.image_size, self.eval_resize_ratio)
            h = hashlib.sha256(repr(view).encode())
            h.update(files_fingerprint([p for p, _ in self.samples], self.base, stat=False).encode())
            h.update(self.targets.numpy().tobytes())
            self._fingerprint = h.hexdigest()[:16]
        return self._fingerprint

    def _like(self, samples, classes) -> "FolderImageSet":
        return FolderImageSet(samples, classes, self.name, base=self.base, channels=self.channels,
                              image_size=self.image_size, eval_resize_ratio=self.eval_resize_ratio)

    def subset(self, indices) -> "FolderImageSet":
        return self._like([self.samples[i] for i in self._check_indices(indices).tolist()], self.classes)

    def relabeled(self, targets, classes) -> "FolderImageSet":
        return self._like([(p, int(t)) for (p, _), t in zip(self.samples, targets)], classes)
