"""kNN scoring (through the lead's feature_scores) against brute force, neighbour mining, retrieval purity,
the offline data split and the ImageNet loader's offline error."""

import numpy as np
import pytest
import torch

from ood_helpers.core.metrics.ood import auroc
from ood_helpers.pseudo_label.neighbours import mine_neighbours
from ood_helpers.pseudo_label.scoring import clustering_numbers, knn_metrics, mahalanobis_metrics, neighbour_purity
from ood_helpers.pseudo_label.settings import PSEUDO_LABEL, PseudoLabelSettings
from ood_helpers.pseudo_label.splits import digits_trial


def _cos_dist(a, b):
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return 1 - b @ a.T  # [queries, reference]


def test_knn_auroc_equals_brute_force():
    rng = np.random.default_rng(0)
    train, test = rng.normal(size=(50, 8)), rng.normal(size=(20, 8))
    near = rng.normal(size=(15, 8)) + 0.7
    for k, reduce in ((1, "mean"), (3, "mean"), (3, "kth")):
        def brute(q):
            d = np.sort(_cos_dist(train, q), axis=1)[:, :k]
            return d.mean(1) if reduce == "mean" else d[:, -1]
        got = knn_metrics(train, test, {"near": near}, k=k, reduce=reduce)["near"]["auroc"]
        # AUROC by hand: P(anomaly score > normal score), ties 1/2
        s_in, s_out = brute(test), brute(near)
        pairs = (s_out[:, None] > s_in[None]).mean() + 0.5 * (s_out[:, None] == s_in[None]).mean()
        assert got == pytest.approx(pairs, abs=1e-6)


def test_mahalanobis_by_hand():
    rng = np.random.default_rng(1)
    train = np.r_[rng.normal(0, 1, (40, 3)), rng.normal(4, 1, (40, 3))]
    labels = np.repeat([0, 1], 40)
    test, far = rng.normal(0, 1, (10, 3)), rng.normal(10, 1, (10, 3))
    mu = np.stack([train[labels == c].mean(0) for c in (0, 1)])
    centred = train - mu[labels]
    prec = np.linalg.inv(centred.T @ centred / len(train))
    score = lambda x: np.min([np.einsum("nd,de,ne->n", x - m, prec, x - m) for m in mu], axis=0)  # noqa: E731
    got = mahalanobis_metrics(train, labels, test, {"far": far})["far"]["auroc"]
    assert got == pytest.approx(auroc(score(test), score(far)))


def test_mined_neighbours_are_the_nearest_others():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(30, 5))
    nb = mine_neighbours(x, 4)
    sim = -_cos_dist(x, x)
    np.fill_diagonal(sim, -np.inf)
    brute = np.argsort(-sim, axis=1)[:, :4]
    assert (nb != np.arange(30)[:, None]).all()
    assert np.array_equal(np.sort(nb, 1), np.sort(brute, 1))
    with pytest.raises(ValueError, match="k must be"):
        mine_neighbours(x, 30)


def test_retrieval_purity_and_clustering_numbers():
    labels = np.array([0, 0, 1, 1, 2])
    assert neighbour_purity(np.array([[0, 1, 2], [2, 3, 4]]), labels) == pytest.approx((2 / 3 + 2 / 3) / 2)
    c = clustering_numbers([0, 0, 1, 1], [1, 1, 0, 0])
    assert c["acc"] == pytest.approx(100) and c["nmi"] == pytest.approx(100) and c["ari"] == pytest.approx(100)


def test_digits_split_is_disjoint_and_seeded():
    s = PSEUDO_LABEL["smoke"]
    a, b = digits_trial(7, s), digits_trial(7, s)
    assert torch.equal(a.train, b.train) and a.normal_classes == b.normal_classes
    assert set(a.normal_classes).isdisjoint(a.anomaly_classes) and len(a.normal_classes) == s.normal_classes
    assert set(np.unique(a.train_labels)) == set(a.normal_classes) == set(np.unique(a.test_labels))
    assert len(a.train) == s.train_per_class * s.normal_classes and a.far.shape[1:] == (1, 28, 28)
    # no test image repeats a training image
    flat = lambda t: {bytes(r) for r in (t * 255).round().to(torch.uint8).reshape(len(t), -1).numpy()}  # noqa: E731
    assert not flat(a.train) & flat(a.test)
    only = digits_trial(7, PseudoLabelSettings(**{**s.__dict__, "source_classes": "normal_only"}))
    assert set(np.unique(only.source_labels)) == set(only.normal_classes)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="source_classes"):
        PseudoLabelSettings(source_classes="some")
    with pytest.raises(ValueError, match="lr_end"):
        PseudoLabelSettings(lr_start=1e-6, lr_end=1e-5)


def test_imagenet_weights_offline_error(monkeypatch, tmp_path):
    import torchvision

    from ood_helpers.pseudo_label.networks import imagenet_encoder

    def fail(*a, **k):
        raise OSError("no network")

    monkeypatch.setattr(torchvision.models, "resnet18", fail)
    with pytest.raises(RuntimeError, match="TORCH_HOME"):
        imagenet_encoder("imagenet-resnet18")
    with pytest.raises(ValueError, match="unknown ImageNet backbone"):
        imagenet_encoder("vit")
