"""Scorers of OOD classification: every method maps episodes to class scores the same way.

Convention (every scorer, every method): ``scorer(episodes) -> scores [Q, C]``, float32 on the
CPU, one row per query and one column per candidate class, *larger = more likely the query's
class*. Scores are logits or negated distances / similarities, never probabilities: a sigmoid
saturates to 1.0 and ties classes it still ranks apart. The prediction is the row's argmax.

Eq. 1 (class homogeneity) is here; the classifiers' logits too; the nearest-neighbour scorers
live in ``homogeneity.neighbors`` and follow the same convention. Scorers hold their features on
the device from construction (once per trial), so scoring a chunk copies only indices there.
On CUDA the Transformer and cosine similarities run in bfloat16 (``low_precision``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Protocol

import numpy as np
import torch
from tqdm.auto import tqdm

from ood_helpers.homogeneity.episodes import Episodes, columns_of
from ood_helpers.homogeneity.model import HomogeneityModel

SetLogits = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""``(emb [B, K, D], lengths [B]) -> logits [B, >=1]``: per-set logits whose column 0 (the
set's first position) ranks classes; logits, never probabilities."""


class EpisodeScorer(Protocol):
    """``(episodes) -> scores [Q, C]`` (float32, CPU): logits or negated distances, larger =
    more likely the query's class (see the module docstring)."""

    def __call__(self, episodes: Episodes) -> torch.Tensor: ...


def compute_dtype(device) -> torch.dtype:
    """bfloat16 on CUDA, float32 elsewhere: the dtype features are kept in for eq. 1 and cosine NN."""
    return torch.bfloat16 if torch.device(device).type == "cuda" else torch.float32


def low_precision(device):
    """bf16 autocast on CUDA; on the CPU nothing changes (float32)."""
    if torch.device(device).type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


# ===== eq. 1: the homogeneity model at position 0 =====


def _first_position(layer: torch.nn.TransformerEncoderLayer, x: torch.Tensor, pad) -> torch.Tensor:
    """[B, 1, d]: ``layer(x)`` at position 0 only (eval mode: no dropout)."""
    x0 = x[:, :1]
    if layer.norm_first:
        h = layer.norm1(x)
        x0 = x0 + layer.self_attn(h[:, :1], h, h, key_padding_mask=pad, need_weights=False)[0]
        return x0 + layer.linear2(layer.activation(layer.linear1(layer.norm2(x0))))
    x0 = layer.norm1(x0 + layer.self_attn(x0, x, x, key_padding_mask=pad, need_weights=False)[0])
    return layer.norm2(x0 + layer.linear2(layer.activation(layer.linear1(x0))))


