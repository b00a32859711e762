"""One seed per trial: Python, NumPy and torch generators set together; bit-identical CPU training."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator

import numpy as np


def seed_everything(seed: int) -> np.random.Generator:
    """Seed ``random``, NumPy's legacy global state and torch (CPU and CUDA).

    Returns a fresh ``np.random.Generator`` for the caller's own draws, so code that
    samples sets or supports does not depend on global state touched elsewhere.
    """
    import torch

    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    torch.manual_seed(int(seed))
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(int(seed))
    return np.random.default_rng(int(seed))


def set_thread_count(threads: int) -> int:
    """Set torch's CPU thread count to ``threads`` (0 leaves torch's default) and return the count in use.

    CPU kernels split their sums by thread, so one and two threads train different weights from the same
    seed; the profiles fix the count so that reruns on any machine agree bit for bit."""
    import torch

    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 0:
        raise ValueError(f"threads must be an int >= 0 (0 = torch's default), got {threads!r}")
    if threads and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def trial_seed(base_seed: int, trial: int) -> int:
    """The seed of trial ``trial`` (0-based) of a run whose profile seed is ``base_seed``."""
    if trial < 0:
        raise ValueError(f"trial must be >= 0, got {trial}")
    return int(base_seed) * 1000 + int(trial)


def trial_seeds(base_seed: int, trials: int) -> list[int]:
    """The seeds of trials 0 .. ``trials`` - 1 (``trial_seed`` of each)."""
    return [trial_seed(base_seed, t) for t in range(trials)]


@contextlib.contextmanager
def deterministic_on_cpu(device) -> Iterator[None]:
    """Within the block, torch picks deterministic kernels when ``device`` is the CPU.

    oneDNN's default kernels (e.g. the backward of the Transformer's linear layers) may sum in
    a thread-dependent order, so two identical CPU runs drifted apart in the last bits and then
    in their best step; ``torch.use_deterministic_algorithms`` removes that at no measured cost.
    On CUDA the setting would need ``CUBLAS_WORKSPACE_CONFIG`` and slower kernels, so GPU runs
    stay fast and are reproducible only up to floating-point order. The previous setting is restored.
    """
    import torch

    if not str(device).startswith("cpu"):
        yield
        return
    previous = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous, warn_only=warn_only)
