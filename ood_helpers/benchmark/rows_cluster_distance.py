"""Rows from notebook 08 (paper 001): distance of an image's embedding to the clusters of the training
embeddings, after cross-entropy (CE) training and after supervised contrastive (SupCon) training.

Each row trains notebook 08's way (``cluster_distance.training.train_method`` on a fresh encoder of
``cluster_distance.encoders.build_encoder``: the first architecture of the profile's ``archs``, i.e. the
small CNN in quick and smoke, ResNet-18 in cifar and paper), embeds with ``cluster_distance.grid.embed_model``
(penultimate features, cached by ``embed``) and scores with ``cluster_distance.strategies`` (``build_clusterings``
/ ``fit_scorer``): s(x) = min over clusters c of d(f(x), mu_c), larger = more unknown. The trial's arrays
become an ``IdSplit`` of ``ImageSet`` parts (train / val / test, the unknown test images as its one OOD set).

Configurations, from paper 001 (we hold its abstract only, spec 003-001 part B), never from our test results:

- ``cd_ce``: class centroids (S1) + cosine distance (1 - cos to the normalised class mean). The abstract names
  one configuration as a winner, "standard cross-entropy paired with cosine similarity" (on CIFAR-100), and
  notebook 08 takes CE + cosine + S1 as that reference; S1 is the clustering a classifier's classes give.
- ``cd_supcon``: class centroids (S1) + Mahalanobis distance with one covariance shared by the classes. The
  abstract names no distance for SupCon; it says it reproduces "the outstanding results for contrastive
  training on CIFAR-10", which are SupCon features scored by Mahalanobis distance to the class means with a
  shared covariance (SSD+, Sehwag et al. 2021, after Lee et al. 2018). That reading is ours, not the paper's words.

pred_known: CE's softmax head (argmax of its logits); SupCon: notebook 08's linear probe (scikit-learn
logistic regression on the standardised training embeddings), not a nearest centroid.

``CHANGES``: notebook 08's settings as they are (one architecture is taken, ``archs[0]``), except the cifar
profile's step counts (see ``CHANGES``). Measured on a
quick-size trial (1,920 training images) on one core under load: CE (150 steps) about 4 s, SupCon (60 steps,
two views an image) about 6 s, each including embedding and scoring.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from ood_helpers.cluster_distance.datasets import IdSplit
from ood_helpers.cluster_distance.grid import embed_model
from ood_helpers.cluster_distance.settings import CLUSTER_DISTANCE, KEY, ClusterDistanceSettings
from ood_helpers.cluster_distance.strategies import build_clusterings, fit_scorer
from ood_helpers.cluster_distance.training import train_method
from ood_helpers.core.data.imageset import ImageSet
from ood_helpers.core.settings import settings_for
from ood_helpers.core.seeding import seed_everything
from ood_helpers.benchmark.rows import Row
from ood_helpers.benchmark.trial import BenchmarkTrial, RowScores

# profile -> setting changes on top of notebook 08's: in cifar, 2,000 steps a network instead of 20,000 (ten
# networks, 2 rows x 5 trials, must fit the profile's hour on one GPU; notebook 08 trains the full schedule)
CHANGES: dict[str, dict] = {"cifar": {"ce_steps": 2000, "contrastive_steps": 2000}}
UNKNOWN = "unknown classes (test)"
CONFIG = {"ce": ("centroids", "cosine"), "supcon": ("centroids", "mahalanobis")}  # (clustering kind, distance)


CODE = (__name__,)  # this module and its import closure (artifacts.code_fingerprint)


def row_settings(profile) -> ClusterDistanceSettings:
    """Notebook 08's settings for ``profile`` with ``CHANGES``, then the profile's ``extra["cluster_distance"]``."""
    table = {name: replace(s, **CHANGES.get(name, {})) for name, s in CLUSTER_DISTANCE.items()}
    return settings_for(profile, KEY, table)


def recipe_for(t: BenchmarkTrial) -> str:
    """The augmentation family of ``data.transforms``: "cifar" (crop pad 4 + flip) for colour, "digits" else."""
    return "cifar" if t.channels == 3 else "digits"


def id_split(t: BenchmarkTrial) -> IdSplit:
    """The trial as notebook 08's ``IdSplit``: known train / val / test parts, the unknown test images as OOD."""
    d = t.data
    names = list(d.names_known) or [str(k) for k in range(d.num_classes)]
    part = lambda x, y, what: ImageSet(x, y, names, f"{d.name} trial {t.trial} {what}")  # noqa: E731
    unknown = ImageSet(d.x_unknown, np.zeros(len(d.x_unknown), np.int64), ["unknown"],
                       f"{d.name} trial {t.trial} unknown")
    return IdSplit(f"{d.name}-trial{t.trial}", part(d.x_train, d.y_train, "train"), part(d.x_val, d.y_val, "val"),
                   part(d.x_test, d.y_test, "test"), ood={UNKNOWN: unknown}, recipe=recipe_for(t))


def scorer(method: str, train_emb: np.ndarray, train_labels: np.ndarray, seed: int):
    """The fitted (clustering, distance) scorer of ``CONFIG[method]`` on the training embeddings."""
    kind, distance = CONFIG[method]
    clusterings = build_clusterings(train_emb, train_labels, sub_clusters=(), kmeans_factors=(), knn_ks=(), seed=seed)
    (clustering,) = [c for c in clusterings if c.kind == kind]
    return fit_scorer(clustering, distance, train_emb)


def _run(method: str):
    def run(t: BenchmarkTrial) -> RowScores:
        s = row_settings(t.profile)
        split = id_split(t)
        seed_everything(t.seed)
        start = time.perf_counter()
        model = train_method(method, s.archs[0], split, s, profile_name=t.profile, seed=t.seed, device=t.device)
        trained = time.perf_counter() - start
        (emb,), _ = embed_model(model, split, t.profile, projection=False, seed=t.seed)
        fitted = scorer(method, emb.train, emb.train_labels, t.seed)
        s_known, _ = fitted.score(emb.test)
        s_unknown, _ = fitted.score(emb.ood[UNKNOWN])
        kind, distance = CONFIG[method]
        note = (f"{s.archs[0]} encoder, {model.steps} steps ({model.seconds:.1f} s when trained); S1 class {kind} + "
                f"{distance}; pred_known: {'softmax head' if method == 'ce' else 'linear probe'}")
        return RowScores(s_known, s_unknown, emb.pred["test"], train_seconds=trained,
                         score_seconds=time.perf_counter() - start - trained, note=note)
    return run


ROWS = [
    Row("cd_ce", "Distance to clusters, CE", "001", "08", True, _run("ce"), CODE, settings=(KEY,)),
    Row("cd_supcon", "Distance to clusters, SupCon", "001", "08", True, _run("supcon"), CODE, settings=(KEY,)),
]
