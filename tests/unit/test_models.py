"""ResNet-18 builder and the class-homogeneity model."""

from __future__ import annotations

import pytest
import torch
import torchvision

from ood_helpers.homogeneity.model import HomogeneityModel
from ood_helpers.core.networks.resnet import build_resnet18, encoder_from_classifier, feature_dim


def test_full_width_matches_torchvision_resnet18():
    ours = build_resnet18(1000, in_channels=3, width=64, small_stem=False)
    ref = torchvision.models.resnet18(num_classes=1000)
    ours_shapes = {k: tuple(v.shape) for k, v in ours.state_dict().items()}
    ref_shapes = {k: tuple(v.shape) for k, v in ref.state_dict().items()}
    assert ours_shapes == ref_shapes
    ours.load_state_dict(ref.state_dict())
    x = torch.rand(2, 3, 64, 64)
    ours.eval(), ref.eval()
    assert torch.allclose(ours(x), ref(x), atol=1e-5)


def test_narrow_small_stem_network():
    model = build_resnet18(7, in_channels=1, width=8, small_stem=True).eval()
    assert feature_dim(model) == 64
    assert [m.out_channels for m in (model.layer1[0].conv1, model.layer2[0].conv1, model.layer3[0].conv1,
                                     model.layer4[0].conv1)] == [8, 16, 32, 64]
    x = torch.rand(3, 1, 28, 56)
    assert model(x).shape == (3, 7)
    encoder = encoder_from_classifier(model).eval()
    codes = encoder(x)
    assert codes.shape == (3, 64)
    # the encoder's output is what the classification layer reads
    assert torch.allclose(model.fc(codes), model(x), atol=1e-5)
    # a copy: training the encoder leaves the classifier alone
    with torch.no_grad():
        encoder.conv1.weight.add_(1.0)
    assert not torch.equal(encoder.conv1.weight, model.conv1.weight)


@pytest.mark.parametrize("kwargs, bad", [({"width": 0}, "width"), ({"num_classes": 0}, "num_classes"),
                                         ({"in_channels": 2.5}, "in_channels")])
def test_bad_resnet_arguments(kwargs, bad):
    args = {"num_classes": 5, "in_channels": 1, "width": 8, "small_stem": True, **kwargs}
    with pytest.raises(ValueError, match=bad):
        build_resnet18(**args)


def small_model(dropout=0.0) -> HomogeneityModel:
    torch.manual_seed(0)
    classifier = build_resnet18(5, in_channels=1, width=4, small_stem=True)
    return HomogeneityModel(encoder_from_classifier(classifier), feature_dim(classifier), layers=2, heads=2,
                            head_dim=8, dropout=dropout).eval()


def test_support_outputs_are_permutation_equivariant():
    model = small_model()
    emb = torch.randn(3, 6, model.embed_dim)
    lengths = torch.tensor([6, 6, 6])
    probs = model.score_embeddings(emb, lengths)
    perm = torch.tensor([3, 0, 4, 1, 2, 5])  # permutes the 5 support images, the query stays last
    permuted = model.score_embeddings(emb[:, perm], lengths)
    assert torch.allclose(permuted, probs[:, perm], atol=1e-5)
    # the marker makes the query special: moving it to another position changes the outputs
    swapped = torch.tensor([5, 1, 2, 3, 4, 0])
    assert not torch.allclose(model.score_embeddings(emb[:, swapped], lengths)[:, 0], probs[:, 5], atol=1e-4)


def test_padding_is_masked_not_truncated():
    model = small_model()
    emb = torch.randn(2, 6, model.embed_dim)
    lengths = torch.tensor([3, 6])
    probs = model.score_embeddings(emb, lengths)
    garbage = emb.clone()
    garbage[0, 3:] = 1e3 * torch.randn(3, model.embed_dim)
    again = model.score_embeddings(garbage, lengths)
    assert torch.allclose(again, probs, atol=1e-5)
    alone = model.score_embeddings(emb[:1, :3], torch.tensor([3]))
    assert torch.allclose(alone, probs[:1, :3], atol=1e-5)
    assert torch.all(probs[0, 3:] == 0) and torch.all((probs[1] > 0) & (probs[1] < 1))


def test_forward_equals_encode_distinct_images_once():
    model = small_model()
    pool = torch.rand(7, 1, 28, 56)
    index = torch.tensor([[0, 1, 2, 3], [4, 1, 5, 0], [6, 2, 0, 0]])
    lengths = torch.tensor([4, 4, 2])
    with torch.no_grad():
        once = torch.sigmoid(model.pool_logits(pool, index, lengths)).masked_fill(index.new_tensor(
            [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 1, 1]]).bool(), 0.0)
        direct = model(pool[index], lengths)
    assert torch.allclose(once, direct, atol=1e-5)


def test_bad_lengths_and_shapes():
    model = small_model()
    with pytest.raises(ValueError, match=r"lengths must be 2 ints in 1\.\.4"):
        model.score_embeddings(torch.randn(2, 4, model.embed_dim), torch.tensor([5, 2]))
    with pytest.raises(ValueError, match="emb must be"):
        model.score_embeddings(torch.randn(2, 4, model.embed_dim + 1), torch.tensor([4, 2]))
    with pytest.raises(ValueError, match=r"images must be \[B, K, C, H, W\]"):
        model(torch.rand(4, 1, 28, 56), torch.tensor([4]))
