"""embed_dataset: encodes once, caches on disk keyed by model, weights and data."""

import pytest
import torch
from torch import nn

from ood_helpers.core import paths
from ood_helpers.core.data import ImageSet
from ood_helpers.core.embed import embed_dataset, encode_images, weights_fingerprint
from ood_helpers.core.profile import get_profile


@pytest.fixture()
def profile(tmp_path, monkeypatch):
    monkeypatch.setenv("OOD_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    return get_profile("smoke")


def _imageset(n=10, seed=0):
    gen = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 1, 4, 4), dtype=torch.uint8, generator=gen)
    return ImageSet(images, torch.arange(n) % 2, ["a", "b"], "toy")


class Counting(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(16, 3), nn.BatchNorm1d(3))
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.net(x)


def test_embeddings_equal_a_direct_forward_and_are_cached(profile):
    ds = _imageset()
    enc = Counting()
    enc.train()
    emb = embed_dataset(enc, ds, profile=profile, key="toy-encoder", batch_size=4)
    assert enc.training  # mode restored
    enc.eval()
    with torch.no_grad():
        direct = enc.net(ds.images.float() / 255)
    torch.testing.assert_close(emb, direct)
    calls = enc.calls
    again = embed_dataset(enc, ds, profile=profile, key="toy-encoder")
    assert enc.calls == calls  # read from disk, not recomputed
    assert torch.equal(again, emb)
    assert len(list((paths.artifacts_dir("smoke") / "embeddings").glob("*.pt"))) == 1


def test_cache_key_follows_weights_data_and_key(profile):
    ds = _imageset()
    enc = Counting()
    first = embed_dataset(enc, ds, profile=profile, key="m")
    with torch.no_grad():
        enc.net[1].weight.add_(1.0)
    changed = embed_dataset(enc, ds, profile=profile, key="m")
    assert not torch.allclose(first, changed)
    embed_dataset(enc, _imageset(seed=1), profile=profile, key="m")
    embed_dataset(enc, ds, profile=profile, key="other")
    assert len(list((paths.artifacts_dir("smoke") / "embeddings").glob("*.pt"))) == 4


def test_object_with_encode_method_and_image_space():
    class WithEncode(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(16, 2)

        def encode(self, x):
            return self.lin(x.flatten(1)) * 0 + 7.0

    images = torch.rand(5, 1, 4, 4)
    assert torch.equal(encode_images(WithEncode(), images), torch.full((5, 2), 7.0))
    assert torch.equal(encode_images(None, images), images.reshape(5, 16))


def test_weights_fingerprint_changes_with_any_weight():
    a = nn.Linear(3, 2)
    before = weights_fingerprint(a)
    assert weights_fingerprint(a) == before
    with torch.no_grad():
        a.bias[0] += 1e-3
    assert weights_fingerprint(a) != before


def test_bad_input_is_refused(profile):
    with pytest.raises(ValueError, match="non-empty string"):
        embed_dataset(nn.Flatten(), _imageset(), profile=profile, key="")
    with pytest.raises(TypeError, match="Profile"):
        embed_dataset(nn.Flatten(), _imageset(), profile="smoke", key="k")
    with pytest.raises(ValueError, match=r"\[N, C, H, W\]"):
        encode_images(nn.Flatten(), torch.zeros(3, 4))
