"""Class homogeneity (paper 000) as an open-set detector: a use the main paper suggests and never measures.

The homogeneity model needs images of the trial's domain, so it is trained here per trial, the way notebook 03
builds it for MNIST-pairs (``homogeneity.training.get_homogeneity_model`` with ``head_pretrain_steps`` (homogeneity settings)): the encoder
is the trial's seen-class classifier, here notebook 06's cross-entropy network of the same trial (its flattened
features before the last layer, frozen, as the quick profile's head stage freezes the ResNet), and the
Transformer + head of ``homogeneity.model.HomogeneityModel`` learn on sets of k = ``set_size`` (homogeneity settings) embedded training
images of the known classes (variant 1, BCE of eq. 5, ``train.fit``; no validation-based selection: the last
step is kept). Test time is eq. 1 with the known classes as candidates: each test image gets, per known class,
the logit of the set [k - 1 training images of the class, the image], averaged over ``eq1_draws`` draws of the
k - 1; the OOD score is 1 - sigmoid(the best class's logit) (homogeneous with no known class = unknown), and the
closed-set class is the best one. The Transformer's size is the profile's; its steps and sets a step are this
module's ``CHANGES`` (the head trains on cached embeddings, milliseconds a step).
"""

from __future__ import annotations

import time

import numpy as np
import torch
from scipy.special import expit
from torch import nn

from ood_helpers.core import artifacts
from ood_helpers.cac.experiment import recipe
from ood_helpers.cac.settings import cac_settings
from ood_helpers.cac.training import Preprocess, train_trial
from ood_helpers.core.embed import encode_images, weights_fingerprint
from ood_helpers.homogeneity.episodes import Episodes
from ood_helpers.homogeneity.scorers import HomogeneityScorer
from ood_helpers.homogeneity.loss import homogeneity_bce
from ood_helpers.homogeneity.model import HomogeneityModel
from ood_helpers.homogeneity.sampling import HomogeneitySampler, SetBatch
from ood_helpers.core.train import fit
from ood_helpers.benchmark.rows import Row
from ood_helpers.benchmark.settings import benchmark_settings
from ood_helpers.benchmark.trial import BenchmarkTrial, RowScores
from ood_helpers.homogeneity.settings import homogeneity_settings

# Transformer steps and sets a step on the frozen embeddings, per profile
CHANGES = {"smoke": {"steps": 30, "sets": 16}, "quick": {"steps": 400, "sets": 64},
           "cifar": {"steps": 3000, "sets": 256}, "paper": {"steps": 10000, "sets": 512}}


CODE = (__name__,)  # this module and its import closure (artifacts.code_fingerprint)


def set_size(t: BenchmarkTrial, labels: np.ndarray) -> int:
    """k: the profile's set size, or fewer when a known class has fewer training images."""
    return min(homogeneity_settings(t.profile).set_size, int(np.bincount(labels).min()))


def _train_head(t: BenchmarkTrial, emb: torch.Tensor, labels: np.ndarray, k: int,
                encoder_key: str) -> tuple[HomogeneityModel, float]:
    p, hs = t.profile, homogeneity_settings(t.profile)
    budget = CHANGES.get(p.name, CHANGES["quick"])
    torch.manual_seed(t.seed)
    model = HomogeneityModel(nn.Identity(), emb.shape[1], hs.transformer_layers, hs.transformer_heads,
                             hs.transformer_head_dim)
    config = {"kind": "benchmark-homogeneity", "code": artifacts.code_fingerprint(__name__), "encoder": encoder_key,
              "architecture": model.architecture, "k": k, "variant": 1, "lr": hs.lr_homogeneity, **budget,
              "seed": t.seed}
    ckpt = artifacts.cache_path(p, "benchmark-homogeneity", artifacts.config_hash(config))
    sampler = HomogeneitySampler(labels, k, 1)

    def batch_fn(step: int, _rng) -> SetBatch:
        return sampler.sample(budget["sets"], np.random.default_rng([t.seed, 5, step]))

    def loss_fn(net: HomogeneityModel, batch: SetBatch) -> torch.Tensor:
        lengths = batch.lengths.to(t.device)
        return homogeneity_bce(net.set_logits(batch.gather(emb.to(t.device)), lengths), batch.targets.to(t.device),
                               lengths)

    optimizer = torch.optim.Adam(model.parameters(), lr=hs.lr_homogeneity)
    result = fit(model, optimizer, batch_fn=batch_fn, loss_fn=loss_fn, steps=budget["steps"], ckpt_path=ckpt,
                 config=config, seed=t.seed, device=t.device, desc=f"homogeneity t{t.trial}", progress=False)
    return model.to("cpu").eval(), result.seconds


def eq1_class_logits(model: HomogeneityModel, table: torch.Tensor, train_labels: np.ndarray, queries: np.ndarray,
                     classes: int, k: int, draws: int, rng: np.random.Generator) -> np.ndarray:
    """[Q, classes] eq. 1 logits of every query (row index into ``table``) against k - 1 training images
    (rows 0..len(train_labels)-1 of ``table``) of each class, averaged over ``draws`` draws."""
    pools = [np.flatnonzero(train_labels == c) for c in range(classes)]
    total = np.zeros((len(queries), classes))
    for _ in range(draws):
        supports = np.stack([np.stack([rng.choice(pool, k - 1, replace=False) for pool in pools])
                             for _ in range(len(queries))])
        episodes = Episodes(queries=queries, labels=np.full(len(queries), -1), candidates=np.arange(classes),
                            supports=supports)
        total += HomogeneityScorer(model, table)(episodes).double().numpy()
    return total / draws


def run(t: BenchmarkTrial) -> RowScores:
    d, s = t.data, cac_settings(t.profile)
    rcp = recipe(d.name, s)
    ce, info = train_trial(d, "ce", rcp, profile=t.profile, seed=t.seed, device=t.device)
    ce.to("cpu").eval()
    pre = Preprocess(rcp, d.x_train)
    train_emb = encode_images(ce.features, pre.eval_view(d.x_train), batch_size=512)  # flattened features
    labels = d.y_train.numpy()
    k = set_size(t, labels)
    model, head_seconds = _train_head(t, train_emb, labels, k, weights_fingerprint(ce))
    trained = info["seconds"] + head_seconds
    start = time.perf_counter()
    queries_emb = encode_images(ce.features, pre.eval_view(torch.cat([d.x_test, d.x_unknown])), batch_size=512)
    table = torch.cat([train_emb, queries_emb])
    queries = np.arange(len(train_emb), len(table))
    draws = benchmark_settings(t.profile).eq1_draws
    logits = eq1_class_logits(model, table, labels, queries, d.num_classes, k, draws, np.random.default_rng([t.seed, 6]))
    score = expit(-logits.max(1))  # 1 - sigmoid(best logit), without cancellation for large logits
    n = len(d.y_test)
    layers = homogeneity_settings(t.profile).transformer_layers
    note = (f"encoder: notebook 06's CE network of the trial (frozen); Transformer {layers} "
            f"layers trained here on sets of k = {k}; eq. 1 over {draws} draw(s) of k - 1 exemplars")
    return RowScores(score[:n], score[n:], logits[:n].argmax(1), train_seconds=trained,
                     score_seconds=time.perf_counter() - start, note=note)


ROWS = [Row("homogeneity", "Class homogeneity, 1 - max eq. 1", "000 (beyond the paper)", "03", True, run, CODE,
            settings=("homogeneity", "cac"))]
