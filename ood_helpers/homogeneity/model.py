"""The class-homogeneity model of paper 000 (section 3.3, appendix A.1).

A ResNet encoder embeds each image of a set; a learned marker vector (query) or
non-marker vector (support) is concatenated to each embedding, projected to the
Transformer's width, read by a Transformer encoder, and a linear layer + sigmoid gives,
per position, the probability that all images of the set share one class. The query is
the last valid position (``lengths - 1``); padded positions are masked out.
"""

from __future__ import annotations

import torch
from torch import nn


def valid_mask(lengths: torch.Tensor, k: int) -> torch.Tensor:
    """bool [B, k]: True at the first ``lengths[b]`` positions of each set."""
    return torch.arange(k, device=lengths.device)[None, :] < lengths[:, None]


class HomogeneityModel(nn.Module):
    """Encoder + Transformer + sigmoid head; ``forward`` gives per-position probabilities [B, K]."""

    def __init__(
        self,
        encoder: nn.Module,
        embed_dim: int,
        layers: int = 6,
        heads: int = 16,
        head_dim: int = 64,
        marker_dim: int | None = None,
        dropout: float = 0.1,
    ):
        super().__init__()
        for name, value in (("embed_dim", embed_dim), ("layers", layers), ("heads", heads), ("head_dim", head_dim)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        self.encoder = encoder
        self.embed_dim = embed_dim
        d_model = heads * head_dim
        marker_dim = marker_dim or max(8, embed_dim // 8)
        # row 0: support images, row 1: the compared (query) image
        self.marker = nn.Embedding(2, marker_dim)
        self.project = nn.Linear(embed_dim + marker_dim, d_model)
        layer = nn.TransformerEncoderLayer(
            d_model, heads, dim_feedforward=4 * d_model, dropout=dropout, batch_first=True, norm_first=False
        )
        self.transformer = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(d_model, 1)
        # every architecture choice, for the cache key of a trained model
        self.architecture = {"embed_dim": embed_dim, "layers": layers, "heads": heads, "head_dim": head_dim,
                             "marker_dim": marker_dim, "ffn_dim": 4 * d_model, "dropout": dropout,
                             "norm_first": False, "activation": "relu"}

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Embeddings [N, D] of images [N, C, H, W]."""
        return self.encoder(images).flatten(1)

    def tokens(self, emb: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(Transformer input [B, K, heads * head_dim], valid mask [B, K]) for embedded sets [B, K, D]:
        each embedding with its support / query marker concatenated, projected."""
        if emb.ndim != 3 or emb.shape[-1] != self.embed_dim:
            raise ValueError(f"emb must be [B, K, {self.embed_dim}], got shape {tuple(emb.shape)}")
        batch, k, _ = emb.shape
        lengths = torch.as_tensor(lengths, device=emb.device).long().reshape(-1)
        if lengths.shape[0] != batch or int(lengths.min()) < 1 or int(lengths.max()) > k:
            raise ValueError(f"lengths must be {batch} ints in 1..{k} (the set sizes), got {lengths.tolist()}")
        mask = valid_mask(lengths, k)
        positions = torch.arange(k, device=emb.device)[None, :].expand(batch, k)
        is_query = (positions == (lengths - 1)[:, None]).long()
        x = torch.cat([emb, self.marker(is_query).to(emb.dtype)], dim=-1)
        return self.project(x), mask

    def set_logits(self, emb: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Logits [B, K] for embedded sets [B, K, D]; padded positions hold 0 and must be masked."""
        x, mask = self.tokens(emb, lengths)
        x = self.transformer(x, src_key_padding_mask=~mask)
        return self.head(x).squeeze(-1).masked_fill(~mask, 0.0)

    def score_embeddings(self, emb: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Probabilities [B, K] in [0, 1] that each set is class-homogeneous; 0 at padded positions."""
        lengths = torch.as_tensor(lengths, device=emb.device).long().reshape(-1)
        probs = torch.sigmoid(self.set_logits(emb, lengths))
        return probs.masked_fill(~valid_mask(lengths, emb.shape[1]), 0.0)

    def pool_logits(self, pool: torch.Tensor, index: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Logits [B, K] for sets given as ``index`` [B, K] into distinct images ``pool`` [U, C, H, W].

        Each distinct image is encoded once, then gathered into its sets.
        """
        emb = self.encode(pool)
        return self.set_logits(emb[index], lengths)

    def forward(self, images: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Probabilities [B, K] for image sets [B, K, C, H, W] (positions >= lengths are padding)."""
        if images.ndim != 5:
            raise ValueError(f"images must be [B, K, C, H, W], got shape {tuple(images.shape)}")
        batch, k = images.shape[:2]
        lengths = torch.as_tensor(lengths, device=images.device).long().reshape(-1)
        mask = valid_mask(lengths, k)
        codes = self.encode(images[mask])
        emb = codes.new_zeros(batch, k, codes.shape[-1])
        emb[mask] = codes
        return self.score_embeddings(emb, lengths)
