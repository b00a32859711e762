"""Offline stand-ins for Omniglot and notMNIST (spec §7.2), rendered with PIL from the fonts matplotlib
ships. They are typeset, not handwritten: ALWAYS name them as stand-ins (``GLYPHS_NAME``, ``LETTERS_NAME``).
White strokes on black in [0, 1], glyph box fitted to 20x20 and centred in 28x28 like MNIST, with a small
seeded affine and stroke-width jitter to reach the requested count."""

from __future__ import annotations

import os
from functools import lru_cache

import numpy as np
import torch

GLYPHS_NAME = "Omniglot-like: typeset glyphs of other alphabets (stand-in, not handwritten Omniglot)"
LETTERS_NAME = "notMNIST-like: font-rendered letters A-J (stand-in, not notMNIST)"
GLYPH_FONTS = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf")
SCRIPTS = {  # code point ranges (inclusive) of the rendered alphabets
    "Armenian": (0x0531, 0x0556), "Georgian": (0x10D0, 0x10FA), "Hebrew": (0x05D0, 0x05EA),
    "Tifinagh": (0x2D30, 0x2D67), "NKo": (0x07CA, 0x07EA),
}
# glyphs that look like a digit (or are dot-like), dropped like the baseline dropped digit-like alphabets
DIGIT_LIKE = {0x0545, 0x0555, 0x054C, 0x05D5, 0x05DF, 0x05D9, 0x05E1, 0x2D54, 0x2D40, 0x2D4F, 0x2D3D, 0x07CA,
              0x07CB, 0x07CC, 0x07C0, 0x10DD, 0x10E7}
LETTERS = "ABCDEFGHIJ"
MIN_INK = 12  # pixels lit (of 784) below which a render counts as empty / dot-like


def font_dir() -> str:
    import matplotlib

    return os.path.join(matplotlib.get_data_path(), "fonts", "ttf")


@lru_cache(maxsize=None)
def _charmap(path: str) -> frozenset:
    from matplotlib.ft2font import FT2Font

    return frozenset(FT2Font(path).get_charmap())


@lru_cache(maxsize=None)
def _font(path: str):
    from PIL import ImageFont

    return ImageFont.truetype(path, 64)


def _render(path: str, char: str) -> np.ndarray | None:
    """float32 [28, 28] in [0, 1]: ``char`` drawn white on black, its box fitted to 20x20 and centred."""
    from PIL import Image, ImageDraw

    font = _font(path)
    canvas = Image.new("L", (128, 128), 0)
    ImageDraw.Draw(canvas).text((24, 16), char, fill=255, font=font)
    box = canvas.getbbox()
    if box is None:
        return None
    glyph = canvas.crop(box)
    scale = 20.0 / max(glyph.size)
    w, h = max(1, round(glyph.size[0] * scale)), max(1, round(glyph.size[1] * scale))
    glyph = glyph.resize((w, h), Image.Resampling.LANCZOS)
    out = Image.new("L", (28, 28), 0)
    out.paste(glyph, ((28 - w) // 2, (28 - h) // 2))
    arr = np.asarray(out, dtype=np.float32) / 255.0
    return arr if (arr > 0.3).sum() >= MIN_INK else None


@lru_cache(maxsize=2)
def base_images(kind: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """(float32 [M, 28, 28], names) of every clean render of ``kind`` "glyphs" or "letters"."""
    folder = font_dir()
    images, names = [], []
    if kind == "glyphs":
        jobs = [(f, code) for f in GLYPH_FONTS for lo, hi in SCRIPTS.values() for code in range(lo, hi + 1)
                if code not in DIGIT_LIKE]
    elif kind == "letters":
        fonts = sorted(f for f in os.listdir(folder) if f.endswith(".ttf") and not f.startswith(("STIXSiz", "STIXNonUni",
                                                                                              "cmex", "cmsy", "cmmi", "LastResort")))
        jobs = [(f, ord(c)) for f in fonts for c in LETTERS]
    else:
        raise ValueError(f"kind must be 'glyphs' or 'letters', got {kind!r}")
    for font, code in jobs:
        path = os.path.join(folder, font)
        if code not in _charmap(path):  # a missing glyph would render as an empty box
            continue
        img = _render(path, chr(code))
        if img is not None:
            images.append(img)
            names.append(f"{font}:U+{code:04X}")
    return np.stack(images), tuple(names)


def jittered(kind: str, n: int, *, seed: int) -> torch.Tensor:
    """``n`` images [n, 1, 28, 28] in [0, 1]: base renders in turn, each after a seeded small rotation /
    scale / shift and, for half, a thicker stroke (3x3 max filter); the first pass of the base set is unjittered."""
    import torchvision.transforms.v2.functional as TF

    base = torch.from_numpy(base_images(kind)[0])[:, None]
    rng = np.random.default_rng([int(seed), 2])
    out = []
    for i in range(n):
        img = base[i % len(base)]
        if i >= len(base):
            img = TF.affine(img, angle=float(rng.uniform(-12, 12)), translate=[int(rng.integers(-2, 3)), int(rng.integers(-2, 3))],
                            scale=float(rng.uniform(0.85, 1.1)), shear=[0.0])
            if rng.random() < 0.5:
                img = torch.nn.functional.max_pool2d(img[None], 3, 1, 1)[0]
        out.append(img)
    return torch.stack(out).clamp(0, 1)
