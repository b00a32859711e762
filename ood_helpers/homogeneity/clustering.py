"""Table 4 of paper 000 (section 5.3): every clustering method over growing ranges of unseen
test classes and over trials, scored by eq. 2, each finished trial cached on disk so an
interrupted run resumes.

The methods live in ``embedding_clustering`` (k-means; PCA + t-SNE + DBSCAN) and
``homogeneity_clustering`` (the greedy eq. 3-4; average linkage), the homogeneity model's pair
logits in ``pair_matrix``; this module runs them, keeps their records and lays out the tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from tqdm.auto import tqdm

from ood_helpers.core import artifacts
from ood_helpers.core.metrics.clustering import clustering_accuracy
from ood_helpers.core.metrics.embedding_clustering import (DBSCAN_EMBEDDINGS, DBSCAN_IMAGES, TSNE_2020, kmeans_clustering, tsne_dbscan_clustering)
from ood_helpers.homogeneity.greedy_clustering import (agglomerative_homogeneity_clustering, greedy_homogeneity_clustering)
from ood_helpers.homogeneity.paper_values import AGGLOMERATIVE_ROW, FEATURE_ROWS, GREEDY_ROW, KMEANS_ROW, PAPER_TABLE4
from ood_helpers.homogeneity.pair_matrix import (THRESHOLD, ScoreSets, array_fingerprint, as_embeddings, cached_pairwise_homogeneity, pairwise_homogeneity)
from ood_helpers.core.tables import trials_table

if TYPE_CHECKING:
    import pandas as pd


def range_label(n_classes: int) -> str:
    """Column label of a class range in our tables."""
    return f"{n_classes} class" if n_classes == 1 else f"{n_classes} classes"


def paper_table4(sizes) -> dict[str, dict[str, str]]:
    """{row: {range_label(n): "mean ± std"}}: the paper's ranges mapped by position onto ``sizes``."""
    return {
        row: {range_label(n): f"{m:.2f} ± {s:.2f}" for n, (m, s) in zip(sizes, values)}
        for row, values in PAPER_TABLE4.items()
    }


def samples_per_range(labels, ranges) -> dict[int, int]:
    """``{classes in the range: test samples of those classes}`` for each growing range of class ids."""
    return {len(r): int(np.isin(labels, r).sum()) for r in ranges}


def linkage_comparison(sizes_table: pd.DataFrame, table4: pd.DataFrame, n_classes: int) -> pd.DataFrame:
    """The greedy and the average-linkage rows at the range of ``n_classes`` classes side by side: predicted
    clusters and largest cluster (:func:`cluster_size_table`) and accuracy (Table 4)."""
    label = range_label(n_classes)
    rows = [GREEDY_ROW, AGGLOMERATIVE_ROW]
    return sizes_table.loc[rows, [f"{label}: clusters", f"{label}: largest %"]].assign(accuracy=table4.loc[rows, label])


@dataclass
class ClusteringInputs:
    """What Table 4 clusters: the test samples of the profile's test classes and their features."""

    labels: np.ndarray  # [N] original class ids of the test samples
    class_names: list  # class id -> name of the many-class dataset
    ranges: list  # class ids of each growing range (the eval_ranges homogeneity setting)
    features: dict  # "all" | "pretrained" | "fine-tuned" | "images" -> [N, ...] tensor
    emb: torch.Tensor  # [N, D] homogeneity-model embeddings (= features["fine-tuned"]) on the model's device
    score_sets: ScoreSets  # the variant-2 homogeneity model's set scorer (logits)
    history: dict  # training history of the homogeneity model (best step, validation accuracy)
    model_key: str  # the homogeneity model's cache_key: keys the cached pair matrix and trials


def cluster_size_table(records) -> pd.DataFrame:
    """Predicted clusters (mean ± std over trials) per method and range, under a "true classes" row,
    and the share of samples in the largest cluster (percent): how a collapse shows."""
    import pandas as pd

    df = pd.DataFrame(list(records))
    truth = df.drop_duplicates(["classes", "trial"]).assign(method="true classes", n_clusters=df["n_classes"])
    both = pd.concat([truth, df], ignore_index=True)
    counts = trials_table(both, "method", "classes", "n_clusters", digits=1)
    largest = trials_table(df, "method", "classes", "largest_cluster", digits=1, scale=100)
    largest.columns = [f"{c}: largest %" for c in largest.columns]
    counts.columns = [f"{c}: clusters" for c in counts.columns]
    counts.attrs, largest.attrs = {}, {}  # pandas compares attrs on join; DataFrame summaries there raise
    return counts.join(largest).fillna("–")


