"""The grid of notebook 08: every (training, clustering, distance) over cached embeddings, per ID set,
architecture and trial; thresholds T1-T3; the separation diagnostics and the training cost.

Only training costs time (``training.train_method``, cached); each model embeds each set once
(``embed.embed_dataset``, cached) and every score after that is seconds. Records are plain dicts, one per
(ID set, arch, trial, training row, clustering, distance, OOD set), gathered by ``run_grid`` into
DataFrames. A "training row" is a method and an embedding: the penultimate (pooled backbone) features,
and for SupCon / SimCLR also the normalised projection-head output, "(proj)". SimCLR under a clustering
that uses labels (S1, S2) is a diagnostic, not a method (spec B8.8): ``diagnostic`` marks those rows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ood_helpers.core.embed import embed_dataset
from ood_helpers.core.metrics.ood import ood_metrics
from ood_helpers.core.profile import resolve_device
from ood_helpers.core.seeding import seed_everything, trial_seed
from ood_helpers.cluster_distance.datasets import STAND_INS, load_id_split
from ood_helpers.cluster_distance.diagnostics import separation
from ood_helpers.cluster_distance.strategies import DISTANCES, build_clusterings, fit_scorer
from ood_helpers.cluster_distance.thresholds import fit_thresholds, threshold_rates
from ood_helpers.cluster_distance.training import (METHOD_NAMES, ProjectionEncoder, TrainedModel, linear_probe, train_method)


@dataclass
class ModelEmbeddings:
    """One training row's embeddings of every part, with predicted classes (CE head or linear probe)."""

    row: str
    method: str
    embedding: str  # penultimate | projection
    train: np.ndarray
    train_labels: np.ndarray
    val: np.ndarray
    test: np.ndarray
    test_labels: np.ndarray
    ood: dict
    pred: dict = field(default_factory=dict)  # "val" | "test" | OOD name -> predicted class


def _np(t) -> np.ndarray:
    return t.numpy().astype(np.float64) if hasattr(t, "numpy") else np.asarray(t, dtype=np.float64)


def embed_model(model: TrainedModel, split, profile, *, projection: bool, seed: int) -> tuple[list, float]:
    """(the model's ModelEmbeddings rows, ID test accuracy of its classifier or linear probe)."""
    parts = {"train": split.train, "val": split.val, "test": split.test, **split.ood}
    variants = [("penultimate", model.encoder)]
    if projection and model.method != "ce":
        variants.append(("projection", ProjectionEncoder(model.encoder, model.head).eval()))
    rows = []
    for name, enc in variants:
        e = {p: _np(embed_dataset(enc, ds, profile=profile, key=f"{model.key}:{name}")) for p, ds in parts.items()}
        rows.append(ModelEmbeddings(
            row=METHOD_NAMES[model.method] + (" (proj)" if name == "projection" else ""), method=model.method,
            embedding=name, train=e["train"], train_labels=split.train.targets.numpy(), val=e["val"], test=e["test"],
            test_labels=split.test.targets.numpy(), ood={o: e[o] for o in split.ood}))
    base = rows[0]
    queries = {"val": base.val, "test": base.test, **base.ood}
    if model.method == "ce":
        w = model.head.weight.detach().double().numpy()
        b = model.head.bias.detach().double().numpy()
        pred = {k: (q @ w.T + b).argmax(1) for k, q in queries.items()}
    else:
        _, predicted = linear_probe(base.train, base.train_labels, *queries.values(), seed=seed)
        pred = dict(zip(queries, predicted))
    for r in rows:
        r.pred = pred
    return rows, float(np.mean(pred["test"] == base.test_labels))


