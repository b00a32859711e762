"""The trained networks of paper 000 as the evaluators read them (the orchestration layer).

``evaluate`` scores features and never trains; this module asks ``pipeline`` for the cached
(or freshly trained) networks and hands them over: the models of Tables 1-3, Table 3's
per-dataset classifiers, and the inputs of Table 4.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ood_helpers.core import distributed
from ood_helpers.homogeneity.classifier import train_classifier
from ood_helpers.core.data import class_split, load_dataset, many_class_split, select_classes, test_ranges
from ood_helpers.core.embed import embed_dataset
from ood_helpers.homogeneity.classification import Models
from ood_helpers.homogeneity.clustering import ClusteringInputs
from ood_helpers.homogeneity.pair_matrix import model_scorer
from ood_helpers.homogeneity.paper_values import M_ALL, M_SEEN
from ood_helpers.core.networks.resnet import encoder_from_classifier
from ood_helpers.homogeneity.training import CLASSIFIER_KINDS, classifier_accuracy, get_classifier, get_homogeneity_model
from ood_helpers.core.profile import resolve_device
from ood_helpers.core.seeding import trial_seed
from ood_helpers.homogeneity.settings import homogeneity_settings, with_homogeneity_settings


def load_models(profile, model: int = 0, *, classifier_model: int | None = None, progress: bool = True) -> Models:
    """The profile's trained networks of training replicate ``model`` (the trial seeding every network), from
    the cache of notebooks 02-03 (or trained now); ``classifier_model`` takes the classifiers (and the
    homogeneity model's starting encoder) from another replicate."""
    clf_model = model if classifier_model is None else classifier_model
    clf_all, meta_all = get_classifier(profile, "all", clf_model, progress=progress)
    clf_seen, meta_seen = get_classifier(profile, "seen", clf_model, progress=progress)
    hom, _ = get_homogeneity_model(profile, 1, model, progress=progress, classifier_trial=clf_model)
    return Models(
        profile=profile.name,
        homogeneity=hom,
        pretrained=encoder_from_classifier(clf_seen),
        classifiers={M_ALL: (clf_all, np.asarray(meta_all["class_ids"])),
                     M_SEEN: (clf_seen, np.asarray(meta_seen["class_ids"]))},
        keys={"finetuned": hom.cache_key, "pretrained": meta_seen["key"], M_ALL: meta_all["key"],
              M_SEEN: meta_seen["key"]},
    )


def load_replicates(profile, *, progress: bool = True) -> list[Models]:
    """``load_models`` of each of the profile's ``models`` training replicates, in order."""
    return [load_models(profile, m, progress=progress) for m in range(profile.models)]


def train_replicates(profile, variant: int = 1, *, progress: bool = True) -> list[dict]:
    """Notebook 03: the homogeneity model (set ``variant``) of each of the profile's ``models`` training
    replicates, trained or loaded from the cache (notebook 04 evaluates them); their histories, in order."""
    return [get_homogeneity_model(profile, variant, m, progress=progress)[1] for m in range(profile.models)]


def train_classifiers(profile, networks: int = 0) -> tuple[list[dict], list[int]]:
    """Notebook 02: ``networks`` classifiers of each kind (0: the profile's ``models``; "seen", then "all";
    the trial sets the seed), trained or loaded from the cache. Returns their test accuracy records
    (``classifier_accuracy``) and their seeds, in the same order."""
    records, seeds = [], []
    for which in CLASSIFIER_KINDS:
        for trial in range(networks or profile.models):
            model, meta = get_classifier(profile, which, trial)
            seeds.append(meta["seed"])
            records += classifier_accuracy(profile, model, meta)
    return records, seeds


def own_classifier_profile(profile):
    """The profile Table 3's per-dataset classifiers train under: ``own_classifier_steps`` steps
    (0: ``pretrain_steps``) at ``own_classifier_image_size`` px (0: ``image_size``), with the small stem
    at 64 px and below. The paper's ImageNet schedule (450k steps at 224 px) would waste days on
    MNIST-sized data."""
    hs = homogeneity_settings(profile)
    size = hs.own_classifier_image_size or profile.image_size
    own = dataclasses.replace(profile, image_size=size,
                              small_stem=size <= 64 if hs.own_classifier_image_size else profile.small_stem)
    return with_homogeneity_settings(own, pretrain_steps=hs.own_classifier_steps or hs.pretrain_steps)


OWN_CLASSIFIER_JOB = "ood_helpers.homogeneity.trained_models:own_classifier_job"


def own_classifier_job(profile, name: str) -> None:
    """One torchrun rank of ``own_classifier`` (``core.worker`` target)."""
    own_classifier(profile, name, progress=distributed.context().is_main)


def own_classifier(profile, name: str, *, progress: bool = True):
    """(ResNet-18 trained on dataset ``name``'s train split, its class ids, the profile it trained
    under): Table 3's upper bound, trained under ``own_classifier_profile(profile)``; feed it that
    profile's images."""
    own = own_classifier_profile(profile)
    train = load_dataset(name, "train", profile=own)
    net = train_classifier(own, train, seed=trial_seed(profile.seed, 0), key_extra={"table3": name},
                           progress=progress, job=(OWN_CLASSIFIER_JOB, {"name": name}))
    return net, np.arange(len(train.classes)), own


def load_clustering_inputs(profile, *, progress: bool = True) -> ClusteringInputs:
    """Loads (or trains, through ``pipeline``) the variant-2 homogeneity model and the seen / all
    classifiers, and encodes every test-split image of the profile's test classes with each."""
    split = class_split(profile)
    full = many_class_split(profile, "test")
    test = select_classes(full, split.test, relabel=False)
    model, history = get_homogeneity_model(profile, 2, progress=progress)
    features = {}
    for which, name in (("all", "all"), ("seen", "pretrained")):
        classifier, meta = get_classifier(profile, which, progress=progress)
        features[name] = embed_dataset(encoder_from_classifier(classifier), test, profile=profile, key=meta["key"])
    features["fine-tuned"] = embed_dataset(model, test, profile=profile, key=model.cache_key)
    features["images"] = test.float_images()
    device = resolve_device(profile)
    model.to(device)
    return ClusteringInputs(
        labels=test.targets.numpy().astype(np.int64),
        class_names=list(full.classes),
        ranges=test_ranges(split, homogeneity_settings(profile).eval_ranges),
        features=features,
        emb=features["fine-tuned"].to(device),
        score_sets=model_scorer(model),
        history=history,
        model_key=model.cache_key,
    )


def replicate_keys(replicates: list[Models]) -> list[dict]:
    """The cache keys of every replicate's networks, for the config of the tables they make."""
    return [models.keys for models in replicates]
