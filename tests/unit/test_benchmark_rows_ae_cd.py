"""The open-set benchmark's rows of papers 002 (autoencoder, notebook 07) and 001 (distance to clusters,
notebook 08) on a small smoke-profile trial of mnist5k: scores against hand computations from the cached
networks, predictions against an independent argmax, bit-identical retraining, colour 32 px images."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from ood_helpers.benchmark import rows_autoencoder as RA
from ood_helpers.benchmark import rows_cluster_distance as RC
from ood_helpers.benchmark.runner import compute
from ood_helpers.cluster_distance.training import train_method
from ood_helpers.core.data.imageset import adapt_images
from ood_helpers.core.profile import get_profile
from tests.support import make_trial, smoke_trial_data

ROWS = {r.key: r for r in RA.ROWS + RC.ROWS}
VARIANT = {"ae_recon": "AE", "ae_full": "full"}


@pytest.fixture(scope="module")
def data():
    return smoke_trial_data()


def run_row(key, t):
    return compute(ROWS[key], t)


def floats(x: torch.Tensor) -> np.ndarray:
    return x.numpy().astype(np.float32) / 255.0


def colour(data):
    """The trial with every image as 3-channel 32x32 (what the cifar profile's CIFAR-10 gives a row)."""
    rgb = lambda x: adapt_images(x, channels=3, image_size=32)  # noqa: E731
    parts = ("train", "val", "test", "unknown")
    return dataclasses.replace(data, **{f"x_{p}": rgb(getattr(data, f"x_{p}")) for p in parts})


# ===== paper 002: reconstruction error =====


def check_ae_scores(key, t, out):
    model, _, _ = RA.train(t, VARIANT[key])  # from the cache the row filled
    for x, scores in ((t.data.x_test, out.s_known), (t.data.x_unknown, out.s_unknown)):
        xf = torch.from_numpy(floats(x))
        with torch.no_grad():
            recon = model.autoencoder.decode(model.autoencoder.encode(xf)).numpy()
        expected = ((xf.numpy() - recon) ** 2).reshape(len(xf), -1).sum(1)  # J_r summed over pixels
        np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-7)
    if key == "ae_full":
        with torch.no_grad():
            logits = model.classifier(model.autoencoder.encode(torch.from_numpy(floats(t.data.x_test)))).numpy()
        np.testing.assert_array_equal(out.pred_known, logits.argmax(1))
    else:
        assert out.pred_known is None
    return model


def test_ae_rows_score_reconstruction_error_and_share_pretraining(data, tmp_path, monkeypatch):
    monkeypatch.setenv("OOD_ARTIFACTS_DIR", str(tmp_path / "a"))
    t = make_trial(data)
    outs = {k: run_row(k, t) for k in ("ae_recon", "ae_full")}
    models = {k: check_ae_scores(k, t, outs[k]) for k in outs}
    cache = tmp_path / "a" / "smoke" / "embedding-ood"
    assert len(list(cache.glob("pretrain-*-result.pt"))) == 1  # one pretraining for both rows
    assert len(list(cache.glob("joint-*-result.pt"))) == 2
    assert not np.array_equal(outs["ae_recon"].s_known, outs["ae_full"].s_known)
    assert all(isinstance(m.autoencoder, type(models["ae_full"].autoencoder)) for m in models.values())
    assert type(models["ae_full"].autoencoder).__name__ == "MLPAutoencoder"


# ===== paper 001: distance to class centroids =====


def embed_by_hand(encoder, x) -> np.ndarray:
    with torch.no_grad():
        return encoder.eval()(torch.from_numpy(floats(x))).double().numpy()


@pytest.mark.parametrize("key, method", [("cd_ce", "ce"), ("cd_supcon", "supcon")])
def test_cluster_distance_rows_against_brute_force(key, method, data, tmp_path, monkeypatch):
    monkeypatch.setenv("OOD_ARTIFACTS_DIR", str(tmp_path / "a"))
    t = make_trial(data)
    out = run_row(key, t)
    s = RC.row_settings(t.profile)
    model = train_method(method, s.archs[0], RC.id_split(t), s, profile_name="smoke", seed=t.seed)  # cached
    train = embed_by_hand(model.encoder, data.x_train)
    y = data.y_train.numpy()
    mu = np.stack([train[y == c].mean(0) for c in range(data.num_classes)])
    for x, scores in ((data.x_test, out.s_known), (data.x_unknown, out.s_unknown)):
        z = embed_by_hand(model.encoder, x)
        if method == "ce":  # 1 - cosine to the nearest class mean
            d = np.array([[1 - q @ m / np.linalg.norm(q) / np.linalg.norm(m) for m in mu] for q in z])
        else:  # Mahalanobis, one covariance of the class-centred training embeddings (1/N)
            centred = train - mu[y]
            precision = np.linalg.pinv(centred.T @ centred / len(train), hermitian=True)
            d = np.array([[(q - m) @ precision @ (q - m) for m in mu] for q in z])
        np.testing.assert_allclose(scores, d.min(1), rtol=1e-4, atol=1e-6)
    z = embed_by_hand(model.encoder, data.x_test)
    if method == "ce":
        w, b = (p.detach().double().numpy() for p in (model.head.weight, model.head.bias))
        expected = (z @ w.T + b).argmax(1)
    else:
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler

        scaler = StandardScaler().fit(train)
        expected = LogisticRegression(max_iter=500, tol=1e-3, random_state=t.seed).fit(scaler.transform(train), y).predict(
            scaler.transform(z))
    assert np.mean(out.pred_known == expected) >= 0.99


# ===== every row: determinism, colour images =====


def test_rows_retrain_bit_identically(data, tmp_path, monkeypatch):
    t = make_trial(data)
    runs = []
    for folder in ("a", "b"):  # a fresh cache each time, so the second run trains again
        monkeypatch.setenv("OOD_ARTIFACTS_DIR", str(tmp_path / folder))
        runs.append({k: run_row(k, t) for k in ROWS})
    for k in ROWS:
        assert runs[1][k].train_seconds > 0
        np.testing.assert_array_equal(runs[0][k].s_known, runs[1][k].s_known, err_msg=k)
        np.testing.assert_array_equal(runs[0][k].s_unknown, runs[1][k].s_unknown, err_msg=k)
        if runs[0][k].pred_known is not None:
            np.testing.assert_array_equal(runs[0][k].pred_known, runs[1][k].pred_known, err_msg=k)


def test_rows_on_colour_32px(data, tmp_path, monkeypatch):
    monkeypatch.setenv("OOD_ARTIFACTS_DIR", str(tmp_path / "a"))
    p = get_profile("smoke", extra={"embedding_ood": {"cifar_epochs": 1}})
    t = make_trial(colour(data), p)
    assert all(r.why_not(t) is None for r in ROWS.values())
    model = check_ae_scores("ae_full", t, run_row("ae_full", t))
    assert type(model.autoencoder).__name__ == "ConvAutoencoder"
    assert RC.id_split(t).recipe == "cifar"
    out = run_row("cd_ce", t)
    assert np.all(out.s_known >= 0) and np.all(out.s_unknown <= 2)  # 1 - cosine lies in [0, 2]


def test_autoencoder_refuses_colour_sides_not_divisible_by_8(data):
    t = make_trial(dataclasses.replace(data, x_train=adapt_images(data.x_train, channels=3)))  # 3x28x28
    assert "divisible by 8" in ROWS["ae_recon"].why_not(t)
    with pytest.raises(ValueError, match="divisible by 8"):
        ROWS["ae_full"].run(t)
