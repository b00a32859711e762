"""Eq. 3's pair scores (paper 000 section 5.3): the homogeneity model's logit for every ordered
pair of samples, scored in batches and cached on disk like a checkpoint.

The model enters only through a scorer (``ScoreSets``), which returns logits, as everywhere
in this project; probabilities are taken explicitly (``pair_probabilities``) where eq. 3-4
compare them with 0.5.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np
import torch
from scipy.special import expit
from tqdm.auto import tqdm

from ood_helpers.core import artifacts

if TYPE_CHECKING:
    import pandas as pd

ScoreSets = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""``score_sets(emb [B, K, D], lengths [B]) -> logits [B, >=1]``: the set of the first
``lengths[b]`` rows of ``emb[b]`` is scored, its last valid row being the query; column 0 is
the set's homogeneity **logit** (larger = more homogeneous; ``sigmoid`` of it is the paper's
M(S)). A scorer never returns probabilities (``model_scorer`` builds one from a model)."""

THRESHOLD = 0.5  # eq. 3-4: a set is homogeneous when M(S) = sigmoid(logit) > 0.5
# torch's intra-op threads spin on the small sets scored here: on a busy 2-core machine the
# greedy clustering of 200 samples took 34.5 s with 2 threads and 1.0 s with 1.
TORCH_CPU_THREADS = 1


def as_embeddings(emb, device=None) -> torch.Tensor:
    """``emb`` as a float [N, D] tensor on ``device`` (None: where it is)."""
    emb = torch.as_tensor(emb)
    if emb.ndim != 2 or emb.shape[0] == 0:
        raise ValueError(f"embeddings must be a non-empty [N, D] array, got shape {tuple(emb.shape)}")
    if not torch.is_floating_point(emb):
        emb = emb.float()
    return emb if device is None else emb.to(device)


