"""Rows from notebook 07 (paper 002): the plain autoencoder (the paper's ablation) and the full model
(AE + DEC-style clustering loss + linear classifier), both scored by the reconstruction error
J_r(x) = ||x - x'||^2 summed over pixels (``embedding_ood.autoencoder.score``), as the paper scores.

Training is notebook 07's: ``embedding_ood.training.pretrain`` (reconstruction only, Adam, then k-means
centres matched to labels) and ``finetune`` of one ``ladder()`` variant ("AE" or "full") from those
pretrained weights, with ``embedding_ood.settings`` for the profile. Both rows call ``pretrain`` with the
same data, seed and settings, so the second row loads the first one's pretrained AE from the
``embedding-ood`` cache: the two rows share the pretraining, as notebook 07's ladder does, and train it once.
Networks: the MLP AE (``hidden``, ``embed_dim``) for grey images of any size, the conv AE (``cifar_width``,
``cifar_embed_dim``, ``cifar_epochs`` for both phases) for colour images whose sides divide by 8 (CIFAR-10),
as notebook 07's CIFAR rows. Images are uint8 / 255 (notebook 07's [0, 1] floats).

``CHANGES``: none. Notebook 07's settings are used as they are in every profile: measured on quick-size
trials (1,920 training images) on one core under load, the plain-AE row (pretraining + 10 joint epochs) takes
about 1.5 s and the full-model row (pretraining loaded, 10 joint epochs) about 0.8 s.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import torch

from ood_helpers.embedding_ood import autoencoder as AE
from ood_helpers.embedding_ood.settings import EMBEDDING_OOD, KEY, EmbeddingOODSettings
from ood_helpers.embedding_ood.training import Architecture, finetune, ladder, pretrain
from ood_helpers.core.settings import settings_for
from ood_helpers.core.seeding import seed_everything
from ood_helpers.benchmark.rows import Row
from ood_helpers.benchmark.trial import BenchmarkTrial, RowScores

CHANGES: dict[str, dict] = {}  # profile -> setting changes on top of notebook 07's (none needed, see above)


CODE = (__name__,)  # this module and its import closure (artifacts.code_fingerprint)


def row_settings(profile) -> EmbeddingOODSettings:
    """Notebook 07's settings for ``profile`` with this module's ``CHANGES``, then the profile's
    ``extra["embedding_ood"]`` overrides."""
    table = {name: replace(s, **CHANGES.get(name, {})) for name, s in EMBEDDING_OOD.items()}
    return settings_for(profile, KEY, table)


def unavailable(t: BenchmarkTrial) -> str | None:
    c, h, w = t.image_shape
    if c == 1 or (h % 8 == 0 and w % 8 == 0):
        return None
    return (f"the conv autoencoder of notebook 07 needs colour images with sides divisible by 8 (e.g. 32x32), "
            f"got {c}x{h}x{w}")


def architecture(t: BenchmarkTrial, s: EmbeddingOODSettings) -> tuple[Architecture, EmbeddingOODSettings]:
    """(network, settings): the MLP AE for grey images, the conv AE with the CIFAR epochs for colour ones."""
    why = unavailable(t)
    if why:
        raise ValueError(why)
    shape = t.image_shape
    if shape[0] == 1:
        return Architecture("mlp", shape, t.num_classes, tuple(s.hidden), s.embed_dim), s
    arch = Architecture("conv", shape, t.num_classes, embed_dim=s.cifar_embed_dim, conv_width=s.cifar_width)
    return arch, replace(s, pretrain_epochs=s.cifar_epochs, joint_epochs=s.cifar_epochs)


def as_float(images: torch.Tensor) -> torch.Tensor:
    return images.float() / 255.0


def train(t: BenchmarkTrial, variant_name: str):
    """(model, pretraining seconds, joint seconds) of the ``ladder()`` variant ``variant_name`` on the trial's
    training images (the pretraining loaded from the cache when the other row made it)."""
    arch, s = architecture(t, row_settings(t.profile))
    variant = ladder(s.lambda_e, s.lambda_c, s.alpha_interp)[variant_name]
    x, y = as_float(t.data.x_train), t.data.y_train.numpy()
    start = time.perf_counter()
    pre = pretrain(x, y, arch, epochs=s.pretrain_epochs, lr=s.pretrain_lr, batch_size=s.batch_size, seed=t.seed,
                   profile=t.profile, kmeans_n_init=s.kmeans_n_init, device=t.device)
    mid = time.perf_counter()
    model, _ = finetune(pre, x, y, arch, variant, epochs=s.joint_epochs, lr=s.joint_lr, momentum=s.momentum,
                        batch_size=s.batch_size, seed=t.seed, profile=t.profile, device=t.device)
    return model.eval(), mid - start, time.perf_counter() - mid


def _run(variant_name: str, classifies: bool):
    def run(t: BenchmarkTrial) -> RowScores:
        seed_everything(t.seed)
        model, pre_s, joint_s = train(t, variant_name)
        start = time.perf_counter()
        known = AE.score(model, as_float(t.data.x_test), device=t.device)
        unknown = AE.score(model, as_float(t.data.x_unknown), device=t.device)
        pred = np.asarray(known["probs"]).argmax(1) if classifies else None
        note = (f"{model.autoencoder.__class__.__name__}; pretraining {pre_s:.1f} s (one per trial, shared by both AE "
                f"rows through notebook 07's cache), joint phase '{variant_name}' {joint_s:.1f} s")
        return RowScores(known["error"], unknown["error"], pred, train_seconds=pre_s + joint_s,
                         score_seconds=time.perf_counter() - start, note=note)
    return run


ROWS = [
    Row("ae_recon", "Autoencoder, reconstruction error", "002 (ablation: plain AE)", "07", False, _run("AE", False),
        CODE, unavailable, settings=(KEY,)),
    Row("ae_full", "AE + clustering loss, full model", "002", "07", True, _run("full", True), CODE, unavailable,
        settings=(KEY,)),
]