def score_model(emb: ModelEmbeddings, settings, *, seed: int, context: dict) -> tuple[list, list]:
    """(AUROC records, threshold records) of every clustering x distance for one training row."""
    clusterings = build_clusterings(emb.train, emb.train_labels, sub_clusters=settings.sub_clusters,
                                    kmeans_factors=settings.kmeans_factors, knn_ks=settings.knn_ks, seed=seed,
                                    n_init=settings.kmeans_n_init)
    scores, thresholds = [], []
    use_classes = emb.method in ("ce", "supcon")  # T3: a classifier's classes (SimCLR's probe would use labels)
    for cl in clusterings:
        for dist in DISTANCES:
            scorer = fit_scorer(cl, dist, emb.train)
            if not scorer.defined:
                continue
            base = {**context, "training": emb.row, "method": emb.method, "embedding": emb.embedding,
                    "clustering": cl.name, "distance": dist, "uses_labels": cl.uses_labels,
                    "diagnostic": emb.method == "simclr" and cl.uses_labels}
            s_val, g_val = scorer.score(emb.val)
            s_test, g_test = scorer.score(emb.test)
            # thresholds from the ID validation scores alone: (thresholds, what groups the samples)
            fitted = {"T1 global": (fit_thresholds(s_val), None)}
            if g_val is not None:
                fitted["T2 per cluster"] = (fit_thresholds(s_val, g_val), "cluster")
            if use_classes:
                fitted["T3 per predicted class"] = (fit_thresholds(s_val, emb.pred["val"]), "class")
            for name, q in emb.ood.items():
                s_ood, g_ood = scorer.score(q)
                m = ood_metrics(s_test, s_ood)
                scores.append({**base, "ood_set": name, **{k: 100 * v for k, v in m.items()}})
                for th_name, (th, by) in fitted.items():
                    gi = {"cluster": g_test, "class": emb.pred["test"], None: None}[by]
                    go = {"cluster": g_ood, "class": emb.pred[name], None: None}[by]
                    rates = threshold_rates(th, s_test, s_ood, gi, go)
                    thresholds.append({**base, "ood_set": name, "threshold": th_name,
                                       **{k: 100 * v for k, v in rates.items()}})
    return scores, thresholds


@dataclass
class GridResults:
    scores: pd.DataFrame
    thresholds: pd.DataFrame
    cost: pd.DataFrame
    separation: pd.DataFrame
    scatter: dict  # (id_set, arch, row) -> (test embeddings, labels, near-OOD embeddings) of trial 0
    seconds: float


def run_grid(profile, settings, *, progress: bool = False) -> GridResults:
    """Trains (or loads) every model of ``settings`` and scores the whole grid."""
    start = time.perf_counter()
    scores, thresholds, cost, sep, scatter = [], [], [], [], {}
    for id_name in settings.id_sets:
        for trial in range(settings.trials):
            seed = trial_seed(profile.seed, trial)
            seed_everything(seed)
            split = load_id_split(id_name, profile, seed, settings)
            for arch in settings.archs:
                context = {"id_set": id_name, "id_label": STAND_INS[id_name], "arch": arch, "trial": trial,
                           "seed": seed}
                for method in settings.methods:
                    model = train_method(method, arch, split, settings, profile_name=profile, seed=seed,
                                         device=resolve_device(profile), progress=progress)
                    rows, acc = embed_model(model, split, profile, projection=settings.projection_variant, seed=seed)
                    cost.append({**context, "training": METHOD_NAMES[method], "steps": model.steps,
                                 "batch_size": settings.batch_size, "train_seconds": model.seconds,
                                 "accuracy": 100 * acc,
                                 "accuracy_of": "softmax head" if method == "ce" else "linear probe"})
                    for emb in rows:
                        s, t = score_model(emb, settings, seed=seed, context=context)
                        scores += s
                        thresholds += t
                        sep.append({**context, "training": emb.row, "embedding": emb.embedding,
                                    "labels_used_in_training": method != "simclr",
                                    **separation(emb.test, emb.test_labels, max_points=settings.silhouette_points,
                                                 seed=seed)})
                        if trial == 0 and emb.embedding == "penultimate":
                            near = next(iter(emb.ood))
                            scatter[(id_name, arch, emb.row)] = (emb.test, emb.test_labels, emb.ood[near], near)
    return GridResults(pd.DataFrame(scores), pd.DataFrame(thresholds), pd.DataFrame(cost), pd.DataFrame(sep),
                       scatter, time.perf_counter() - start)
