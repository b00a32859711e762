"""Queries per second of OOD classification (eq. 1): the batched evaluator against the naive loop.

The naive loop builds each (query, class) set from raw images and calls the full model
(ResNet encoder + Transformer) once per set; the batched evaluator encodes every image once
(timed here, as ``embed_dataset`` would on a cold cache) and runs the Transformer over
batches of embedded sets, computing the last layer at position 0 only. Both score the
same episodes; the script checks that they predict the same classes.

The model has the quick profile's architecture (ResNet-18 of width 16, small stem; a
Transformer of 2 layers x 4 heads x 16) on MNIST-pairs test images (1x28x56); its weights
are random, which changes no timing.

    python benchmarks/bench_classification.py --classes 100 --naive-queries 2 --batched-queries 200
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from ood_helpers.data import load_dataset
from ood_helpers.embed import encode_images
from ood_helpers.evaluate import classification as clf
from ood_helpers.models import HomogeneityModel, build_resnet18, encoder_from_classifier, feature_dim
from ood_helpers.profiles import get_profile


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick", help="architecture sizes and k from this profile")
    parser.add_argument("--classes", type=int, default=100, help="candidate classes per query")
    parser.add_argument("--naive-queries", type=int, default=2, help="queries for the naive loop")
    parser.add_argument("--batched-queries", type=int, default=200, help="queries for the batched evaluator")
    parser.add_argument("--batch-sets", type=int, default=4096, help="sets per Transformer batch")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    profile = get_profile(args.profile)
    k = profile.set_size
    per_test = max(k + 5, 30)
    test = load_dataset("mnist-pairs", "test", per_class=(1, 1, per_test), channels=profile.channels)
    images = test.float_images()
    torch.manual_seed(0)
    classifier = build_resnet18(80, profile.channels, profile.resnet_width, profile.small_stem)
    model = HomogeneityModel(encoder_from_classifier(classifier), feature_dim(classifier), profile.transformer_layers,
                             profile.transformer_heads, profile.transformer_head_dim).eval()
    candidates = np.arange(args.classes)
    print(f"profile {profile.name}: k = {k}, {args.classes} classes, {per_test} test images a class, "
          f"{torch.get_num_threads()} torch threads")

    rng = np.random.default_rng(0)
    episodes = clf.sample_episodes(test.targets.numpy(), candidates, n_supports=k - 1,
                                   queries_per_class=max(1, -(-args.batched_queries // args.classes)), rng=rng)
    n_batched = min(args.batched_queries, len(episodes.queries))
    batched_ep = clf.Episodes(episodes.queries[:n_batched], episodes.labels[:n_batched], candidates,
                              episodes.supports[:n_batched])
    naive_ep = clf.Episodes(batched_ep.queries[:args.naive_queries], batched_ep.labels[:args.naive_queries],
                            candidates, batched_ep.supports[:args.naive_queries])

    start = time.perf_counter()
    emb = encode_images(model, images, batch_size=512)
    scores = clf.homogeneity_scores(model, emb, batched_ep, batch_sets=args.batch_sets)
    t_batched = time.perf_counter() - start
    start = time.perf_counter()
    naive = clf.naive_homogeneity_scores(model, images, naive_ep)
    t_naive = time.perf_counter() - start

    same = torch.equal(scores[:args.naive_queries].argmax(1), naive.argmax(1))
    gap = (torch.sigmoid(scores[:args.naive_queries]) - naive).abs().max().item()
    q_batched, q_naive = n_batched / t_batched, args.naive_queries / t_naive
    print(f"naive loop : {args.naive_queries:5d} queries in {t_naive:7.2f} s = {q_naive:8.3f} queries/s "
          f"({args.naive_queries * args.classes / t_naive:8.1f} sets/s)")
    print(f"batched    : {n_batched:5d} queries in {t_batched:7.2f} s = {q_batched:8.3f} queries/s "
          f"({n_batched * args.classes / t_batched:8.1f} sets/s, encoding {len(images)} images included)")
    print(f"speed-up   : {q_batched / q_naive:.1f}x; same predictions on the shared queries: {same} "
          f"(max |p_batched - p_naive| = {gap:.2e})")
    if not same:
        raise SystemExit("the batched evaluator and the naive loop predict different classes")


if __name__ == "__main__":
    main()