def position0_logits(model, emb: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Logits [B, 1] at position 0 of each set: ``model.set_logits(emb, lengths)[:, :1]``
    without computing the other positions in the last Transformer layer.

    Only the set's output at position 0 is used for classification, so the last layer runs
    its attention with one query row and its feed-forward on one position (about 1.7x faster
    for two layers); mirrors ``HomogeneityModel.set_logits``, and the tests hold it to the
    naive loop over the full model.
    """
    x, mask = model.tokens(emb, lengths)
    pad = None if bool(mask.all()) else ~mask
    layers = model.transformer.layers
    for layer in layers[:-1]:
        x = layer(x, src_key_padding_mask=pad)
    x = _first_position(layers[-1], x, pad)
    if model.transformer.norm is not None:
        x = model.transformer.norm(x)
    # the final linear layer in fp32: bf16 would round logits of 4-8 to steps of ~0.03 before the top-k
    with torch.autocast(x.device.type, enabled=False):
        return model.head(x.float()).squeeze(-1)


def set_scorer(model) -> SetLogits:
    """The :data:`SetLogits` of ``model``: position 0 only for the homogeneity model, else its
    ``set_logits``."""
    if isinstance(model, HomogeneityModel):
        return lambda emb, lengths: position0_logits(model, emb, lengths)
    if not hasattr(model, "set_logits"):
        raise TypeError(f"{type(model).__name__} has no set_logits(emb, lengths); pass score_sets= explicitly")
    return model.set_logits


class HomogeneityScorer:
    """Eq. 1 as an :class:`EpisodeScorer`: the logit at position 0 of every set [supports..., query].

    ``emb`` [N, D] holds the cached embeddings (``model.encode``) of the evaluated images; it is
    moved to ``device`` (in :func:`compute_dtype`) here, once. ``score_sets`` defaults to
    :func:`set_scorer` (``model`` may be None when one is given). ``batch_sets`` sets run per
    forward pass; the model runs in eval mode, its training mode restored after each call.
    """

    def __init__(self, model, emb: torch.Tensor, *, score_sets: SetLogits | None = None, batch_sets: int = 4096,
                 device: str = "cpu", progress: bool = False):
        if not isinstance(batch_sets, int) or batch_sets < 1:
            raise ValueError(f"batch_sets (sets per forward pass) must be a positive int, got {batch_sets!r}")
        if emb.ndim != 2:
            raise ValueError(f"emb must be [N, D] embeddings, got shape {tuple(emb.shape)}")
        self.model, self.device, self.batch_sets, self.progress = model, device, batch_sets, progress
        self.score_sets = score_sets or set_scorer(model)
        self.emb = emb.to(device=device, dtype=compute_dtype(device))

    def __call__(self, episodes: Episodes) -> torch.Tensor:
        model, dev = self.model, self.device
        n_q, n_c, n_sup = episodes.supports.shape
        was_training = getattr(model, "training", False)
        if isinstance(model, torch.nn.Module):
            model.to(dev).eval()
        supports = torch.as_tensor(episodes.supports, device=dev)
        queries = torch.as_tensor(episodes.queries, device=dev)
        lengths = torch.full((self.batch_sets,), n_sup + 1, device=dev, dtype=torch.long)
        out = torch.empty(n_q * n_c, dtype=torch.float32, device=dev)
        try:
            with torch.inference_mode(), low_precision(dev):
                starts = range(0, n_q * n_c, self.batch_sets)
                for start in tqdm(starts, desc="sets", disable=not self.progress, leave=False):
                    ids = torch.arange(start, min(start + self.batch_sets, n_q * n_c), device=dev)
                    q, c = ids // n_c, ids % n_c
                    # One row of image indices per set: the k - 1 supports, then the query last.
                    rows = torch.cat([supports[q, c], queries[q, None]], dim=1)
                    out[start:start + len(rows)] = self.score_sets(self.emb[rows], lengths[:len(rows)])[:, 0].float()
        finally:
            if isinstance(model, torch.nn.Module):
                model.train(was_training)
        return out.reshape(n_q, n_c).cpu()


def homogeneity_scores(model, emb: torch.Tensor, episodes: Episodes, *, score_sets: SetLogits | None = None,
                       batch_sets: int = 4096, device: str = "cpu", progress: bool = False) -> torch.Tensor:
    """Scores [Q, C] of eq. 1 for one set of episodes (a one-off :class:`HomogeneityScorer`)."""
    return HomogeneityScorer(model, emb, score_sets=score_sets, batch_sets=batch_sets, device=device,
                             progress=progress)(episodes)


# ===== the classifiers (upper bounds) =====


class ClassifierScorer:
    """The classifier's logits of each query for the candidate classes (an :class:`EpisodeScorer`);
    -inf for candidates it was never trained on. ``logits`` [N, M] for every image (kept on the
    CPU: one row per query is all a chunk reads), ``model_classes`` [M] the class id of each output."""

    def __init__(self, logits: torch.Tensor, model_classes):
        self.logits = logits.detach().float().cpu()
        self.model_classes = np.asarray(model_classes, dtype=np.int64)
        if self.logits.ndim != 2 or self.logits.shape[1] != len(self.model_classes):
            raise ValueError(f"logits must be [N, M] with M = {len(self.model_classes)} model classes, "
                             f"got shape {tuple(self.logits.shape)}")

    def __call__(self, episodes: Episodes) -> torch.Tensor:
        cols = torch.as_tensor(columns_of(episodes.candidates, self.model_classes))
        out = self.logits[torch.as_tensor(episodes.queries)][:, cols.clamp(min=0)]
        out[:, cols < 0] = float("-inf")
        return out


def classifier_scores(logits: torch.Tensor, model_classes, episodes: Episodes) -> torch.Tensor:
    """Scores [Q, C] of a classifier for one set of episodes (a one-off :class:`ClassifierScorer`)."""
    return ClassifierScorer(logits, model_classes)(episodes)
