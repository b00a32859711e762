"""The baseline of paper 002's Tables I-II: Hendrycks & Gimpel's (2017) *abnormality module*, reimplemented
from the recipe of their public MNIST notebook (spec §3.3; nothing copied): a GELU MLP classifier with an
auxiliary decoder from its second layer (phase 1: 0.9 CE + 0.1 squared reconstruction error), then, with
those weights frozen, a small risk network on [logits, squared residual, h2] trained to tell clean training
images (normal) from distorted ones (Gaussian noise, blur, 90/270-degree rotation). Score: the risk logit
negated (larger = more OOD). Epochs are ours per profile (H&G: 30 + 15); both phases run through ``train.fit``."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.transforms.v2.functional as TF
from torch import nn

from ood_helpers.core import artifacts
from ood_helpers.core.seeding import seed_everything
from ood_helpers.core.train import fit
from ood_helpers.embedding_ood.training import data_fingerprint

CACHE_KIND = "embedding-ood"
BATCH = 128  # H&G


class AuxiliaryDecoderNet(nn.Module):
    """784-256-256-256-K GELU classifier; decoder from h2: 256-128-256-256-784 (GELU, linear output)."""

    def __init__(self, num_classes: int, in_dim: int = 784):
        super().__init__()
        self.l1, self.l2, self.l3 = nn.Linear(in_dim, 256), nn.Linear(256, 256), nn.Linear(256, 256)
        self.out = nn.Linear(256, num_classes)
        self.decoder = nn.Sequential(nn.Linear(256, 128), nn.GELU(), nn.Linear(128, 256), nn.GELU(),
                                     nn.Linear(256, 256), nn.GELU(), nn.Linear(256, in_dim))

    def forward(self, x):
        """(logits, reconstruction [N, D], h2)."""
        h2 = F.gelu(self.l2(F.gelu(self.l1(x.flatten(1)))))
        return self.out(F.gelu(self.l3(h2))), self.decoder(h2), h2


class RiskHead(nn.Module):
    """[logits, (x - x')^2, h2] -> three linear maps summed into 512 (GELU) -> 128 (GELU) -> 1 logit ("normal")."""

    def __init__(self, num_classes: int, in_dim: int = 784):
        super().__init__()
        self.a, self.b, self.c = nn.Linear(num_classes, 512), nn.Linear(in_dim, 512), nn.Linear(256, 512)
        self.rest = nn.Sequential(nn.GELU(), nn.Linear(512, 128), nn.GELU(), nn.Linear(128, 1))

    def forward(self, logits, residual2, h2):
        return self.rest(self.a(logits) + self.b(residual2) + self.c(h2)).squeeze(1)


class AbnormalityModule(nn.Module):
    def __init__(self, num_classes: int):
        super().__init__()
        self.net, self.risk = AuxiliaryDecoderNet(num_classes), RiskHead(num_classes)

    def forward(self, x):
        """Risk logit (large = normal)."""
        with torch.no_grad():
            logits, recon, h2 = self.net(x)
        return self.risk(logits, (x.flatten(1) - recon) ** 2, h2)


def distort(x: torch.Tensor, labels: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
    """H&G's abnormal examples, split of a batch: 1/2 Gaussian noise (sigma ~ U(0.9, 1.2)), 1/4 Gaussian blur
    (sigma = 5 U(0.9, 1.0) px), 1/4 rotated by 90 or 270 degrees (a 0, alike when rotated, gets noise sigma 1)."""
    n = len(x)
    out = x.clone()
    n_noise, n_blur = n // 2, n // 4
    sig = torch.from_numpy(rng.uniform(0.9, 1.2, n_noise).astype(np.float32))[:, None, None, None]
    out[:n_noise] += sig * torch.from_numpy(rng.standard_normal(x[:n_noise].shape).astype(np.float32))
    for i in range(n_noise, n_noise + n_blur):
        out[i] = TF.gaussian_blur(x[i], kernel_size=[21, 21], sigma=[float(5 * rng.uniform(0.9, 1.0))] * 2)
    for i in range(n_noise + n_blur, n):
        if labels[i] == 0:
            out[i] = x[i] + torch.from_numpy(rng.standard_normal(x[i].shape).astype(np.float32))
        else:
            out[i] = torch.rot90(x[i], k=1 if rng.random() < 0.5 else 3, dims=(-2, -1))
    return out


def train_abnormality(images: torch.Tensor, labels, num_classes: int, *, epochs: int, risk_epochs: int, seed: int,
                      profile, device: str = "cpu") -> AbnormalityModule:
    """Phase 1 then phase 2 (cached: a rerun loads both checkpoints)."""
    labels = np.asarray(labels, np.int64)

    config = {"stage": "abnormality", "num_classes": num_classes, "epochs": epochs, "risk_epochs": risk_epochs,
              "seed": seed, "data": data_fingerprint(images, labels), "code": artifacts.code_fingerprint(__name__)}
    key = f"abnormality-{artifacts.config_hash(config)}"
    result_path = artifacts.cache_path(profile, CACHE_KIND, key + "-result")
    model = AbnormalityModule(num_classes).to(device)
    if result_path.exists():
        model.load_state_dict(artifacts.load_torch(result_path, expect_config=config)["state"])
        return model.eval()
    seed_everything(seed)
    x, y = images.to(device), torch.from_numpy(labels).to(device)
    per_epoch = math.ceil(len(images) / BATCH)

    def phase1(m, idx):
        t = torch.from_numpy(idx).to(device)
        logits, recon, _ = m.net(x[t])
        return 0.9 * F.cross_entropy(logits, y[t]) + 0.1 * F.mse_loss(recon, x[t].flatten(1))

    def draw(step, rng):
        return rng.choice(len(images), size=min(BATCH, len(images)), replace=False)

    fit(model, torch.optim.Adam(model.net.parameters(), lr=1e-3), loss_fn=phase1, steps=epochs * per_epoch,
        ckpt_path=artifacts.cache_path(profile, CACHE_KIND, key + "-phase1"), config=config, batch_fn=draw, rng=seed,
        device=device, desc="H&G phase 1", progress=False)
    model.net.requires_grad_(False)

    def risk_batch(step, rng):
        idx = rng.choice(len(images), size=min(3 * (BATCH // 3), len(images)), replace=False)
        clean, bad = idx[: len(idx) // 3], idx[len(idx) // 3:]
        xb = torch.cat([x[torch.from_numpy(clean)], distort(x[torch.from_numpy(bad)].cpu(), labels[bad], rng).to(device)])
        target = torch.cat([torch.ones(len(clean)), torch.zeros(len(bad))]).to(device)
        return xb, target

    def phase2(m, batch):
        xb, target = batch
        return F.binary_cross_entropy_with_logits(m(xb), target)

    fit(model, torch.optim.Adam(model.risk.parameters(), lr=1e-3), loss_fn=phase2, steps=risk_epochs * per_epoch,
        ckpt_path=artifacts.cache_path(profile, CACHE_KIND, key + "-phase2"), config=config, batch_fn=risk_batch,
        rng=seed + 1, device=device, desc="H&G phase 2", progress=False)
    artifacts.atomic_save_torch({"state": {k: v.cpu() for k, v in model.state_dict().items()}}, result_path, config=config)
    for phase in ("-phase1", "-phase2"):  # resume states (with Adam moments), no longer needed
        artifacts.cache_path(profile, CACHE_KIND, key + phase).unlink(missing_ok=True)
    return model.eval()


@torch.no_grad()
def abnormality_score(model: AbnormalityModule, images: torch.Tensor, batch_size: int = 1024,
                      device: str | None = None) -> np.ndarray:
    """-risk logit per image (larger = more OOD)."""
    device = device or next(model.parameters()).device
    model.eval()
    return np.concatenate([-model(images[i:i + batch_size].to(device)).double().cpu().numpy()
                           for i in range(0, len(images), batch_size)])
