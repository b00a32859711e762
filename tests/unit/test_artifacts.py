"""Figures and tables are byte-stable with a provenance sidecar; writes are atomic;
damaged or mismatched checkpoints are refused with a clear error; cache keys are stable."""

import json
import os

import matplotlib

matplotlib.use("agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch

from ood_helpers.core import artifacts, paths, tables
from ood_helpers.core.profile import get_profile
from ood_helpers.core.plots.style import use_style


def _figure():
    use_style()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(5, 2.5))
    ax1.plot([0, 1, 2], [0.1, 0.5, 0.4], label="val ± std")
    ax1.set_title("curves")
    ax1.legend()
    ax2.imshow(np.arange(64).reshape(8, 8))
    return fig


def _table():
    records = [{"method": m, "classes": c, "trial": t, "acc": 0.5 + 0.1 * t + 0.01 * c}
               for m in ("knn", "ours") for c in (2, 4) for t in range(3)]
    return tables.trials_table(records, "method", "classes", "acc", paper={"ours": {2: 97.5}}, scale=100)


def test_rerun_writes_byte_identical_files():
    profile = get_profile("smoke")
    fig = _figure()
    first = artifacts.save_figure(fig, "stable_fig", profile, config={"lr": 0.1}, seeds=[0, 1])
    first += artifacts.save_table(_table(), "stable_table", profile, config={"lr": 0.1}, seeds=[0, 1])
    before = {p.name: p.read_bytes() for p in first}
    plt.close(fig)
    fig = _figure()  # a fresh but equal figure, as a rerun of a notebook makes it
    second = artifacts.save_figure(fig, "stable_fig", profile, config={"lr": 0.1}, seeds=[0, 1])
    second += artifacts.save_table(_table(), "stable_table", profile, config={"lr": 0.1}, seeds=[0, 1])
    plt.close(fig)
    assert {p.suffix for p in second} >= {".png", ".pdf", ".csv", ".md", ".tex", ".json"}
    assert [p.name for p in first] == [p.name for p in second]
    for p in second:
        assert p.read_bytes() == before[p.name], f"{p.name} changed between two identical saves"
    assert all(p.parent == paths.figures_dir("smoke") for p in second)
    pdf = (paths.figures_dir("smoke") / "stable_fig.pdf").read_bytes()
    assert b"CreationDate" not in pdf and b"Producer" not in pdf
    assert b"Software" not in (paths.figures_dir("smoke") / "stable_fig.png").read_bytes()[:200]


def test_sidecar_names_profile_commit_config_seeds_and_versions():
    fig = _figure()
    written = artifacts.save_figure(fig, "sidecar_fig", "smoke", config={"k": 5}, seeds=(3, 4))
    plt.close(fig)
    side = json.loads(written[-1].read_text())
    assert side["profile"] == "smoke" and side["name"] == "sidecar_fig"
    assert side["config"] == {"k": 5} and side["seeds"] == [3, 4]
    git = artifacts.git_state()
    assert side["git"] == git and "commit" in git and "dirty" in git
    if git["commit"] is not None:
        assert len(git["commit"]) == 40
    assert torch.__version__.startswith(side["versions"]["torch"])
    assert {"python", "torchvision", "numpy", "scikit-learn", "ood_helpers"} <= set(side["versions"])
    assert side["torch_threads"] == torch.get_num_threads()
    import hashlib
    assert side["files"]["sidecar_fig.png"] == hashlib.sha256(written[0].read_bytes()).hexdigest()
    assert list(side) == sorted(side)  # keys sorted, so the text is stable


def test_table_files_hold_the_table():
    written = artifacts.save_table(_table(), "content_table", "smoke")
    by_suffix = {p.name.removeprefix("content_table"): p for p in written}
    csv = pd.read_csv(by_suffix[".csv"])
    assert list(csv.columns) == ["method", "2", "2 (paper)", "4", "4 (paper)"]
    assert csv.loc[csv.method == "ours", "2 (paper)"].item() == "97.50"
    summary = pd.read_csv(by_suffix["_summary.csv"])
    ours2 = summary[(summary.method == "ours") & (summary.classes == 2)].iloc[0]
    assert ours2["mean"] == pytest.approx(62.0) and ours2["std"] == pytest.approx(10.0) and ours2["paper"] == 97.5
    assert "| ours" in by_suffix[".md"].read_text()
    assert "\\toprule" in by_suffix[".tex"].read_text()


def test_bad_names_are_refused():
    fig = _figure()
    with pytest.raises(ValueError, match="must not carry an extension"):
        artifacts.save_figure(fig, "fig.png", "smoke")
    with pytest.raises(ValueError, match="plain file name"):
        artifacts.save_figure(fig, "../escape", "smoke")
    plt.close(fig)
    with pytest.raises(TypeError, match="pandas DataFrame"):
        artifacts.save_table([[1, 2]], "t", "smoke")
    with pytest.raises(ValueError, match="profile must be"):
        artifacts.cache_path("a/b", "models", "k")


def test_atomic_write_leaves_no_temp_file(tmp_path):
    target = tmp_path / "result.txt"
    artifacts.atomic_write_text(target, "first")
    artifacts.atomic_write_bytes(target, b"second")
    assert target.read_bytes() == b"second"
    assert [p.name for p in tmp_path.iterdir()] == ["result.txt"]
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's private 0600


