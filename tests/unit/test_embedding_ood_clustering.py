"""Paper 002's clustering loss against hand computations: Student-t q (nu = 1), DEC's target P with each
cluster's own frequency, KL(P || Q) direction, the closed-form gradients of spec §1.8, Hungarian matching."""

import numpy as np
import pytest
import torch

from ood_helpers.embedding_ood import clustering_loss as CL


def two_point_case():
    z = torch.tensor([[0.0, 0.0], [1.0, 0.0]], dtype=torch.float64)
    centres = torch.tensor([[0.0, 0.0], [2.0, 0.0]], dtype=torch.float64)
    return z, centres


def test_student_t_assignment_matches_hand_values():
    z, c = two_point_case()
    # kernels 1/(1 + d^2): point 0 -> [1, 1/5], point 1 -> [1/2, 1/2]
    q = CL.student_t_assignment(z, c)
    assert q.numpy() == pytest.approx(np.array([[5 / 6, 1 / 6], [0.5, 0.5]]), abs=1e-12)


def test_student_t_general_nu_is_the_dec_kernel():
    z, c = torch.randn(5, 3, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    nu = 3.0
    k = np.array([[(1 + ((zi - cj) ** 2).sum().item() / nu) ** (-(nu + 1) / 2) for cj in c] for zi in z])
    assert CL.student_t_assignment(z, c, nu=nu).numpy() == pytest.approx(k / k.sum(1, keepdims=True), abs=1e-12)


def test_target_uses_each_clusters_own_frequency():
    q = torch.tensor([[5 / 6, 1 / 6], [0.5, 0.5]], dtype=torch.float64)
    # f = [4/3, 2/3]; row 0: (25/36)/(4/3) = 25/48, (1/36)/(2/3) = 2/48 -> [25/27, 2/27]
    # row 1: (1/4)/(4/3) = 3/16, (1/4)/(2/3) = 6/16 -> [1/3, 2/3]
    p = CL.target_distribution(q)
    assert p.numpy() == pytest.approx(np.array([[25 / 27, 2 / 27], [1 / 3, 2 / 3]]), abs=1e-12)
    assert p.sum(1).numpy() == pytest.approx(np.ones(2))


def test_target_carries_no_gradient():
    z, c = two_point_case()
    c = c.clone().requires_grad_(True)
    p = CL.target_distribution(CL.student_t_assignment(z, c))
    assert not p.requires_grad


def test_kl_direction_is_p_log_p_over_q():
    p = torch.tensor([[0.9, 0.1], [0.3, 0.7]], dtype=torch.float64)
    q = torch.tensor([[0.6, 0.4], [0.5, 0.5]], dtype=torch.float64)
    hand = sum(p[i, j].item() * np.log(p[i, j].item() / q[i, j].item()) for i in range(2) for j in range(2))
    reversed_kl = sum(q[i, j].item() * np.log(q[i, j].item() / p[i, j].item()) for i in range(2) for j in range(2))
    assert CL.embedding_loss(q, p, reduction="sum").item() == pytest.approx(hand, abs=1e-12)
    assert CL.embedding_loss(q, p).item() == pytest.approx(hand / 2, abs=1e-12)  # batchmean
    assert abs(hand - reversed_kl) > 1e-3


def test_gradients_equal_closed_forms():
    torch.manual_seed(0)
    n, k, d, alpha = 7, 3, 4, 0.3
    z = torch.randn(n, d, dtype=torch.float64, requires_grad=True)
    mu = torch.randn(k, d, dtype=torch.float64, requires_grad=True)
    mu_label = torch.randn(k, d, dtype=torch.float64)
    c = CL.interpolate_centres(mu, mu_label, alpha)
    q = CL.student_t_assignment(z, c)
    p = CL.target_distribution(q)
    CL.embedding_loss(q, p, reduction="sum").backward()
    with torch.no_grad():
        diff = z[:, None, :] - c[None]  # [n, k, d]
        w = 1.0 / (1.0 + (diff ** 2).sum(-1))
        coef = (w * (p - q))[..., None] * diff
        dz = 2 * coef.sum(1)
        dmu = -2 * (1 - alpha) * coef.sum(0)
    assert z.grad.numpy() == pytest.approx(dz.numpy(), abs=1e-10)
    assert mu.grad.numpy() == pytest.approx(dmu.numpy(), abs=1e-10)


def test_label_means_and_missing_class():
    z = torch.tensor([[1.0, 0], [3.0, 0], [0, 5.0]])
    assert CL.label_means(z, torch.tensor([0, 0, 1]), 2).tolist() == [[2.0, 0.0], [0.0, 5.0]]
    with pytest.raises(ValueError, match="missing \\[1\\]"):
        CL.label_means(z, torch.tensor([0, 0, 2]), 3)


def test_interpolation_bounds():
    mu, ml = torch.zeros(2, 2), torch.ones(2, 2)
    assert CL.interpolate_centres(mu, ml, 0.25).tolist() == [[0.25, 0.25]] * 2
    with pytest.raises(ValueError, match="alpha_interp"):
        CL.interpolate_centres(mu, ml, 1.5)


def test_hungarian_maps_permuted_clusters_back():
    labels = np.repeat(np.arange(4), 10)
    perm = np.array([2, 0, 3, 1])  # label j was put in cluster perm[j]
    clusters = perm[labels].copy()
    clusters[[0, 11]] = clusters[[20, 30]]  # a little noise
    order, table = CL.match_clusters_to_labels(clusters, labels, 4)
    assert order.tolist() == perm.tolist()
    assert table.sum() == 40


def test_kmeans_centres_are_reordered_so_no_class_mixes_with_another():
    rng = np.random.default_rng(0)
    means = np.array([[0, 0], [10, 0], [0, 10], [10, 10]], float)
    labels = np.repeat(np.arange(4), 50)
    z = means[labels] + rng.normal(0, 0.5, (200, 2))
    centres, info = CL.kmeans_label_centres(z, labels, 4, seed=3, n_init=5)
    assert np.abs(centres - means).max() < 0.5
    assert info["matched_share"] == 1.0 and info["classes_with_majority"] == 4
    # after matching, interpolating with the label means keeps every class's centre at its own class
    c = CL.interpolate_centres(torch.from_numpy(centres), CL.label_means(torch.from_numpy(z).float(), torch.from_numpy(labels), 4).double(), 0.5)
    nearest = ((c[:, None, :] - torch.from_numpy(means)[None]) ** 2).sum(-1).argmin(1)
    assert nearest.tolist() == [0, 1, 2, 3]
