"""The authors' released CIFAR-10 networks through our pipeline (``cac.released``): the key map onto our OSRCI
network, the checks on bad input, and, on the workplace's shared copies (../shared/data: the release and the CIFAR-10
JPEGs; skipped when absent), the CLI's row of trial 0 on a slice against values computed independently: a plain
functional forward of the official state dict, PIL-decoded test images, the anchors by hand, accuracy by a loop,
AUROC by scikit-learn."""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from sklearn.metrics import roc_auc_score

from ood_helpers.cac import released as R
from ood_helpers.cac import released_view as RV
from ood_helpers.cac.network import OSRCIEncoder
from ood_helpers.cac.splits import OLD
from tests.support import TARBALL, extract_cifar

WEIGHTS = TARBALL.parent / "cac-openset-cifar10-weights.tar.gz"
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def official_state(net: OSRCIEncoder, cac: bool = True) -> dict:
    """``net``'s tensors under the official keys, with the Sequential copies (and the CAC files' extras)."""
    ours = net.state_dict()
    state = {theirs: ours[mine].clone() for theirs, mine in R.official_key_map().items()}
    state.update({alias: state[named].clone() for alias, named in R.alias_map().items()})
    if cac:
        state.update(means=10 * torch.eye(6, dtype=torch.float64), covars=torch.zeros(6, 6, 6, dtype=torch.float64),
                     invcovars=torch.zeros(6, 6, 6, dtype=torch.float64))
    return state


def official_forward(state: dict, x: torch.Tensor) -> torch.Tensor:
    """The official network written out with torch.nn.functional on its own keys (eval mode)."""
    for k in range(1, 10):
        x = F.conv2d(x, state[f"encoder.conv{k}.weight"], stride=2 if k % 3 == 0 else 1, padding=1)
        bn = [state[f"encoder.bn{k}.{f}"] for f in ("running_mean", "running_var", "weight", "bias")]
        x = F.leaky_relu(F.batch_norm(x, *bn, training=False, eps=1e-5), 0.2)
    return F.linear(x.flatten(1), state["classify.weight"], state["classify.bias"])


def test_key_map_covers_our_network_one_to_one():
    ours = OSRCIEncoder(6).state_dict()
    mapped = R.official_key_map()
    assert sorted(mapped.values()) == sorted(ours) and len(set(mapped.values())) == len(mapped)
    assert mapped["encoder.conv4.weight"] == "features.10.weight" and mapped["encoder.bn9.running_var"] == "features.27.running_var"
    assert all(ours[v].shape == ours[mapped[k]].shape for k, v in mapped.items())
    assert R.alias_map()["encoder.encoder2.4.weight"] == "encoder.bn5.weight"


