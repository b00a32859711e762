"""The Transformer pretrained alone on cached embeddings, and the validation numbers of both stages."""

from __future__ import annotations

import numpy as np
import torch

from ood_helpers.homogeneity import training as pipeline
from ood_helpers.homogeneity.head_stage import eq1_episodes, pretrain_head, validation_metrics, validation_sets
from ood_helpers.homogeneity.model import HomogeneityModel
from ood_helpers.core.networks.resnet import encoder_from_classifier
from ood_helpers.core.profile import get_profile
from ood_helpers.homogeneity.settings import homogeneity_settings

from tests.support import profile_with


def test_validation_metrics_match_a_loop_over_sets():
    p = get_profile("smoke")
    val = pipeline.many_class_split(p, "val")
    targets = val.targets.numpy()
    torch.manual_seed(0)
    model = HomogeneityModel(torch.nn.Identity(), 6, 1, 2, 4).eval()
    table = torch.randn(len(val), 6)
    sets = validation_sets(p, 1, 0, targets)
    episodes = eq1_episodes(p, 1, 0, targets)
    with torch.no_grad():
        got = validation_metrics(model, table, sets, episodes)
        for group, name in (("seen", "val_seen_acc"), ("val", "val_unseen_acc")):
            batch = sets[group]
            right = []
            for b in range(len(batch.lengths)):
                n = int(batch.lengths[b])
                members = batch.unique[batch.index[b, :n]]
                prob = model.score_embeddings(table[members][None], torch.tensor([n]))[0, 0]
                right.append(bool(prob > 0.5) == bool(batch.targets[b] > 0.5))
            assert abs(got[name] - np.mean(right)) < 1e-9
        hits, k = [], homogeneity_settings(p).set_size
        for i, q in enumerate(episodes.queries):
            logits = [model.set_logits(table[np.append(episodes.supports[i, j], q)][None],
                                       torch.tensor([k]))[0, 0] for j in range(len(episodes.candidates))]
            hits.append(int(np.argmax(logits)) == episodes.true_columns[i])
    assert abs(got["val_unseen_eq1"] - np.mean(hits)) < 1e-9


def test_joint_training_starts_from_the_pretrained_head(tmp_path, monkeypatch):
    monkeypatch.setenv("OOD_ARTIFACTS_DIR", str(tmp_path))
    p = profile_with("smoke", head_pretrain_steps=4, homogeneity_steps=0)
    model, history = pipeline.get_homogeneity_model(p, 1, progress=False)
    classifier, meta = pipeline.get_classifier(p, "seen", progress=False)
    head, head_history, key = pretrain_head(p, 1, encoder_from_classifier(classifier), meta["key"],
                                            pipeline.many_class_split(p, "train"), pipeline.many_class_split(p, "val"),
                                            seed=history["config"]["seed"], progress=False)
    assert history["config"]["head"] == key and head_history == history["head_history"]
    assert [r["step"] for r in head_history] == [0, 1, 2, 3, 4]
    weights = model.state_dict()
    assert head and all(torch.equal(weights[name], value) for name, value in head.items())
    # the encoder is the classifier's, untouched by the head stage
    encoder = encoder_from_classifier(classifier).state_dict()
    assert all(torch.equal(weights[f"encoder.{name}"], value) for name, value in encoder.items())
    # without the head stage, the same profile trains another model under another key
    plain, plain_history = pipeline.get_homogeneity_model(profile_with("smoke", homogeneity_steps=0), 1, progress=False)
    assert plain_history["config"]["head"] is None and plain_history["key"] != history["key"]
    assert not torch.equal(plain.state_dict()["head.weight"], weights["head.weight"])
