"""Networks of paper 002 (its Fig. 3 did not survive extraction, so the shapes are ours, after DEC/IDEC):
an MLP autoencoder for 28x28 grey images, a small conv autoencoder for 32x32 colour, a linear classifier
on the embedding and the learnable cluster centres mu_j; plus batched scoring (reconstruction error,
embedding, softmax)."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn


class MLPAutoencoder(nn.Module):
    """Encoder D-h1-..-hk-d (ReLU, linear embedding), mirrored decoder with a linear output (DEC style)."""

    def __init__(self, in_shape: tuple[int, ...], hidden: tuple[int, ...], embed_dim: int):
        super().__init__()
        self.in_shape = tuple(in_shape)
        dims = [math.prod(in_shape), *hidden, embed_dim]
        enc, dec = [], []
        for a, b in zip(dims[:-1], dims[1:]):
            enc += [nn.Linear(a, b), nn.ReLU()]
        for a, b in zip(dims[::-1][:-1], dims[::-1][1:]):
            dec += [nn.Linear(a, b), nn.ReLU()]
        self.encoder = nn.Sequential(*enc[:-1])  # no ReLU on the embedding
        self.decoder = nn.Sequential(*dec[:-1])  # linear reconstruction

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x.flatten(1))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z).view(-1, *self.in_shape)


class ConvAutoencoder(nn.Module):
    """32x32 colour: Conv(c,w,4,s2)-Conv(w,2w)-Conv(2w,4w)-Linear -> d; mirrored with ConvTranspose2d,
    sigmoid output (spec §2.3, width w = 32 there)."""

    def __init__(self, in_shape: tuple[int, int, int] = (3, 32, 32), width: int = 32, embed_dim: int = 64):
        super().__init__()
        c, h, w = in_shape
        if h % 8 or w % 8:
            raise ValueError(f"ConvAutoencoder needs a height and width divisible by 8 (e.g. 32x32), got {in_shape}")
        self.in_shape, self._grid = tuple(in_shape), (4 * width, h // 8, w // 8)
        flat = math.prod(self._grid)
        self.encoder = nn.Sequential(
            nn.Conv2d(c, width, 4, 2, 1), nn.ReLU(), nn.Conv2d(width, 2 * width, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(2 * width, 4 * width, 4, 2, 1), nn.ReLU(), nn.Flatten(), nn.Linear(flat, embed_dim))
        self.fc = nn.Linear(embed_dim, flat)
        self.decoder = nn.Sequential(
            nn.ReLU(), nn.ConvTranspose2d(4 * width, 2 * width, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(width, c, 4, 2, 1), nn.Sigmoid())

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.fc(z).view(-1, *self._grid))


class EmbeddingOODModel(nn.Module):
    """Autoencoder + linear classifier on z + learnable centres mu_j [K, d] (initialised by k-means later)."""

    def __init__(self, autoencoder: nn.Module, embed_dim: int, num_classes: int):
        super().__init__()
        self.autoencoder = autoencoder
        self.classifier = nn.Linear(embed_dim, num_classes)
        self.centres = nn.Parameter(torch.zeros(num_classes, embed_dim))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(z, reconstruction, logits)."""
        z = self.autoencoder.encode(x)
        return z, self.autoencoder.decode(z), self.classifier(z)


def build_model(arch: str, in_shape: tuple[int, ...], num_classes: int, *, hidden: tuple[int, ...] = (500, 500, 2000),
                embed_dim: int = 10, conv_width: int = 32) -> EmbeddingOODModel:
    """``arch`` "mlp" (28x28 grey, DEC/IDEC shapes by default) or "conv" (32x32 colour)."""
    if arch == "mlp":
        ae = MLPAutoencoder(in_shape, tuple(hidden), embed_dim)
    elif arch == "conv":
        ae = ConvAutoencoder(tuple(in_shape), conv_width, embed_dim)
    else:
        raise ValueError(f"arch must be 'mlp' or 'conv', got {arch!r}")
    return EmbeddingOODModel(ae, embed_dim, num_classes)


def reconstruction_error(x: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
    """The OOD score J_r(x) = ||x - x'||_2^2 per sample (summed over pixels; larger = more OOD)."""
    return ((x - recon) ** 2).flatten(1).sum(1)


@torch.no_grad()
def score(model: EmbeddingOODModel, images: torch.Tensor, *, batch_size: int = 1024, device: str | None = None) -> dict:
    """Eval-mode pass over float ``images`` [N, ...]: {"error": J_r float64 [N], "z": [N, d], "probs": softmax [N, K]}."""
    device = device or next(model.parameters()).device  # where the model lives
    was_training = model.training
    model.eval()
    errs, zs, probs = [], [], []
    for start in range(0, len(images), batch_size):
        x = images[start:start + batch_size].to(device)
        z, recon, logits = model(x)
        errs.append(reconstruction_error(x, recon).double().cpu())
        zs.append(z.cpu())
        probs.append(torch.softmax(logits.double(), 1).cpu())
    model.train(was_training)
    cat = lambda parts, d: torch.cat(parts).numpy() if parts else np.zeros((0, d))  # noqa: E731
    return {"error": cat(errs, 0).reshape(-1), "z": cat(zs, model.centres.shape[1]),
            "probs": cat(probs, model.centres.shape[0])}