def test_a_state_dict_in_the_official_layout_loads_strictly_and_computes_the_same(tmp_path):
    torch.manual_seed(0)
    net = OSRCIEncoder(6).eval()
    for m in net.modules():  # non-trivial BN statistics, so a swapped BN would show
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1), m.running_var.uniform_(0.5, 1.5), m.weight.data.uniform_(0.5, 1.5)
    state = official_state(net)
    torch.save({"net": state, "acc": 91.5, "epoch": 7}, tmp_path / "w.pth")
    loaded, info = R.load_released(tmp_path / "w.pth")
    assert info == {"val_accuracy": pytest.approx(0.915), "epoch": 7}
    x = torch.randint(0, 256, (5, 3, 32, 32), dtype=torch.uint8)
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    z = R.released_logits(loaded, x, mean, std, batch=2)
    ref = official_forward(state, (x.float() / 255 - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1))
    torch.testing.assert_close(z, ref, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(R.released_logits(loaded, x, mean, std, flip=True), R.released_logits(loaded, x.flip(-1), mean, std))


def test_a_mismatch_names_the_keys():
    state = official_state(OSRCIEncoder(6))
    del state["encoder.bn3.running_mean"]
    state["encoder.conv10.weight"] = torch.zeros(1)
    with pytest.raises(R.ReleasedWeightsError, match=r"missing keys \[encoder.bn3.running_mean\].*unexpected keys \[encoder.conv10.weight\]"):
        R.map_state_dict(state, "w.pth")
    state = official_state(OSRCIEncoder(6))
    state["encoder.encoder1.0.weight"] += 1
    with pytest.raises(R.ReleasedWeightsError, match=r"encoder.encoder1.0.weight\] differ"):
        R.map_state_dict(state)


def test_shapes_that_do_not_fit_and_foreign_files_are_refused(tmp_path):
    state = official_state(OSRCIEncoder(6))
    state["classify.weight"] = torch.zeros(6, 100)
    torch.save({"net": state}, tmp_path / "w.pth")
    with pytest.raises(R.ReleasedWeightsError, match="(?s)does not fit OSRCIEncoder.*size mismatch for fc.weight"):
        R.load_released(tmp_path / "w.pth")
    torch.save(state, tmp_path / "bare.pth")
    with pytest.raises(R.ReleasedWeightsError, match="expected a dict with key 'net'"):
        R.load_released(tmp_path / "bare.pth")


def test_bad_input_is_refused_before_any_image_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr(R, "released_data", lambda *a, **k: pytest.fail("images read despite bad input"))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        R.released_table(tmp_path / "nope")
    (tmp_path / "CIFAR10_0_closedSetClassifier.pth").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=r"lacks config.json, CIFAR10_0_CACclassifierAnchorLoss.pth, CIFAR10_1_"):
        R.released_table(tmp_path)
    for bad in ("0,5", "1,1", "a", "", "-1"):
        with pytest.raises(ValueError, match="trials must be"):
            R.released_table(tmp_path, bad)
    with pytest.raises(ValueError, match="networks must be"):
        R.released_table(tmp_path, "0", networks=("cac", "softmax"))
    (tmp_path / "CIFAR10_0_CACclassifierAnchorLoss.pth").write_bytes(b"")
    (tmp_path / "config.json").write_text('{"CIFAR10": {"data_mean": [[0.5, 0.5, 0.5]], "data_std": [[0.2, 0.2, 0.2]]}}')
    with pytest.raises(ValueError, match="limit must be a positive int"):
        R.released_table(tmp_path, "0", limit=0)
    (tmp_path / "CIFAR10_1_CACclassifierAnchorLoss.pth").write_bytes(b"")
    (tmp_path / "CIFAR10_1_closedSetClassifier.pth").write_bytes(b"")
    with pytest.raises(R.ReleasedWeightsError, match="no CIFAR10 data_mean / data_std for trial 1"):
        R.released_table(tmp_path, "0,1")
    assert R.main([str(tmp_path / "nope")]) == 2
    with pytest.raises(R.ReleasedWeightsError, match="not a readable weights-only checkpoint"):
        R.load_released(tmp_path / "CIFAR10_0_CACclassifierAnchorLoss.pth")


def test_the_notebook_says_how_to_get_the_rows_when_unset(monkeypatch):
    monkeypatch.delenv(RV.ENV, raising=False)
    shown = RV.notebook_view("smoke")
    assert len(shown) == 1 and RV.ENV in shown[0] and shown[0]._repr_markdown_().startswith("**Authors' released")


# --- on the shared copies ------------------------------------------------------------------------------------------

LIMIT = 40  # images a class extracted from each split (training images before the 80/20 cut)
USED = 30  # images a class the row scores (--limit)


