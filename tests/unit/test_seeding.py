"""``seeding.deterministic_on_cpu``: it restores the previous setting, and under it the backward of gathering
embeddings into sets is bit-identical from one repeat to the next (the op whose thread-dependent order made two
homogeneity runs differ; the fresh-process runs are in tests/integration/test_determinism.py)."""

from __future__ import annotations


def test_deterministic_on_cpu_restores_the_previous_setting():
    import torch

    from ood_helpers.core.seeding import deterministic_on_cpu

    before = torch.are_deterministic_algorithms_enabled()
    with deterministic_on_cpu("cpu"):
        assert torch.are_deterministic_algorithms_enabled()
    assert torch.are_deterministic_algorithms_enabled() == before
    with deterministic_on_cpu("cuda:0"):  # GPU runs keep the fast kernels
        assert torch.are_deterministic_algorithms_enabled() == before


def _gather_grads(repeats: int) -> list:
    import torch

    g = torch.Generator().manual_seed(0)
    emb = torch.randn(64, 128, generator=g, requires_grad=True)
    index = torch.randint(0, 64, (2000, 10), generator=g)  # sets sharing images, as in a training batch
    upstream = torch.randn(2000, 10, 128, generator=g)
    grads = []
    for _ in range(repeats):
        emb.grad = None
        emb[index].backward(upstream)
        grads.append(emb.grad.clone())
    return grads


def test_set_gather_backward_is_bit_identical_under_deterministic_on_cpu():
    import torch

    from ood_helpers.core.seeding import deterministic_on_cpu

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with deterministic_on_cpu("cpu"):
            grads = _gather_grads(20)
    finally:
        torch.set_num_threads(threads)
    assert all(torch.equal(grads[0], g) for g in grads[1:])


def test_notebook_profile_sets_the_profiles_thread_count_and_zero_keeps_torchs():
    import pytest
    import torch

    from ood_helpers.core.overrides import notebook_profile
    from ood_helpers.core.seeding import set_thread_count

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert notebook_profile("smoke").threads == 2 and torch.get_num_threads() == 2
        assert notebook_profile("smoke", '{"threads": 1}').threads == 1 and torch.get_num_threads() == 1
        assert set_thread_count(0) == 1  # 0: leave torch's count as it is
        for bad in (-1, 1.5, True, "2"):
            with pytest.raises(ValueError, match="threads must be an int >= 0"):
                set_thread_count(bad)
        with pytest.raises(ValueError, match="threads must be an int >= 0"):
            notebook_profile("smoke", '{"threads": -2}')
    finally:
        torch.set_num_threads(before)