def test_interrupted_write_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "ckpt.pt"
    artifacts.atomic_save_torch({"w": torch.ones(3)}, target)
    good = target.read_bytes()

    def crash(src, dst):
        raise KeyboardInterrupt("interrupted between write and rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        artifacts.atomic_save_torch({"w": torch.zeros(3)}, target)
    with pytest.raises(KeyboardInterrupt):
        artifacts.atomic_write_text(target, "half")
    assert target.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]  # temp files cleaned up
    monkeypatch.undo()
    assert torch.equal(artifacts.load_torch(target)["w"], torch.ones(3))


def test_truncated_checkpoint_gives_a_clear_error(tmp_path):
    path = tmp_path / "model.pt"
    artifacts.atomic_save_torch({"w": torch.randn(100, 100)}, path, config={"lr": 0.1})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(artifacts.CorruptArtifactError, match=r"model\.pt .*truncated or corrupt"):
        artifacts.load_torch(path)
    path.write_bytes(b"not a checkpoint at all")
    with pytest.raises(artifacts.CorruptArtifactError, match=str(path)):
        artifacts.load_torch(path)
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        artifacts.load_torch(tmp_path / "missing.pt")


def test_config_mismatch_gives_a_clear_error(tmp_path):
    path = tmp_path / "model.pt"
    config = {"lr": 0.1, "layers": (2, 2), "name": "resnet"}
    artifacts.atomic_save_torch({"w": torch.ones(2)}, path, config=config)
    loaded = artifacts.load_torch(path, expect_config={"lr": 0.1, "layers": [2, 2], "name": "resnet"})
    assert torch.equal(loaded["w"], torch.ones(2))  # tuples and lists compare equal after JSON
    with pytest.raises(artifacts.ConfigMismatchError, match=r"model\.pt was written for a different config \(lr: file has 0\.1, expected 0\.01\)"):
        artifacts.load_torch(path, expect_config={**config, "lr": 0.01})
    with pytest.raises(artifacts.ConfigMismatchError, match=r"extra: missing in file"):
        artifacts.load_torch(path, expect_config={**config, "extra": 1})
    artifacts.atomic_save_torch({"w": torch.ones(2)}, path)
    with pytest.raises(artifacts.ConfigMismatchError, match="stores no config"):
        artifacts.load_torch(path, expect_config=config)


def test_profile_dataclass_round_trips_as_config(tmp_path):
    profile = get_profile("smoke")
    path = tmp_path / "p.pt"
    artifacts.atomic_save_torch({}, path, config=profile)
    artifacts.load_torch(path, expect_config=profile)
    with pytest.raises(artifacts.ConfigMismatchError, match="trials: file has 2, expected 3"):
        artifacts.load_torch(path, expect_config=get_profile("smoke", trials=3))


def test_config_hash_is_stable_and_sensitive():
    base = ({"lr": 0.1, "steps": 10}, "fingerprint-abc")
    h = artifacts.config_hash(*base)
    assert h == artifacts.config_hash({"steps": 10, "lr": 0.1}, "fingerprint-abc")  # key order irrelevant
    assert len(h) == 16 and int(h, 16) >= 0
    assert artifacts.config_hash(get_profile("smoke")) == artifacts.config_hash(get_profile("smoke"))
    changed = [
        artifacts.config_hash({"lr": 0.2, "steps": 10}, "fingerprint-abc"),
        artifacts.config_hash({"lr": 0.1, "steps": 11}, "fingerprint-abc"),
        artifacts.config_hash({"lr": 0.1, "steps": 10}, "fingerprint-abd"),
        artifacts.config_hash({"lr": 0.1, "steps": 10}),
        artifacts.config_hash(get_profile("smoke", seed=1)),
    ]
    assert h not in changed and len(set(changed)) == len(changed)


def test_config_hash_includes_package_version(monkeypatch):
    h = artifacts.config_hash({"a": 1})
    monkeypatch.setattr(artifacts.keys, "__version__", "999.0")
    assert artifacts.config_hash({"a": 1}) != h


def test_config_hash_refuses_unserialisable_values():
    with pytest.raises(TypeError, match="cannot turn object"):
        artifacts.config_hash({"model": object()})


def test_cache_path_lives_under_the_profile_artifacts(ood_dirs):
    path = artifacts.cache_path("smoke", "embeddings", "abc123", ".pt")
    assert path == ood_dirs["artifacts"] / "smoke" / "embeddings" / "abc123.pt"
    assert path.parent.is_dir()
    with pytest.raises(ValueError, match="suffix"):
        artifacts.cache_path("smoke", "embeddings", "abc", "pt")


def test_tensor_digest_sees_values_shapes_and_dtypes():
    import numpy as np

    t = torch.arange(12, dtype=torch.int64).reshape(3, 4)
    base = artifacts.tensor_digest(t, np.ones(2))
    assert base == artifacts.tensor_digest(t.clone(), np.ones(2))
    assert base != artifacts.tensor_digest(t.reshape(4, 3), np.ones(2))
    assert base != artifacts.tensor_digest(t.int(), np.ones(2))
    changed = t.clone()
    changed[2, 3] = 0
    assert base != artifacts.tensor_digest(changed, np.ones(2))
    assert base != artifacts.tensor_digest(np.ones(2), t)