@contextmanager
def cpu_threads(device: torch.device) -> Iterator[None]:
    """Runs the block with ``TORCH_CPU_THREADS`` torch threads when scoring on the CPU."""
    if device.type != "cpu":
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(TORCH_CPU_THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def score_logits(score_sets: ScoreSets, sets: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """float32 [B] on the CPU: column 0 of ``score_sets(sets, lengths)``, the sets' logits."""
    with torch.no_grad():
        logits = score_sets(sets, lengths)
    if logits.ndim != 2 or logits.shape[0] != sets.shape[0]:
        raise ValueError(
            f"score_sets must return logits [B, >=1] for B={sets.shape[0]} sets, got shape {tuple(logits.shape)}"
        )
    return logits[:, 0].detach().float().cpu()


def model_scorer(model: torch.nn.Module) -> ScoreSets:
    """``ScoreSets`` of a trained ``HomogeneityModel``: its ``set_logits`` in eval mode (no
    dropout), inputs moved to its device (a no-op for inputs already there)."""
    model.eval()
    device = next(model.parameters()).device

    def score(emb: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return model.set_logits(emb.to(device), lengths.to(device))

    return score


def pairwise_homogeneity(emb, score_sets: ScoreSets, *, batch_sets: int = 4096, device=None,
                         progress: bool = False) -> np.ndarray:
    """float32 [N, N] pair logits: entry (i, j) is the logit of the 2-set {x_i, x_j} with x_j
    as the query; the diagonal is NaN. ``pair_probabilities`` turns it into M(x_i, x_j).

    ``emb`` [N, D] is moved to ``device`` (None: where it is) once; the N (N - 1) ordered
    pairs are scored ``batch_sets`` sets per forward pass.
    """
    emb = as_embeddings(emb, device)
    if not isinstance(batch_sets, (int, np.integer)) or batch_sets < 1:
        raise ValueError(f"batch_sets must be an int >= 1 (sets per forward pass), got {batch_sets!r}")
    n = emb.shape[0]
    flat = torch.empty(n * (n - 1), dtype=torch.float32)
    lengths = torch.full((batch_sets,), 2, dtype=torch.long, device=emb.device)
    with cpu_threads(emb.device):
        for start in tqdm(range(0, len(flat), batch_sets), desc="pair logits", disable=not progress, leave=False):
            p = torch.arange(start, min(len(flat), start + batch_sets), device=emb.device)
            # p enumerates the off-diagonal entries row by row: row i, then column j != i
            i, r = p // (n - 1), p % (n - 1)
            j = r + (r >= i).long()
            sets = torch.stack([emb[i], emb[j]], dim=1)  # [b, 2, D], query x_j last
            flat[start : start + len(p)] = score_logits(score_sets, sets, lengths[: len(p)])
    out = np.full((n, n), np.nan, dtype=np.float32)
    out[~np.eye(n, dtype=bool)] = flat.numpy()
    return out


def pair_probabilities(pair_logits) -> np.ndarray:
    """float64 sigmoid of a pair-logit matrix: M(x_i, x_j) of eq. 3 (NaN stays NaN)."""
    return expit(np.asarray(pair_logits, dtype=np.float64))


def array_fingerprint(*arrays) -> str:
    """16 hex digits of sha256 over the dtype, shape and bytes of each array or tensor."""
    h = hashlib.sha256()
    for a in arrays:
        if isinstance(a, torch.Tensor):
            t = a.detach().cpu().contiguous()
            h.update(repr((str(t.dtype), tuple(t.shape))).encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().data)
        else:
            a = np.ascontiguousarray(a)
            h.update(repr((str(a.dtype), a.shape)).encode())
            h.update(a.data)
    return h.hexdigest()[:16]


def pair_matrix_config(emb, model_key: str) -> dict:
    """What a cached pair matrix depends on: the model, the embeddings' bytes and the code."""
    if not isinstance(model_key, str) or not model_key:
        raise ValueError(f"model_key must be the homogeneity model's cache_key (a non-empty str), got {model_key!r}")
    return {"kind": "pair-matrix", "model": artifacts.config_hash(model_key), "features": array_fingerprint(emb),
            "code": artifacts.code_fingerprint(__name__)}


def cached_pairwise_homogeneity(emb, score_sets: ScoreSets, *, profile, model_key: str, batch_sets: int = 4096,
                                device=None, progress: bool = False) -> np.ndarray:
    """``pairwise_homogeneity``, saved atomically under ``artifacts/<profile>/pair-matrix/`` and
    loaded on a rerun; keyed by the model's ``cache_key``, the embeddings' bytes and the code."""
    config = pair_matrix_config(emb, model_key)
    path = artifacts.cache_path(profile, "pair-matrix", artifacts.config_hash(config), ".pt")
    if path.exists():
        return artifacts.load_torch(path, expect_config=config)["pair_logits"].numpy()
    out = pairwise_homogeneity(emb, score_sets, batch_sets=batch_sets, device=device, progress=progress)
    artifacts.atomic_save_torch({"pair_logits": torch.from_numpy(out)}, path, config=config)
    return out


def pair_summary(pair_logits: np.ndarray, labels) -> pd.DataFrame:
    """Table of the eq. 3 pair test: for same-class and different-class pairs, their count,
    mean probability and the percentage judged homogeneous (probability > 0.5)."""
    import pandas as pd

    labels = np.asarray(labels)
    p = pair_probabilities(pair_logits)
    if p.shape != (len(labels), len(labels)):
        raise ValueError(f"pair_logits must be [N, N] for the {len(labels)} labels, got shape {p.shape}")
    off = ~np.eye(len(labels), dtype=bool)
    same = (labels[:, None] == labels[None, :]) & off
    rows = []
    for name, mask in (("same class", same), ("different class", off & ~same)):
        vals = p[mask]
        rows.append({"pairs": name, "count": int(mask.sum()),
                     "mean probability": float(vals.mean()) if vals.size else float("nan"),
                     "% above 0.5": 100.0 * float((vals > THRESHOLD).mean()) if vals.size else float("nan")})
    return pd.DataFrame(rows).set_index("pairs")
