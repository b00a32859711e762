"""Notebook 07's data: MNIST-{a,b} splits hold exactly the held-out digits as OOD, the typeset stand-ins are
white-on-black in [0, 1] with no empty renders, the noise sets follow their stated definitions, user folders load."""


import numpy as np
import pytest
import torch

from ood_helpers.embedding_ood import datasets as D
from ood_helpers.embedding_ood import typeset


def test_heldout_split_holds_exactly_the_pair():
    x, y = D.digit_split("digits", "train")
    xk, yk, xo, do = D.heldout(x, y, (2, 3))
    assert sorted(set(do.tolist())) == [2, 3] and len(xo) == int(np.isin(y, [2, 3]).sum())
    assert len(xk) + len(xo) == len(x) and sorted(set(yk.tolist())) == list(range(8))
    kept = y[~np.isin(y, [2, 3])]
    assert (np.array([0, 1, 4, 5, 6, 7, 8, 9])[yk] == kept).all()  # renumbered in digit order


@pytest.mark.parametrize("kind", ["glyphs", "letters"])
def test_typeset_sets_are_white_on_black_and_never_empty(kind):
    base, names = typeset.base_images(kind)
    assert len(base) >= 150 and len(names) == len(base)
    assert ((base > 0.3).reshape(len(base), -1).sum(1) >= typeset.MIN_INK).all()
    assert base.min() >= 0 and base.max() <= 1
    border = np.concatenate([base[:, :2].ravel(), base[:, -2:].ravel(), base[:, :, :2].ravel(), base[:, :, -2:].ravel()])
    assert border.max() == 0  # glyph box fitted to 20x20 inside 28x28, black around it
    x = typeset.jittered(kind, len(base) + 20, seed=0)
    assert x.shape == (len(base) + 20, 1, 28, 28) and 0 <= x.min() and x.max() <= 1
    assert torch.equal(x, typeset.jittered(kind, len(base) + 20, seed=0))


def test_noise_definitions():
    g = D.hg_gaussian(500, (1, 28, 28), seed=0)
    assert g.min() < -2 and g.max() > 2 and abs(float(g.mean())) < 0.01 and abs(float(g.std()) - 1) < 0.01
    u = D.hg_uniform(500, (1, 28, 28), seed=0)
    assert 0 <= u.min() and u.max() < 1 and abs(float(u.mean()) - 0.5) < 0.01
    c = D.clipped_gaussian(100, (1, 28, 28), seed=0)
    assert 0 <= c.min() and c.max() <= 1 and float((c == 0).float().mean()) > 0.2  # clipping piles mass at 0 and 1


def test_folder_images_and_unavailable(tmp_path, monkeypatch):
    from PIL import Image

    monkeypatch.delenv("OOD_SUN_DIR", raising=False)
    missing = D.folder_images("OOD_SUN_DIR", D.SUN, channels=3, size=32, n=5)
    assert isinstance(missing, D.Unavailable) and "OOD_SUN_DIR" in missing.reason
    (tmp_path / "a").mkdir()
    for i in range(3):
        Image.fromarray(np.full((40, 50, 3), 60 * i, np.uint8)).save(tmp_path / "a" / f"{i}.png")
    monkeypatch.setenv("OOD_SUN_DIR", str(tmp_path))
    x = D.folder_images("OOD_SUN_DIR", D.SUN, channels=3, size=32, n=5)
    assert x.shape == (3, 3, 32, 32) and float(x[2].mean()) == pytest.approx(120 / 255, abs=1e-3)
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("OOD_SUN_DIR", str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError, match="holds no image files"):
        D.folder_images("OOD_SUN_DIR", D.SUN, channels=3, size=32, n=5)


