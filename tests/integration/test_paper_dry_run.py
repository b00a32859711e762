"""A dry run of the paper profile's path: notebooks 02 and 03 on a tiny ImageNet-layout folder.

The folder has the real on-disk format (``train/<wnid>/*.JPEG``, ``val/<wnid>/*.JPEG``, images
of assorted sizes, one grayscale), the profile is the paper's with tiny overrides passed the way
``python -m ood_helpers.run --set`` passes them, and ``OOD_DECODE_LIMIT=0`` makes any attempt to
decode a whole split into memory fail: everything must stream through DataLoaders, with a
worker process, micro-batched classifier and homogeneity steps and the ImageNet recipe.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ood_helpers import run
from ood_helpers.core.overrides import encode_overrides
from ood_helpers.core.paths import NOTEBOOKS

WNIDS = [f"n0{i:07d}" for i in range(8)]
TINY = {
    "device": "cpu", "class_split": (4, 2, 2), "per_class": (0, 3, 3), "image_size": 32, "resnet_width": 4,
    "batch_size": 8, "micro_batch_images": 4, "micro_batch_sets": 2, "num_workers": 1,
    "extra": {
        "homogeneity_eval_sets": 8,
        # paper 000's settings, as --set homogeneity.FIELD=VALUE passes them
        "homogeneity": {"eval_ranges": [1, 2], "transformer_layers": 1, "transformer_heads": 2,
                        "transformer_head_dim": 4, "set_size": 3, "set_batch_size": 4, "pretrain_steps": 2,
                        "homogeneity_steps": 2, "eval_every": 1},
    },
}


def write_imagenet(root, rng, train_per_class=8, val_per_class=2):
    for w in WNIDS:
        for split, n in (("train", train_per_class), ("val", val_per_class)):
            folder = root / split / w
            folder.mkdir(parents=True)
            for i in range(n):
                h, wd = (int(v) for v in rng.integers(36, 64, size=2))
                pixels = rng.integers(0, 256, size=(h, wd, 3), dtype=np.uint8)
                image = Image.fromarray(pixels)
                if w == WNIDS[0] and i == 0:
                    image = image.convert("L")  # ImageNet holds a few grayscale JPEGs
                image.save(folder / f"{w}_{i}.JPEG", format="JPEG", quality=90)


@pytest.mark.notebook
def test_notebooks_02_and_03_run_the_paper_profile_on_an_imagenet_folder(tmp_path, monkeypatch, ood_dirs):
    write_imagenet(tmp_path / "imagenet", np.random.default_rng(0))
    monkeypatch.setenv("OOD_IMAGENET_DIR", str(tmp_path / "imagenet"))
    monkeypatch.setenv("OOD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("OOD_DECODE_LIMIT", "0")
    params = {"profile": "paper", "overrides": encode_overrides(TINY)}
    for name in ("02_pretrain_classifiers", "03_class_homogeneity"):
        out = ood_dirs["runs"] / "paper" / f"{name}.ipynb"
        try:
            run.run_notebook(NOTEBOOKS / f"{name}.ipynb", out, params, timeout=300, progress=False)
        except run.NotebookFailed as err:
            pytest.fail(str(err), pytrace=False)

    figures = ood_dirs["figures"] / "paper"
    sidecar = json.loads((figures / "table_pretrain_accuracy.json").read_text())
    assert sidecar["profile"] == "paper" and sidecar["config"]["profile"]["micro_batch_images"] == 4
    table = pd.read_csv(figures / "table_pretrain_accuracy.csv").set_index(["network", "metric"])
    top1 = table.loc[("ResNet-18 (trained on all classes)", "top-1")]
    # 2 test images a class: 8 in classes 1-4, 4 in 5-6, 4 in 7-8; the whole range is their weighted mean
    parts = [float(top1[c]) for c in ("1-4", "5-6", "7-8")]
    assert float(top1["1-8"]) == pytest.approx((8 * parts[0] + 4 * parts[1] + 4 * parts[2]) / 16, abs=0.01)
    assert (figures / "fig2_overfitting_curves.png").is_file()
    histories = list((ood_dirs["artifacts"] / "paper" / "homogeneity").glob("*.history.jsonl"))
    assert len(histories) == 2
    for path in histories:
        assert [json.loads(line)["step"] for line in path.read_text().splitlines()] == [0, 1, 2]