@pytest.fixture(scope="module")
def shared_copies(tmp_path_factory) -> tuple[Path, Path]:
    """(release folder holding config.json and trial 0's two checkpoints, CIFAR-10 slice), extracted once."""
    if not WEIGHTS.is_file():
        pytest.skip(f"{WEIGHTS} (the authors' released CIFAR-10 networks, a developer copy) is absent on this machine")
    tmp = tmp_path_factory.mktemp("released")
    cifar = extract_cifar(tmp, {"train": LIMIT, "test": LIMIT})
    wanted = ("config.json", "CIFAR10_0_CACclassifierAnchorLoss.pth", "CIFAR10_0_closedSetClassifier.pth")
    with tarfile.open(WEIGHTS, "r:gz") as tar:
        members = [m for m in tar if m.isfile() and Path(m.name).name in wanted]
        tar.extractall(tmp / "w", members=members, filter="data")
    assert len(members) == 3, f"{WEIGHTS} lacks some of {wanted}"
    return tmp / "w" / Path(members[0].name).parent, cifar


@pytest.fixture
def release(shared_copies, monkeypatch, data_dir):
    monkeypatch.setenv("OOD_CIFAR10_DIR", str(shared_copies[1]))
    return shared_copies


def _test_images(cifar: Path, classes) -> tuple[torch.Tensor, np.ndarray]:
    """uint8 test images of ``classes`` read by PIL in file-name order, with their CIFAR-10 ids."""
    files = [(f, c) for c in classes for f in sorted((cifar / "test" / CLASSES[c]).glob("*.jpg"))[:USED]]
    x = torch.stack([torch.from_numpy(np.array(Image.open(f).convert("RGB"))).permute(2, 0, 1) for f, _ in files])
    return x, np.array([c for _, c in files])


