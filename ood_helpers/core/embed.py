"""Encode a dataset once and keep the embeddings on disk.

Every evaluation of the class-homogeneity paper (OOD classification, clustering, the
nearest-neighbour baselines) compares images through a fixed encoder, so each image is
encoded once per (model, data) pair and reused. The cache key covers the caller's model
key, a fingerprint of the model's weights and the data fingerprint, so a retrained model
or a changed dataset never reuses stale embeddings.
"""

from __future__ import annotations

import hashlib

import torch
from torch import nn
from tqdm.auto import tqdm

from ood_helpers.core.profile import Profile, resolve_device
from ood_helpers.core.data.loading import LoaderSettings, eval_loader
from ood_helpers.core.data.transforms import to_float
from ood_helpers.core import artifacts


def weights_fingerprint(model: nn.Module) -> str:
    """A short hex digest of every parameter and buffer of ``model`` (names, shapes, values)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def _encode_batches(encoder: nn.Module | None, batches, *, device: str, progress: bool, total: int | None = None
                    ) -> torch.Tensor:
    """Embeddings [N, D] (float32, CPU) of an iterable of float image batches [n, C, H, W]: the one
    encoding loop behind ``encode_images`` (slices of a tensor) and ``encode_dataset`` (a DataLoader).
    On CUDA the encoder runs under bfloat16 autocast; on the CPU in float32."""
    module = encoder if isinstance(encoder, nn.Module) else None
    encode = (lambda x: x) if encoder is None else encoder.encode if hasattr(encoder, "encode") else encoder
    was_training = module.training if module is not None else False
    if module is not None:
        module.to(device).eval()
    chunks = []
    try:
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=str(device).startswith("cuda")):
            for batch in tqdm(batches, total=total, desc="encode", disable=not progress, leave=False):
                batch = batch.to(device, non_blocking=True).float()
                chunks.append(encode(batch).reshape(len(batch), -1).float().cpu())
    finally:
        if module is not None:
            module.train(was_training)
    if not chunks:
        raise ValueError("cannot encode an empty image set")
    return torch.cat(chunks)


def encode_images(encoder: nn.Module | None, images: torch.Tensor, *, batch_size: int = 256,
                  device: str = "cpu", progress: bool = False) -> torch.Tensor:
    """Embeddings [N, D] (float32, on the CPU) of float images [N, C, H, W] in [0, 1].

    ``encoder`` may be a plain module returning [n, D] (or [n, ...], flattened), an object with
    an ``encode`` method (the homogeneity model), or None for image space (flattened pixels).
    The encoder runs in eval mode without gradients; its training mode is restored after.
    """
    if images.ndim != 4:
        raise ValueError(f"images must be a [N, C, H, W] tensor, got shape {tuple(images.shape)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if encoder is None:
        return images.float().reshape(len(images), -1).cpu()
    starts = range(0, len(images), batch_size)
    return _encode_batches(encoder, (images[s:s + batch_size] for s in starts), device=device, progress=progress,
                           total=len(starts))


def encode_dataset(encoder: nn.Module | None, imageset, *, positions=None, batch_size: int = 256,
                   device: str = "cpu", settings=None, loader=None, progress: bool = False) -> torch.Tensor:
    """Embeddings [N, D] (float32, CPU) of the evaluation views of ``imageset`` (at ``positions``,
    default all), in that order; ``encoder`` as in ``encode_images``.

    An in-memory set is sliced; an on-disk set (``FolderImageSet``) is streamed through a
    DataLoader (``settings``: workers and pinned memory; or a ready ``loader`` from
    ``data.loading.eval_loader``, e.g. one with persistent workers reused at every evaluation),
    so it is never decoded whole.
    """
    if getattr(imageset, "in_memory", True) and loader is None:
        images = imageset.images if positions is None else imageset.images[torch.as_tensor(positions).long()]
        return encode_images(encoder, to_float(images), batch_size=batch_size, device=device, progress=progress)
    loader = loader or eval_loader(imageset, batch_size, settings or LoaderSettings(), positions)
    # uint8 goes to the device, the float conversion happens there (4x less to copy)
    return _encode_batches(encoder, (to_float(x.to(device, non_blocking=True)) for x, _ in loader), device=device,
                           progress=progress, total=len(loader))


def embed_dataset(encoder: nn.Module | None, imageset, *, profile: Profile, key: str,
                  batch_size: int | None = None) -> torch.Tensor:
    """Embeddings [N, D] (float32, CPU) of every image of ``imageset``, in dataset order.

    Read from ``artifacts/<profile>/embeddings/`` when an entry for the same ``key`` (the
    caller's name for the model, e.g. its config hash), weights and data exists; otherwise
    computed on the profile's device and written atomically. ``encoder=None`` means image
    space (flattened pixels), which is returned directly and never cached.
    """
    if not isinstance(profile, Profile):
        raise TypeError(f"profile must be an ood_helpers.core.profile.Profile, got {type(profile).__name__}")
    if not isinstance(key, str) or not key:
        raise ValueError(f"key must be a non-empty string naming the model, got {key!r}")
    if len(imageset) == 0:
        raise ValueError(f"dataset {getattr(imageset, 'name', '?')!r} is empty; nothing to embed")
    if encoder is None:
        return encode_dataset(None, imageset)
    module = encoder if isinstance(encoder, nn.Module) else getattr(encoder, "encoder", None)
    weights = weights_fingerprint(module) if isinstance(module, nn.Module) else "no-weights"
    expect = {"model_key": key, "weights": weights, "data": imageset.fingerprint(),
              "code": artifacts.code_fingerprint(__name__)}
    cache_key = artifacts.config_hash({"kind": "embeddings", **expect})
    path = artifacts.cache_path(profile, "embeddings", cache_key, ".pt")
    if path.exists():
        return artifacts.load_torch(path, expect_config=expect)["embeddings"]

    device = resolve_device(profile)
    emb = encode_dataset(encoder, imageset, device=device, batch_size=batch_size or max(profile.batch_size, 1) * 2,
                         settings=LoaderSettings.for_profile(profile, device), progress=len(imageset) > 20_000)
    artifacts.atomic_save_torch({"embeddings": emb}, path, config=expect)
    return emb