def test_offline_sets_name_their_stand_ins(monkeypatch, tmp_path):
    monkeypatch.setenv("OOD_DATA_DIR", str(tmp_path))  # no real copies anywhere
    for var in ("OOD_CIFAR10_DIR", "OOD_OMNIGLOT_DIR", "OOD_NOTMNIST_DIR"):
        monkeypatch.delenv(var, raising=False)
    sets = D.mnist_ood_sets(50, seed=0, offline=True, include_digits=False)
    for real in (D.OMNIGLOT, D.NOTMNIST, D.CIFAR_GREY):
        assert isinstance(sets[real], D.Unavailable)
    assert typeset.GLYPHS_NAME in sets and "stand-in" in typeset.GLYPHS_NAME and "stand-in" in typeset.LETTERS_NAME
    arrays = {k: v for k, v in sets.items() if not isinstance(v, D.Unavailable)}
    assert all(v.shape == (50, 1, 28, 28) for v in arrays.values())


def test_cifar_rows_run_on_a_tiny_local_folder_copy(tmp_path, monkeypatch):
    """The cifar/paper path (conv AE, CIFAR-10 from OOD_CIFAR10_DIR, SUN from OOD_SUN_DIR, held-out classes)
    end to end on 10 classes x 4 random images: plumbing only."""
    from PIL import Image

    from ood_helpers.embedding_ood import experiments as X
    from ood_helpers.embedding_ood.settings import EMBEDDING_OOD
    from ood_helpers.core.profile import get_profile

    rng = np.random.default_rng(0)
    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    for part in ("train", "test"):
        for c in classes:
            (tmp_path / "cifar" / part / c).mkdir(parents=True)
            for i in range(4):
                Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(tmp_path / "cifar" / part / c / f"{i}.png")
    (tmp_path / "sun").mkdir()
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (64, 48, 3), dtype=np.uint8)).save(tmp_path / "sun" / f"{i}.jpg")
    monkeypatch.setenv("OOD_CIFAR10_DIR", str(tmp_path / "cifar"))
    monkeypatch.setenv("OOD_SUN_DIR", str(tmp_path / "sun"))
    from dataclasses import replace

    s = replace(EMBEDDING_OOD["cifar"], trials=1, cifar_epochs=1, cifar_width=4, cifar_embed_dim=8, batch_size=8,
                kmeans_n_init=1, val_per_class=1)
    records, missing = X.cifar_records(s, get_profile("smoke"), offline=True)
    assert not missing
    sets = {r["ood_set"] for r in records}
    assert sets == {X.CIFAR_GAUSSIAN, D.SUN, "CIFAR-10 classes (3, 5) held out (stand-in for SUN, not SUN)"}
    assert all(0 <= r["value"] <= 100 for r in records)
    monkeypatch.setenv("OOD_CIFAR10_DIR", str(tmp_path / "nothing"))
    monkeypatch.setenv("OOD_DATA_DIR", str(tmp_path / "nodata"))
    records, missing = X.cifar_records(s, get_profile("smoke"), offline=True)
    assert records == [] and "OOD_CIFAR10_DIR" in missing["CIFAR-10"]


def test_cifar10bw_from_a_real_jpeg_folder_copy(tmp_path, monkeypatch):
    """CIFAR-10bw through OOD_CIFAR10_DIR on real JPEGs (20 a class): 28x28, one channel, in [0, 1], every class
    present in the spread subset, and grey = ITU-R 601 luminance of the file (mean checked against PIL's RGB)."""
    from PIL import Image
    from tests.support import extract_cifar

    root = extract_cifar(tmp_path, {"train": 20, "test": 20})
    monkeypatch.setenv("OOD_CIFAR10_DIR", str(root))
    monkeypatch.setattr(D, "CIFAR_VAL_PER_CLASS", 2)
    x = D.cifar_grey(50)
    assert not isinstance(x, D.Unavailable), x
    assert x.shape == (50, 1, 28, 28) and 0 <= x.min() and x.max() <= 1
    first = sorted((root / "test" / "airplane").glob("*.jpg"))[0]
    rgb = np.asarray(Image.open(first).convert("RGB"), np.float64) / 255
    grey = (rgb @ np.array([0.299, 0.587, 0.114])).mean()
    assert float(x[0].mean()) == pytest.approx(grey, abs=0.01)
    all_test = D.cifar_grey(200)  # all 200 test images: ten classes of 20
    assert len(all_test) == 200
    xc, yc = D.cifar_colour("test")
    assert sorted(set(yc.tolist())) == list(range(10)) and xc.shape[1:] == (3, 32, 32)