def test_released_trial_0_on_a_slice_matches_an_independent_computation(release, tmp_path, capsys):
    folder, cifar = release
    out = tmp_path / "rows.csv"
    assert R.main([str(folder), "--trials", "0", "--limit", str(USED), "--out", str(out)]) == 0
    rows = pd.read_csv(out).set_index("network")
    assert list(pd.read_csv(out).columns[:6]) == ["trial", "network", "accuracy", "auroc", "aupr", "fpr95"]
    known = OLD["cifar10"][0]
    unknown = tuple(c for c in range(10) if c not in known)
    x_known, y_known = _test_images(cifar, known)
    x_unknown, _ = _test_images(cifar, unknown)
    label = {c: k for k, c in enumerate(sorted(known))}
    mean, std = R.official_stats(folder, 0)
    norm = lambda x: (x.float() / 255 - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    data = R.released_data(0, USED)  # the training part of the package's 80/20 cut, for the anchors
    assert rows.loc["cac", "anchor_images"] == 2 * len(data.y_train) and rows.loc["cac", "known"] == len(y_known)

    ckpt = torch.load(folder / "CIFAR10_0_CACclassifierAnchorLoss.pth", map_location="cpu", weights_only=True)
    state = ckpt["net"]
    with torch.no_grad():
        z_train = torch.cat([official_forward(state, norm(data.x_train)), official_forward(state, norm(data.x_train.flip(-1)))])
        z_known, z_unknown = official_forward(state, norm(x_known)), official_forward(state, norm(x_unknown))
    y_train = data.y_train.repeat(2).numpy()
    sums, counts = np.zeros((6, 6)), np.zeros(6)
    for z, y in zip(z_train.double().numpy(), y_train):  # the anchors by hand: correctly classified images only
        if z.argmax() == y:
            sums[y] += z
            counts[y] += 1
    anchors = sums / counts[:, None]
    ours = R.score_network(R.load_released(folder / "CIFAR10_0_CACclassifierAnchorLoss.pth")[0], "cac", data, mean, std)
    np.testing.assert_allclose(ours["anchors"].numpy(), anchors, rtol=1e-4, atol=1e-4)

    def rejection(z):
        d = np.linalg.norm(z.double().numpy()[:, None, :] - anchors[None], axis=2)
        return (1 - np.exp(-d) / np.exp(-d).sum(1, keepdims=True)) * d

    s_known, s_unknown = rejection(z_known), rejection(z_unknown)
    correct = 0
    for s, c in zip(s_known, y_known):
        correct += int(np.argmin(s) == label[c])
    assert rows.loc["cac", "accuracy"] == pytest.approx(correct / len(y_known), abs=1e-6)
    auroc = roc_auc_score(np.r_[np.zeros(len(s_known)), np.ones(len(s_unknown))], np.r_[s_known.min(1), s_unknown.min(1)])
    assert rows.loc["cac", "auroc"] == pytest.approx(auroc, abs=1e-5)
    assert rows.loc["cac", "val_accuracy"] == pytest.approx(ckpt["acc"] / 100, abs=1e-6)

    ce = torch.load(folder / "CIFAR10_0_closedSetClassifier.pth", map_location="cpu", weights_only=True)["net"]
    with torch.no_grad():
        p_known, p_unknown = (torch.softmax(official_forward(ce, norm(x)).double(), 1).numpy() for x in (x_known, x_unknown))
    correct = sum(int(np.argmax(p) == label[c]) for p, c in zip(p_known, y_known))
    assert rows.loc["ce", "accuracy"] == pytest.approx(correct / len(y_known), abs=1e-6)
    auroc = roc_auc_score(np.r_[np.zeros(len(p_known)), np.ones(len(p_unknown))], -np.r_[p_known.max(1), p_unknown.max(1)])
    assert rows.loc["ce", "auroc"] == pytest.approx(auroc, abs=1e-5)
    assert "cac" in capsys.readouterr().out


def test_limit_keeps_the_first_images_of_each_class(release):
    full, few = R.released_data(0), R.released_data(0, limit=3)
    assert np.bincount(few.y_train.numpy()).tolist() == [3] * 6 and len(few.y_test) == 18 and len(few.y_unknown) == 12
    torch.testing.assert_close(few.x_test[:3], full.x_test[full.y_test == 0][:3])
    with pytest.raises(ValueError, match="limit must be a positive int"):
        R.released_data(0, limit=0)


def test_the_notebook_shows_the_rows_beside_ours_and_the_paper_and_caches_them(tmp_path, monkeypatch, ood_dirs):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "CIFAR10_0_CACclassifierAnchorLoss.pth").write_bytes(b"x")
    rows = pd.DataFrame([{"trial": t, "network": n, "accuracy": 0.9 + t / 100, "auroc": 0.7, "aupr": 0.6, "fpr95": 0.8,
                          "val_accuracy": 0.93, "epoch": 190, "known": 6000, "unknown": 4000, "anchor_images": 0}
                         for t in (0, 1) for n in ("cac", "ce")], columns=list(R.COLUMNS))
    calls = []
    monkeypatch.setattr(RV, "released_table", lambda *a, **k: calls.append(a) or rows)
    monkeypatch.setenv(RV.ENV, str(tmp_path))
    ours = [{"dataset_key": "cifar10", "loss": "cac", "trial": t, "accuracy": 0.8, "auroc": 0.75, "aupr_out": 0.5,
             "fpr95": 0.9} for t in (0, 1)] + [{"dataset_key": "digits", "loss": "ce", "trial": 0, "accuracy": 1.0,
                                                "auroc": 1.0, "aupr_out": 1.0, "fpr95": 0.0}]
    note, table, shown = RV.notebook_view("smoke", ours)
    assert R.LABEL in note and shown.equals(rows)
    assert list(table.index) == [f"CAC: {R.LABEL}", f"CE + MSP: {R.LABEL}", "CAC (ours)",
                                 "CAC (paper, Table 2-3)", "Cross-Entropy (paper, Table 3)"]
    assert table.loc[f"CAC: {R.LABEL}", "accuracy"] == "0.905 ± 0.007" and table.loc["CAC (ours)", "trials"] == 2
    assert table.loc["CAC (paper, Table 2-3)", "auroc"] == "0.803"
    assert (ood_dirs["figures"] / "smoke" / "cac_released.csv").is_file()
    RV.notebook_view("smoke", ours)
    assert len(calls) == 1  # the second view reads the cache
