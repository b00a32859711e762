"""Time of the greedy homogeneity clustering (paper 000 eq. 3-4) for growing sample counts, and
(``--tsne``) how t-SNE's learning rate moves the DBSCAN clusters of Table 4's baseline.

The scorer pays the real cost: a quick-profile-sized HomogeneityModel Transformer runs on
every batch of sets. Its decisions come from one of two rules, because an untrained model
says nothing useful:

- ``oracle``: probability 1 when the set is class-pure, so clusters grow to class size
  (the behaviour of a good model, ``--classes`` classes of n / classes samples);
- ``collapse``: every set scores probability 0.9, so one cluster swallows everything and every
  growth step compares k - 1 subsampled members against all remaining samples (the paper's
  failure at 80-100 classes, and the worst case of the algorithm).

    python benchmarks/bench_clustering.py --sizes 100 200 500 1000 --rule oracle collapse
    python benchmarks/bench_clustering.py --tsne   # DBSCAN clusters, learning rate 'auto' vs 200
    python benchmarks/bench_clustering.py --tsne-profile quick   # the same on Table 4's real features
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from ood_helpers.core.metrics import embedding_clustering
from ood_helpers.homogeneity import pair_matrix
from ood_helpers.core.metrics.clustering import clustering_accuracy
from ood_helpers.homogeneity.greedy_clustering import greedy_homogeneity_clustering
from ood_helpers.homogeneity.pair_matrix import pairwise_homogeneity
from ood_helpers.homogeneity.model import HomogeneityModel
from ood_helpers.core.profile import get_profile
from ood_helpers.homogeneity.settings import homogeneity_settings


def build_scorer(profile, embed_dim: int, rule: str, device: str):
    """(score_sets, counter): the Transformer's real forward pass, then the rule's logits.

    ``counter["calls"]`` counts batched forwards; one growth step of eq. 4 may take several
    when its sets exceed ``batch_sets``."""
    hs = homogeneity_settings(profile)
    model = HomogeneityModel(
        torch.nn.Identity(), embed_dim, hs.transformer_layers, hs.transformer_heads,
        hs.transformer_head_dim,
    ).to(device).eval()
    counter = {"calls": 0, "sets": 0}

    def score(emb, lengths):
        counter["calls"] += 1
        counter["sets"] += len(emb)
        logits = model.set_logits(emb.to(device), lengths.to(device))  # the cost being measured
        if rule == "collapse":
            return torch.full_like(logits, float(np.log(0.9 / 0.1)))  # probability 0.9
        codes = emb[..., 0]
        valid = torch.arange(emb.shape[1], device=emb.device)[None, :] < lengths[:, None].to(emb.device)
        pure = ((codes == codes[:, :1]) | ~valid).all(dim=1).to(logits.dtype).to(logits.device)
        return (10.0 * (2 * pure - 1))[:, None].expand_as(logits)  # logit +-10: a sure decision

    return score, counter


def run(sizes, rules, classes: int, device: str, seed: int, batch_sets: int) -> list[dict]:
    """One timing row per (rule, size): seconds for the pair matrix and for the growth phase."""
    profile = get_profile("quick")
    embed_dim = profile.resnet_width * 8  # the quick ResNet-18's feature width
    rows = []
    for rule in rules:
        for n in sizes:
            torch.manual_seed(seed)
            labels = np.arange(n) % classes
            emb = torch.randn(n, embed_dim, device=device)
            emb[:, 0] = torch.as_tensor(labels, dtype=torch.float32, device=device)
            score, counter = build_scorer(profile, embed_dim, rule, device)
            t0 = time.perf_counter()
            pairs = pairwise_homogeneity(emb, score, batch_sets=batch_sets)
            t1 = time.perf_counter()
            pair_calls = counter["calls"]
            info: dict = {}
            pred = greedy_homogeneity_clustering(
                emb, score, set_size=homogeneity_settings(profile).set_size, rng=np.random.default_rng(seed), pair_logits=pairs,
                batch_sets=batch_sets, info=info,
            )
            t2 = time.perf_counter()
            rows.append({
                "rule": rule, "samples": n, "pair_matrix_s": t1 - t0, "greedy_s": t2 - t1, "total_s": t2 - t0,
                "growth_steps": info["growth_steps"], "forward_calls": counter["calls"] - pair_calls,
                "clusters": len(np.unique(pred)),
                "accuracy": clustering_accuracy(labels, pred),
            })
            print(" | ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in rows[-1].items()),
                  flush=True)
    return rows


def tsne_rows(sizes, classes_per: int, seeds: int) -> list[dict]:
    """DBSCAN clusters (eps 1.75, 5 samples, as Table 4) after PCA -> t-SNE of Gaussian blobs (64-d,
    ``classes_per`` samples a class), with t-SNE's learning rate 'auto' (today) and 200 (2020)."""
    from sklearn.datasets import make_blobs

    rows = []
    for n in sizes:
        classes = max(2, n // classes_per)
        x, y = make_blobs(n_samples=n, centers=classes, n_features=64, random_state=0)
        for lr in ("auto", 200.0):
            for seed in range(seeds):
                coords = embedding_clustering.pca_tsne(x, seed=seed, learning_rate=lr)
                pred = embedding_clustering.dbscan_labels(coords, **embedding_clustering.DBSCAN_EMBEDDINGS)
                rows.append({"samples": n, "classes": classes, "learning_rate": str(lr), "seed": seed,
                             "clusters": len(np.unique(pred)), "accuracy": clustering_accuracy(y, pred),
                             "map_width": float(np.ptp(coords, axis=0).mean())})
                print(rows[-1], flush=True)
    return rows


def tsne_profile_rows(profile_name: str) -> list[dict]:
    """Table 4's PCA + t-SNE + DBSCAN rows on a profile's real features (trained or loaded through
    ``trained_models``), every range and trial, t-SNE learning rate 'auto' vs 200."""
    from ood_helpers.homogeneity.clustering import FEATURE_ROWS
    from ood_helpers.core.seeding import trial_seed
    from ood_helpers.homogeneity.trained_models import load_clustering_inputs

    profile = get_profile(profile_name)
    inputs = load_clustering_inputs(profile, progress=False)
    rows = []
    for name in FEATURE_ROWS:
        params = embedding_clustering.DBSCAN_IMAGES if name == "images" else embedding_clustering.DBSCAN_EMBEDDINGS
        for classes in inputs.ranges:
            idx = np.flatnonzero(np.isin(inputs.labels, classes))
            for lr in ("auto", 200.0):
                for t in range(profile.trials):
                    seed = trial_seed(profile.seed, t)
                    coords = embedding_clustering.pca_tsne(inputs.features[name][idx], seed=seed, learning_rate=lr)
                    pred = embedding_clustering.dbscan_labels(coords, **params)
                    rows.append({"features": name, "samples": len(idx), "classes": len(classes),
                                 "learning_rate": str(lr), "seed": seed, "clusters": len(np.unique(pred)),
                                 "accuracy": clustering_accuracy(inputs.labels[idx], pred),
                                 "map_width": float(np.ptp(coords, axis=0).mean())})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 200, 500, 1000])
    parser.add_argument("--rule", nargs="+", default=["oracle", "collapse"], choices=["oracle", "collapse"])
    parser.add_argument("--classes", type=int, default=10, help="true classes among the samples (oracle rule)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=pair_matrix.TORCH_CPU_THREADS,
                        help="torch CPU threads while clustering (the library's default: 1)")
    parser.add_argument("--batch-sets", type=int, default=4096, help="sets per forward pass (profile.eval_batch_sets)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--load", action="store_true", help="print the machine's load average before and after")
    parser.add_argument("--tsne", action="store_true",
                        help="instead of timing: DBSCAN clusters of blobs (20 samples a class) at --sizes, "
                             "t-SNE learning rate 'auto' vs 200, 3 seeds")
    parser.add_argument("--tsne-profile", metavar="PROFILE",
                        help="the same on the profile's real Table 4 features, every range and trial")
    args = parser.parse_args()
    import pandas as pd

    if args.tsne or args.tsne_profile:
        df = pd.DataFrame(tsne_profile_rows(args.tsne_profile) if args.tsne_profile else tsne_rows(args.sizes, 20, 3))
        keys = [k for k in ("features", "samples", "classes", "learning_rate") if k in df]
        summary = df.groupby(keys, sort=False)[["clusters", "accuracy", "map_width"]]
        print()
        print(summary.mean().to_markdown(floatfmt=".1f"))
        return
    pair_matrix.TORCH_CPU_THREADS = args.threads
    if args.load:
        print("load average before:", os.getloadavg(), "| torch threads:", args.threads, flush=True)
    rows = run(args.sizes, args.rule, args.classes, args.device, args.seed, args.batch_sets)
    if args.load:
        print("load average after:", os.getloadavg())
    print()
    print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".2f"))


if __name__ == "__main__":
    main()
