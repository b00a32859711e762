"""Where the spread of class homogeneity's Table 1 top-1 comes from (issue 24, item 1).

Trains the profile's networks of paper 000 as independent replicates (trial t seeds the seen / all classifiers
and the homogeneity model) under each torch thread count, and prints for each: the seen classifier's test
top-1, the head stage's last validation eq. 1 top-1, the joint stage's best step and validation accuracy, and
Table 1's top-1 on all classes and on the test classes for class homogeneity and the best nearest-neighbour
row (``evaluate_many_class``, the profile's evaluation trials). With ``--fixed-classifier T`` the classifiers
stay those of trial T and only the homogeneity model's seed moves, which separates the classifier's share of
the spread from the homogeneity stages'.

Each thread count runs in its own process with its own artifact folder (cache keys do not hold the thread
count: a model trained with 1 thread would be reused by the 2-thread run):

    python benchmarks/study_seeds_threads.py --profile quick --models 5 --threads 1 2 --out study.csv
    python benchmarks/study_seeds_threads.py --profile quick --models 5 --threads 2 --fixed-classifier 0
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ood_helpers.core import paths
from ood_helpers.core.artifacts import atomic_write_text
from ood_helpers.core.data import range_labels
from ood_helpers.core.overrides import parse_assignments
from ood_helpers.core.profile import get_profile
from ood_helpers.core.seeding import set_thread_count
from ood_helpers.homogeneity import classification as oc
from ood_helpers.core.networks.resnet import encoder_from_classifier
from ood_helpers.homogeneity.features import Models
from ood_helpers.homogeneity.paper_values import M_HOM, M_SEEN, NN_METHODS
from ood_helpers.homogeneity.training import classifier_accuracy, get_classifier, get_homogeneity_model


def replicate_row(profile, model: int, classifier_model: int | None) -> dict:
    """The study's numbers for one trained replicate (``classifier_model``: classifiers of another trial)."""
    clf_trial = model if classifier_model is None else classifier_model
    start = time.perf_counter()
    clf, meta = get_classifier(profile, "seen", clf_trial, progress=False)
    seen = classifier_accuracy(profile, clf, meta)[0]["top1"]
    hom, history = get_homogeneity_model(profile, 1, model, progress=False, classifier_trial=clf_trial)
    # Table 1 without the classifier trained on all classes: the study needs eq. 1 and the NN rows only
    models = Models(profile=profile.name, homogeneity=hom, pretrained=encoder_from_classifier(clf),
                    classifiers={M_SEEN: (clf, np.asarray(meta["class_ids"]))},
                    keys={"finetuned": hom.cache_key, "pretrained": meta["key"], M_SEEN: meta["key"]})
    table1 = pd.DataFrame(oc.evaluate_many_class(profile, models, progress=False).table1)
    top1 = table1[table1["metric"] == "top-1"].groupby(["method", "range"])["accuracy"].mean() * 100
    labels = range_labels(profile)
    head = history["head_history"]
    row = {"threads": profile.threads, "model": model, "classifier_model": clf_trial, "seen_classifier_top1": seen,
           "head_last_val_eq1": 100 * head[-1]["val_unseen_eq1"] if head else float("nan"),
           "joint_best_step": history["best_step"], "joint_best_val": 100 * history["best_val_unseen_acc"]}
    for name in ("all", "test"):
        nn = top1[[m for m in NN_METHODS if (m, labels[name]) in top1.index]].xs(labels[name], level="range")
        row[f"hom_top1_{name}"] = top1[(M_HOM, labels[name])]
        row[f"best_nn_top1_{name}"], row[f"best_nn_{name}"] = nn.max(), nn.idxmax()
    row["seconds"] = round(time.perf_counter() - start, 1)
    return row


def run_one_thread_count(args) -> None:
    """This process's share: every replicate under ``args.threads[0]`` threads, one JSON line each."""
    profile = get_profile(args.profile, **{**parse_assignments(args.set), "threads": args.threads[0]})
    set_thread_count(profile.threads)
    for model in range(args.first, args.first + args.models):
        print("ROW " + json.dumps(replicate_row(profile, model, args.fixed_classifier)), flush=True)


def summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean, std (ddof 1) and range over replicates of each thread count, and over all of them."""
    cols = ["seen_classifier_top1", "head_last_val_eq1", "joint_best_val", "hom_top1_all", "hom_top1_test",
            "best_nn_top1_all", "best_nn_top1_test"]
    groups = {f"{t} thread(s)": part for t, part in frame.groupby("threads")}
    groups["all runs"] = frame
    stats = {name: part[cols].agg(["mean", "std", "min", "max"]).round(1).stack() for name, part in groups.items()}
    return pd.DataFrame(stats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--models", type=int, default=5, help="training replicates (trials) per thread count")
    parser.add_argument("--first", type=int, default=0, help="first trial")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--fixed-classifier", type=int, default=None, help="classifiers of this trial for all")
    parser.add_argument("--set", action="append", default=[], help="FIELD=VALUE, as the runner's --set")
    parser.add_argument("--artifacts", type=Path, default=paths.ROOT / "artifacts" / "study-seeds-threads")
    parser.add_argument("--out", type=Path, default=None, help="CSV of every replicate (written atomically)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return run_one_thread_count(args)
    rows = []
    for threads in args.threads:
        env = {**os.environ, "OOD_ARTIFACTS_DIR": str(args.artifacts / f"threads-{threads}"),
               "OMP_NUM_THREADS": str(threads)}
        cmd = [sys.executable, __file__, "--child", "--profile", args.profile, "--models", str(args.models),
               "--first", str(args.first), "--threads", str(threads), *sum((["--set", s] for s in args.set), [])]
        if args.fixed_classifier is not None:
            cmd += ["--fixed-classifier", str(args.fixed_classifier)]
        with subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True) as child:
            for line in child.stdout:  # each replicate as it finishes
                if line.startswith("ROW "):
                    rows.append(json.loads(line[4:]))
                    print(json.dumps(rows[-1]), flush=True)
        if child.returncode:
            sys.exit(f"{' '.join(cmd)} failed with status {child.returncode} (its errors are above)")
        print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".1f"), flush=True)
    frame = pd.DataFrame(rows)
    print("\n" + summary(frame).to_markdown(floatfmt=".1f"))
    if args.out:
        atomic_write_text(args.out, frame.to_csv(index=False))


if __name__ == "__main__":
    main()
