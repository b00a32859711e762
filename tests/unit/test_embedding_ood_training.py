"""Paper 002's training: the loss reduction stated (J_r per-pixel mean, J_e batchmean KL, J_c batch-mean CE),
the score = per-sample summed squared error (larger = more OOD), caching keyed by config, bit-identical reruns."""

import numpy as np
import pytest
import torch

from ood_helpers.embedding_ood import autoencoder as AE
from ood_helpers.embedding_ood import training as T
from ood_helpers.core.profile import get_profile

ARCH = T.Architecture("mlp", (1, 28, 28), 3, (16,), 4)


def tiny_data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    x = np.zeros((n, 1, 28, 28), np.float32)
    for i, c in enumerate(labels):  # a bright bar whose row depends on the class
        x[i, 0, 4 + 8 * c: 8 + 8 * c, 4:24] = 1.0
    x += rng.random(x.shape).astype(np.float32) * 0.1
    return torch.from_numpy(x.clip(0, 1)), labels


def test_joint_loss_is_the_stated_sum_of_batch_means():
    torch.manual_seed(0)
    model = ARCH.build().double()
    x = torch.rand(5, 1, 28, 28, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 0, 1])
    p = torch.softmax(torch.randn(5, 3, dtype=torch.float64), 1)
    mu_label = torch.randn(3, 4, dtype=torch.float64)
    v = T.Variant("full", lambda_e=0.7, lambda_c=0.3, alpha_interp=0.5)
    z, recon, logits = model(x)
    j_r = ((x - recon) ** 2).sum() / x.numel()
    j_c = -torch.log_softmax(logits, 1)[torch.arange(5), y].mean()
    c = 0.5 * model.centres + 0.5 * mu_label
    w = 1.0 / (1.0 + ((z[:, None] - c[None]) ** 2).sum(-1))
    q = w / w.sum(1, keepdim=True)
    j_e = (p * (p / q).log()).sum() / 5
    got = T.joint_loss(model, x, y, p, mu_label, v)
    assert got.item() == pytest.approx((j_r + 0.7 * j_e + 0.3 * j_c).item(), rel=1e-10)
    ae_only = T.joint_loss(model, x, y, p, mu_label, T.Variant("AE"))
    assert ae_only.item() == pytest.approx(j_r.item(), rel=1e-10)


def test_score_is_the_per_sample_summed_squared_error():
    torch.manual_seed(1)
    model = ARCH.build()
    x = torch.rand(7, 1, 28, 28)
    out = AE.score(model, x, batch_size=3)
    with torch.no_grad():
        recon = model.autoencoder.decode(model.autoencoder.encode(x))
    loop = [float(((x[i] - recon[i]) ** 2).sum()) for i in range(7)]
    assert out["error"] == pytest.approx(loop, rel=1e-5)
    assert out["probs"].sum(1) == pytest.approx(np.ones(7))


def test_pretrained_ae_scores_noise_as_more_ood():
    x, y = tiny_data()
    pre = T.pretrain(x, y, ARCH, epochs=30, lr=3e-3, batch_size=20, seed=0, profile=get_profile("smoke"), kmeans_n_init=2)
    model = ARCH.build()
    model.load_state_dict(pre["state"])
    s_in = AE.score(model, tiny_data(30, seed=1)[0])["error"]
    s_out = AE.score(model, torch.rand(30, 1, 28, 28))["error"]
    assert s_out.min() > np.median(s_in)  # larger = more OOD


def test_training_is_cached_bit_identical_and_keyed_by_config(monkeypatch):
    x, y = tiny_data()
    prof = get_profile("smoke")
    kw = dict(epochs=2, lr=1e-3, batch_size=20, seed=5, profile=prof, kmeans_n_init=2)
    pre = T.pretrain(x, y, ARCH, **kw)
    v = T.Variant("full", 1.0, 1.0, 0.5, sift_fraction=0.1)
    m1, log1 = T.finetune(pre, x, y, ARCH, v, epochs=2, lr=0.01, momentum=0.9, batch_size=20, seed=5, profile=prof)
    assert [len(i["dropped"]) for i in log1["intervals"]] == [6, 6]
    calls = []
    monkeypatch.setattr(T, "fit", lambda *a, **k: calls.append(1))
    m2, _ = T.finetune(T.pretrain(x, y, ARCH, **kw), x, y, ARCH, v, epochs=2, lr=0.01, momentum=0.9, batch_size=20,
                       seed=5, profile=prof)
    assert not calls  # loaded, not retrained
    for a, b in zip(m1.state_dict().values(), m2.state_dict().values()):
        assert torch.equal(a, b)
    with pytest.raises(AttributeError):  # another seed is another key: it trains (the stubbed fit returns None)
        T.finetune(pre, x, y, ARCH, v, epochs=2, lr=0.01, momentum=0.9, batch_size=20, seed=6, profile=prof)
    assert calls


def test_fresh_runs_are_bit_identical(tmp_path, monkeypatch):
    x, y = tiny_data()
    states = []
    for run in range(2):
        monkeypatch.setenv("OOD_ARTIFACTS_DIR", str(tmp_path / f"run{run}"))
        prof = get_profile("smoke")
        pre = T.pretrain(x, y, ARCH, epochs=2, lr=1e-3, batch_size=20, seed=2, profile=prof, kmeans_n_init=2)
        m, _ = T.finetune(pre, x, y, ARCH, T.Variant("full", 1.0, 1.0, 0.5), epochs=2, lr=0.01, momentum=0.9,
                          batch_size=20, seed=2, profile=prof)
        states.append(m.state_dict())
    for k in states[0]:
        assert torch.equal(states[0][k], states[1][k]), k


