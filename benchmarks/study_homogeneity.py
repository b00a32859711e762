"""Why the class-homogeneity model trails nearest neighbours on its own embeddings (issue 10).

Trains only the Transformer on cached embeddings of the frozen seen-class encoder (the head stage
of ``ood_helpers.homogeneity.head_stage``) for a grid of steps, sets a step and set sizes, and prints
eq. 1 top-1 over the validation classes beside the cosine-NN baseline on the same episodes and
embeddings, and the seconds each run took. Runs are cached like every head, so a rerun only prints.

    python benchmarks/study_homogeneity.py --profile quick
    python benchmarks/study_homogeneity.py --profile quick --steps 400 2000 --sets 32 128 --set-size 5 10
"""

from __future__ import annotations

import argparse
import time

import torch

from ood_helpers.homogeneity import training as pipeline
from ood_helpers.homogeneity.head_stage import frozen_embeddings, pretrain_head, reference_nn_eq1
from ood_helpers.core.networks.resnet import encoder_from_classifier
from ood_helpers.core.profile import get_profile
from ood_helpers.core.seeding import trial_seed
from ood_helpers.homogeneity.settings import homogeneity_settings, with_homogeneity_settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--steps", type=int, nargs="+", default=[400, 1000, 2000])
    parser.add_argument("--sets", type=int, nargs="+", default=[32, 128], help="sets a step")
    parser.add_argument("--set-size", type=int, nargs="+", default=[0], help="k; 0 = the profile's")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    base = get_profile(args.profile)
    classifier, meta = pipeline.get_classifier(base, "seen", progress=False)
    encoder = encoder_from_classifier(classifier)
    train, val = pipeline.many_class_split(base, "train"), pipeline.many_class_split(base, "val")
    val_emb = frozen_embeddings(base, encoder, meta["key"], val)
    seed = trial_seed(base.seed, 0)
    print("| k | steps | sets a step | sets seen | eq. 1 top-1, Transformer (%) | cosine NN, same episodes (%) | seconds |")
    print("|---|---|---|---|---|---|---|")
    for k in args.set_size:
        for sets in args.sets:
            for steps in args.steps:
                p = with_homogeneity_settings(base, head_pretrain_steps=steps, head_pretrain_sets=sets,
                                              set_size=k or homogeneity_settings(base).set_size)
                start = time.perf_counter()
                _, history, _ = pretrain_head(p, 1, encoder, meta["key"], train, val, seed=seed, progress=False)
                seconds = time.perf_counter() - start
                nn_top1 = reference_nn_eq1(p, 1, seed, val_emb, val.targets.numpy())
                print(f"| {homogeneity_settings(p).set_size} | {steps} | {sets} | {steps * sets} | {100 * history[-1]['val_unseen_eq1']:.1f} "
                      f"| {100 * nn_top1:.1f} | {seconds:.0f} |", flush=True)


if __name__ == "__main__":
    main()