def clustering_trials(
    labels,
    features: dict,
    emb,
    score_sets: ScoreSets,
    ranges,
    *,
    set_size: int,
    seeds,
    pair_logits: np.ndarray | None = None,
    batch_sets: int = 4096,
    profile=None,
    model_key: str | None = None,
    progress: bool = True,
) -> tuple[list[dict], dict]:
    """Runs every Table 4 method on each class range for each seed.

    ``labels`` [N] are the true classes of the test samples; ``features`` maps "all",
    "pretrained", "fine-tuned" and "images" to [N, ...] arrays; ``emb`` [N, D] are the
    homogeneity model's embeddings scored by ``score_sets`` (logits), ``batch_sets`` sets per
    forward pass; ``ranges`` holds the class ids of each range; ``pair_logits`` (from
    ``pairwise_homogeneity``) is computed when a trial needs it and not given. With
    ``profile`` and ``model_key`` (the homogeneity model's cache_key), every finished
    (range, trial) is saved under ``artifacts/<profile>/cluster-trials/`` and loaded on a rerun.

    Returns (records, predictions): one record per (method, range, trial) with ``accuracy``
    (eq. 2, percent), ``n_clusters`` and ``largest_cluster`` (fraction of samples in the
    biggest cluster); predictions[(row, n_classes, trial)] = labels.
    """
    labels = np.asarray(labels)
    emb = as_embeddings(emb)
    if len(labels) != len(emb):
        raise ValueError(f"labels ({len(labels)}) and embeddings ({len(emb)}) must describe the same samples")
    missing = sorted(set(FEATURE_ROWS) - set(features))
    if missing:
        raise ValueError(f"features lack {missing}; expected keys {sorted(FEATURE_ROWS)}")
    if pair_logits is not None and np.shape(pair_logits) != (len(emb), len(emb)):
        n = len(emb)
        raise ValueError(f"pair_logits must be [N, N] = [{n}, {n}] (pairwise_homogeneity of emb), "
                         f"got shape {np.shape(pair_logits)}")
    if (profile is None) != (model_key is None):
        raise ValueError("caching trials needs both profile and model_key (the homogeneity model's cache_key), "
                         f"got profile={profile!r}, model_key={model_key!r}")
    base = None if profile is None else _cache_base(labels, features, emb, set_size, model_key)
    records, predictions = [], {}
    deterministic: dict[tuple, np.ndarray] = {}  # greedy runs that never subsampled, by range
    jobs = [(r, trial, int(s)) for r in ranges for trial, s in enumerate(seeds)]
    for classes, trial, seed in tqdm(jobs, desc="Table 4", disable=not progress):
        classes = tuple(int(c) for c in np.asarray(classes).ravel())
        path = config = None
        if base is not None:
            config = {**base, "classes": list(classes), "trial": trial, "seed": seed}
            path = artifacts.cache_path(profile, "cluster-trials", artifacts.config_hash(config), ".pt")
        if path is not None and path.exists():
            done = artifacts.load_torch(path, expect_config=config)
        else:
            if pair_logits is None:
                # one pair matrix over every sample serves every range: a pair's score ignores the others
                pair_logits = (pairwise_homogeneity(emb, score_sets, batch_sets=batch_sets, progress=progress)
                               if base is None else
                               cached_pairwise_homogeneity(emb, score_sets, profile=profile, model_key=model_key,
                                                           batch_sets=batch_sets, progress=progress))
            done = _run_trial(labels, features, emb, score_sets, pair_logits, classes, trial, seed, set_size,
                              batch_sets, deterministic)
            if path is not None:
                artifacts.atomic_save_torch(done, path, config=config)
        records += done["records"]
        predictions.update({(row, len(classes), trial): pred for row, pred in done["predictions"].items()})
    return records, predictions


def _cache_base(labels, features, emb, set_size, model_key) -> dict:
    """The part of a cached trial's config shared by all trials of one call."""
    if not isinstance(model_key, str) or not model_key:
        raise ValueError(f"model_key must be the homogeneity model's cache_key (a non-empty str), got {model_key!r}")
    # the samples' identity is their bytes: labels, every feature and the scored embeddings
    data = array_fingerprint(labels, emb, *(features[k] for k in sorted(FEATURE_ROWS)))
    return {"kind": "cluster-trials", "model": artifacts.config_hash(model_key), "data": data,
            "set_size": int(set_size), "threshold": THRESHOLD, "tsne": TSNE_2020,
            "dbscan": {"embeddings": DBSCAN_EMBEDDINGS, "images": DBSCAN_IMAGES},
            "code": artifacts.code_fingerprint(__name__)}


def _run_trial(labels, features, emb, score_sets, pair_logits, classes, trial, seed, set_size, batch_sets,
               deterministic) -> dict:
    """{"records": [one per method], "predictions": {row: labels [n]}} of one range and trial."""
    idx = np.flatnonzero(np.isin(labels, classes))
    if len(idx) < 2:
        raise ValueError(f"class range {list(classes)} holds {len(idx)} test samples; need at least 2")
    y = labels[idx]
    n_classes = len(classes)
    sub_logits = np.asarray(pair_logits)[np.ix_(idx, idx)]
    preds = {
        KMEANS_ROW: kmeans_clustering(features["all"][idx], n_classes, seed=seed),
        **{
            row: tsne_dbscan_clustering(
                features[name][idx], seed=seed, **(DBSCAN_IMAGES if name == "images" else DBSCAN_EMBEDDINGS)
            )
            for name, row in FEATURE_ROWS.items()
        },
        GREEDY_ROW: _greedy_once(emb[torch.as_tensor(idx, device=emb.device)], score_sets, set_size, seed,
                                 sub_logits, batch_sets, deterministic, classes),
        AGGLOMERATIVE_ROW: agglomerative_homogeneity_clustering(sub_logits),
    }
    records = []
    for row, pred in preds.items():
        counts = np.bincount(np.unique(pred, return_inverse=True)[1])
        records.append({
            "method": row, "classes": range_label(n_classes), "n_classes": n_classes, "trial": trial,
            "seed": int(seed), "accuracy": clustering_accuracy(y, pred), "n_clusters": int(len(counts)),
            "largest_cluster": float(counts.max() / len(pred)),
        })
    return {"records": records, "predictions": preds}


def _greedy_once(emb, score_sets, set_size, seed, pair_logits, batch_sets, cache, key) -> np.ndarray:
    """Greedy labels for one trial; a run that never subsampled is reused by later trials,
    since without a draw the algorithm is deterministic and every seed gives the same labels."""
    if key in cache:
        return cache[key]
    info: dict = {}
    labels = greedy_homogeneity_clustering(
        emb, score_sets, set_size=set_size, rng=np.random.default_rng(seed), pair_logits=pair_logits,
        batch_sets=batch_sets, info=info,
    )
    if info["subsampled_steps"] == 0:
        cache[key] = labels
    return labels