def test_bad_training_data_is_refused():
    x, y = tiny_data(9)
    with pytest.raises(ValueError, match="labels must be 9 ints in 0..2"):
        T.pretrain(x, y + 3, ARCH, epochs=1, lr=1e-3, batch_size=4, seed=0, profile=get_profile("smoke"))
    with pytest.raises(ValueError, match="float tensor"):
        T.pretrain((x * 255).byte(), y, ARCH, epochs=1, lr=1e-3, batch_size=4, seed=0, profile=get_profile("smoke"))


def test_conv_autoencoder_shapes():
    m = AE.build_model("conv", (3, 32, 32), 10, embed_dim=16, conv_width=8)
    z, recon, logits = m(torch.rand(2, 3, 32, 32))
    assert z.shape == (2, 16) and recon.shape == (2, 3, 32, 32) and logits.shape == (2, 10)
    assert 0 <= recon.min() and recon.max() <= 1
    with pytest.raises(ValueError, match="divisible by 8"):
        AE.build_model("conv", (3, 30, 30), 10)


def test_an_interrupted_joint_phase_resumes_bit_identical(tmp_path, monkeypatch):
    x, y = tiny_data()
    v = T.Variant("full", 1.0, 1.0, 0.5, sift_fraction=0.1)
    kw = dict(epochs=4, lr=0.01, momentum=0.9, batch_size=20, seed=3)  # T = 3 steps, a checkpoint every interval

    def run(folder, fail_at=None):
        monkeypatch.setenv("OOD_ARTIFACTS_DIR", str(tmp_path / folder))
        prof = get_profile("smoke")
        pre = T.pretrain(x, y, ARCH, epochs=2, lr=1e-3, batch_size=20, seed=3, profile=prof, kmeans_n_init=2)
        calls = {"n": 0}
        real = T.joint_loss

        def counting(*a, **k):
            calls["n"] += 1
            if fail_at is not None and calls["n"] == fail_at:
                raise KeyboardInterrupt("simulated interruption")
            return real(*a, **k)

        monkeypatch.setattr(T, "joint_loss", counting)
        try:
            return T.finetune(pre, x, y, ARCH, v, profile=prof, **kw)
        finally:
            monkeypatch.setattr(T, "joint_loss", real)

    whole, log_whole = run("whole")
    with pytest.raises(KeyboardInterrupt):
        run("broken", fail_at=8)  # during interval 2 (steps 6-8): the checkpoint of step 6 stays
    resumed, log = run("broken")
    assert log["resumed_at_interval"] == 2 and [i["interval"] for i in log["intervals"]] == [2, 3]
    for k, val in whole.state_dict().items():
        assert torch.equal(val, resumed.state_dict()[k]), k
    assert [i["dropped"].tolist() for i in log_whole["intervals"][2:]] == [i["dropped"].tolist() for i in log["intervals"]]


def test_hg_distortions_follow_the_recipe():
    from ood_helpers.embedding_ood.abnormality import distort

    x = torch.zeros(8, 1, 28, 28)
    x[:, :, 4:10, 10:12] = 1.0  # a bar near the top
    labels = np.array([1, 1, 1, 1, 1, 1, 0, 2])
    out = distort(x, labels, np.random.default_rng(0))
    assert float((out[:4] - x[:4]).std()) > 0.8  # 1/2: additive noise with sigma >= 0.9
    assert 0 < float(out[4:6].max()) < 0.5 and float(out[4:6].sum()) == pytest.approx(float(x[4:6].sum()), rel=0.05)  # blur
    assert float((out[6] - x[6]).std()) > 0.8  # a 0 gets noise instead of a rotation
    assert torch.equal(out[7], torch.rot90(x[7], 1, (-2, -1))) or torch.equal(out[7], torch.rot90(x[7], 3, (-2, -1)))


def test_hg_module_flags_noise_as_more_ood():
    from ood_helpers.embedding_ood.abnormality import abnormality_score, train_abnormality

    x, y = tiny_data(90)
    m = train_abnormality(x, y, 3, epochs=20, risk_epochs=20, seed=0, profile=get_profile("smoke"))
    s_in = abnormality_score(m, tiny_data(30, seed=1)[0])
    s_out = abnormality_score(m, torch.rand(30, 1, 28, 28))
    assert np.median(s_out) > np.median(s_in)  # larger = more OOD


def test_hg_module_is_cached(monkeypatch):
    from ood_helpers.embedding_ood import abnormality as A

    x, y = tiny_data(30)
    kw = dict(epochs=1, risk_epochs=1, seed=4, profile=get_profile("smoke"))
    first = A.train_abnormality(x, y, 3, **kw)
    monkeypatch.setattr(A, "fit", lambda *a, **k: pytest.fail("retrained instead of loading the cache"))
    again = A.train_abnormality(x, y, 3, **kw)
    for k, v in first.state_dict().items():
        assert torch.equal(v, again.state_dict()[k]), k
