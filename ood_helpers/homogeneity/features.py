"""The networks compared in Tables 1-3 of paper 000 (``Models``), what the methods need from one dataset
(``Features``: embeddings in image, pretrained and fine-tuned space, the classifiers' logits, cached on disk)
and each method's scorer for a trial (``method_scorers``). ``classification`` scores trials with them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from ood_helpers.core.embed import embed_dataset
from ood_helpers.homogeneity.neighbors import NearestNeighbourScorer
from ood_helpers.homogeneity.paper_values import M_HOM, M_NN_COS_FT, M_NN_COS_PRE, M_NN_EUC_FT, M_NN_EUC_PRE, M_NN_IMAGE
from ood_helpers.homogeneity.scorers import ClassifierScorer, EpisodeScorer, HomogeneityScorer

_NN_SPACE = {M_NN_IMAGE: ("image", "euclidean"), M_NN_EUC_PRE: ("pretrained", "euclidean"),
             M_NN_EUC_FT: ("finetuned", "euclidean"), M_NN_COS_PRE: ("pretrained", "cosine"),
             M_NN_COS_FT: ("finetuned", "cosine")}


@dataclass
class Models:
    """The networks compared in Tables 1-3, all trained for one profile.

    ``homogeneity``: the class-homogeneity model (variant 1) whose ``encode`` gives the
    fine-tuned embeddings; ``pretrained``: the seen-class ResNet-18 without its classifier;
    ``classifiers``: method name -> (ResNet-18 classifier, class id of each output);
    ``keys``: cache keys of each network (for the embedding and trial caches).
    """

    profile: str
    homogeneity: torch.nn.Module
    pretrained: torch.nn.Module
    classifiers: dict
    keys: dict


def check_models(models: Models, profile, imageset=None) -> None:
    """Raises ValueError when ``models`` were built for another profile (name, input channels
    or ResNet width) or cannot read ``imageset``'s images."""
    if models.profile != profile.name:
        raise ValueError(f"the models were trained for profile {models.profile!r}, not {profile.name!r}; "
                         f"load them with load_models(get_profile({profile.name!r}))")
    for name, net in [("pretrained encoder", models.pretrained), ("homogeneity model", models.homogeneity),
                      *[(m, net) for m, (net, _) in models.classifiers.items()]]:
        conv = next(m for m in net.modules() if isinstance(m, torch.nn.Conv2d))
        if conv.in_channels != profile.channels or conv.out_channels != profile.resnet_width:
            raise ValueError(
                f"{name} takes {conv.in_channels}-channel images at ResNet width {conv.out_channels}, but profile "
                f"{profile.name!r} has channels={profile.channels}, resnet_width={profile.resnet_width}: "
                "a model from another profile")
    if imageset is not None and imageset.image_shape[0] != profile.channels:
        raise ValueError(f"dataset {imageset.name!r} has {imageset.image_shape[0]}-channel images, the models "
                         f"expect {profile.channels}; load it with load_dataset(..., profile=profile)")


@dataclass
class Features:
    """Everything the methods need from one evaluated dataset: ``targets`` [N] class ids,
    ``embeddings`` ("image", "pretrained", "finetuned": [N, D]) and ``logits`` (method ->
    ([N, M] classifier logits, class id of each of the M outputs))."""

    targets: np.ndarray
    embeddings: dict
    logits: dict

    def to(self, device) -> "Features":
        """The embeddings on ``device`` (logits stay on the CPU): move once per dataset, not per chunk."""
        return dataclasses.replace(self, embeddings={k: v.to(device) for k, v in self.embeddings.items()})


def dataset_features(models: Models, imageset, profile, *, with_classifiers: bool = True) -> Features:
    """Embeddings (and the classifiers' logits) of every image of ``imageset``, cached on disk per model and data."""
    check_models(models, profile, imageset)
    embeddings = {
        "image": embed_dataset(None, imageset, profile=profile, key="image-space"),
        "pretrained": embed_dataset(models.pretrained, imageset, profile=profile, key=f"pretrained-{models.keys['pretrained']}"),
        "finetuned": embed_dataset(models.homogeneity, imageset, profile=profile, key=f"finetuned-{models.keys['finetuned']}"),
    }
    logits = {}
    for method, (net, class_ids) in (models.classifiers.items() if with_classifiers else ()):
        key = f"logits-{getattr(net, 'cache_key', None) or models.keys.get(method, method)}"
        logits[method] = (embed_dataset(net, imageset, profile=profile, key=key), np.asarray(class_ids))
    return Features(imageset.targets.numpy().astype(np.int64), embeddings, logits)


def method_scorers(models: Models, feats: Features, methods, *, device: str = "cpu", batch_sets: int = 4096,
                   progress: bool = False) -> dict[str, EpisodeScorer]:
    """method name -> its scorer for one trial (features moved to ``device`` here, once)."""
    unknown = [m for m in methods if m not in feats.logits and m not in _NN_SPACE and m != M_HOM]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; known: {[*feats.logits, *_NN_SPACE, M_HOM]}")
    out = {}
    for m in methods:
        if m in feats.logits:
            out[m] = ClassifierScorer(*feats.logits[m])
        elif m == M_HOM:
            out[m] = HomogeneityScorer(models.homogeneity, feats.embeddings["finetuned"], device=device,
                                       batch_sets=batch_sets, progress=progress)
        else:
            space, metric = _NN_SPACE[m]
            out[m] = NearestNeighbourScorer(feats.embeddings[space], metric, device=device)
    return out
