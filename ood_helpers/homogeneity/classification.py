"""Out-of-distribution classification by class homogeneity (paper 000, eq. 1, section 5.2):
one trial scored by every method, and the trial loops of Tables 1-3 (their records and tables:
``homogeneity.classification_tables``).

Every method of a trial scores the same episodes (``homogeneity.episodes``: queries, and k - 1
supports of every candidate class per query) with the scorer convention of ``homogeneity.scorers``.
A trial runs chunk by chunk of queries: each chunk's supports are drawn, scored and reduced at
once to counts of correct queries per table column, so the [Q, C] scores of a whole trial are
never held (28 GB for Table 1's 1e6 queries x 1000 classes x 7 methods). Under torchrun rank r
scores chunks r, r + W, ... and the results are gathered; every rank walks the same random
sequence, so nothing depends on the number of ranks. A finished trial is cached in
``artifacts/<profile>/eval-trials/``: a rerun or a resumed run skips it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from tqdm.auto import tqdm

from ood_helpers.core import artifacts
from ood_helpers.core.data import class_split, load_dataset, many_class_split, range_labels
from ood_helpers.core.distributed import context
from ood_helpers.core.embed import embed_dataset
from ood_helpers.core.profile import resolve_device
from ood_helpers.core.seeding import seed_everything, trial_seed
from ood_helpers.homogeneity.classification_tables import (Column, count_correct, records_from_counts, restrict, table1_columns, table2_columns)
from ood_helpers.homogeneity.episodes import (ClassPools, Episodes, check_support_counts, columns_of, sample_queries, sample_supports, skip_supports)
from ood_helpers.homogeneity.features import Features, Models, check_models, dataset_features, method_scorers  # noqa: F401
from ood_helpers.homogeneity.paper_values import M_HOM, M_OWN, NN_METHODS
from ood_helpers.homogeneity.settings import homogeneity_settings, with_homogeneity_settings


# ===== one trial, chunk by chunk of queries =====


@dataclass
class TrialScores:
    """Scores of some queries: ``queries`` [Q], their ``labels`` [Q], the ``candidates`` [C] and
    ``scores`` (method -> [Q, C]); the supports are not kept (they may be large)."""

    queries: np.ndarray
    labels: np.ndarray
    candidates: np.ndarray
    scores: dict

    @property
    def true_columns(self) -> np.ndarray:
        return columns_of(self.labels, self.candidates)


def score_chunks(scorers: dict, targets, queries, candidates, *, n_supports: int, rng: np.random.Generator,
                 pools: ClassPools | None = None, rank: int = 0, world_size: int = 1, reduce=None,
                 chunk_sets: int = 4_000_000, progress: bool = False) -> dict:
    """{chunk index: ``reduce(TrialScores of the chunk)``} for the chunks rank ``rank`` of
    ``world_size`` scores (chunk i goes to rank i % world_size; ``reduce`` defaults to keeping
    the scores). Chunks hold about ``chunk_sets`` support indices. Every rank takes the same
    numbers from ``rng`` (drawing its own chunks' supports, skipping the others'), so each
    chunk's supports are those of a single process."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank must lie in [0, world_size = {world_size}), got {rank}")
    targets, candidates = np.asarray(targets), np.asarray(candidates, dtype=np.int64)
    pools = pools or ClassPools.of(targets)
    check_support_counts(targets, candidates, n_supports, pools)
    per_chunk = max(1, chunk_sets // (len(candidates) * n_supports))
    starts = range(0, len(queries), per_chunk)
    out = {}
    for i, start in enumerate(tqdm(starts, desc="query chunks", disable=not progress, leave=False)):
        chunk = queries[start:start + per_chunk]
        if i % world_size != rank:
            skip_supports(len(chunk), candidates, pools, rng)
            continue
        ep = Episodes(chunk, targets[chunk], candidates, sample_supports(targets, chunk, candidates, n_supports, rng, pools))
        ts = TrialScores(chunk, ep.labels, candidates, {m: scorer(ep) for m, scorer in scorers.items()})
        out[i] = ts if reduce is None else reduce(ts)
    return out


def gather_chunks(local: dict) -> list:
    """The chunk results of every rank, in chunk order, on every rank (``local`` alone in one process)."""
    ctx = context()
    if ctx.distributed:
        parts = [None] * ctx.world_size
        dist.all_gather_object(parts, local)
        local = {i: r for part in parts for i, r in part.items()}
    return [local[i] for i in sorted(local)]


def run_trial(scorers: dict, targets, candidates, *, profile, rng: np.random.Generator, query_classes=None,
              reduce=None, chunk_sets: int = 4_000_000, progress: bool = False) -> list:
    """The chunk results of one trial (see :func:`score_chunks`): queries drawn from ``rng`` first,
    then the supports chunk by chunk, shared among the torchrun ranks."""
    hs = homogeneity_settings(profile)
    targets = np.asarray(targets)
    candidates = np.asarray(candidates, dtype=np.int64)
    query_classes = candidates if query_classes is None else np.asarray(query_classes, dtype=np.int64)
    pools = ClassPools.of(targets)
    check_support_counts(targets, candidates, hs.set_size - 1, pools)
    queries = sample_queries(targets, query_classes, hs.queries_per_class, rng, pools)
    ctx = context()
    local = score_chunks(scorers, targets, queries, candidates, n_supports=hs.set_size - 1, rng=rng, pools=pools,
                         rank=ctx.rank, world_size=ctx.world_size, reduce=reduce, chunk_sets=chunk_sets,
                         progress=progress)
    return gather_chunks(local)


def score_trial(models: Models, feats: Features, candidates, *, profile, rng: np.random.Generator, methods=None,
                query_classes=None, progress: bool = False) -> TrialScores:
    """Every method's scores [Q, C] for one trial's queries, all against the same supports (for
    small runs and tests: the trial loops reduce chunk by chunk instead)."""
    methods = list(methods or [*feats.logits, *NN_METHODS, M_HOM])
    device = resolve_device(profile)
    scorers = method_scorers(models, feats.to(device), methods, device=device, batch_sets=profile.eval_batch_sets)
    chunks = run_trial(scorers, feats.targets, candidates, profile=profile, rng=rng, query_classes=query_classes,
                       progress=progress)
    return TrialScores(np.concatenate([c.queries for c in chunks]), np.concatenate([c.labels for c in chunks]),
                       np.asarray(candidates, dtype=np.int64),
                       {m: torch.cat([c.scores[m] for c in chunks]) for m in methods})


# ===== the trial loops =====


def cached_trial(profile, config: dict, compute) -> dict:
    """``compute()``, or its result from ``artifacts/<profile>/eval-trials/`` when a trial of the
    same ``config`` (plus the code of :data:`TRIAL_CODE`) finished before; rank 0 writes it."""
    config = {**config, "code": artifacts.code_fingerprint(__name__)}
    path = artifacts.cache_path(profile, "eval-trials", artifacts.config_hash(config), ".pt")
    found = [path.exists()]
    if context().distributed:  # every rank must agree, or some would wait for the others' gather forever
        found = [None] * context().world_size
        dist.all_gather_object(found, path.exists())
    if all(found):
        return artifacts.load_torch(path, expect_config=config)["result"]
    result = compute()
    if context().is_main:
        artifacts.atomic_save_torch({"result": result}, path, config=config)
    return result


def _trial_config(profile, models: Models, imageset, candidates, methods, seed: int) -> dict:
    hs = homogeneity_settings(profile)
    return {"models": models.keys, "data": imageset.fingerprint(), "candidates": np.asarray(candidates).tolist(),
            "methods": list(methods), "set_size": hs.set_size, "queries_per_class": hs.queries_per_class,
            "seed": profile.seed, "trial_seed": seed}


@dataclass
class ManyClassResult:
    """Tables 1 and 2 records (one dict per method, column and trial; accuracy as a fraction),
    the homogeneity classifier's test-class predictions pooled over trials (for the confusion
    matrix) and the trial seeds."""

    table1: list
    table2: list
    confusion_true: np.ndarray
    confusion_pred: np.ndarray
    class_names: list
    seeds: list


def _test_predictions(ts: TrialScores, test_classes) -> tuple[np.ndarray, np.ndarray]:
    """(true, predicted) class ids of the homogeneity model on the test queries against the test classes."""
    if M_HOM not in ts.scores:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    sub, true = restrict(ts.scores[M_HOM], ts, test_classes)
    return test_classes[true], test_classes[sub.argmax(1).numpy()]


def evaluate_many_class(profile, models: Models, *, trials: int | None = None, progress: bool = True) -> ManyClassResult:
    """Tables 1 and 2 on the many-class test split: queries of every class against every class."""
    hs = homogeneity_settings(profile)
    split, test, labels = class_split(profile), many_class_split(profile, "test"), range_labels(profile)
    columns = table1_columns(split, labels) + table2_columns(split, hs.eval_ranges)
    methods, candidates = [*models.classifiers, *NN_METHODS, M_HOM], split.range("all")
    device, feats = resolve_device(profile), None
    big = len(candidates) * len(candidates) * hs.queries_per_class > 1_000_000

    def compute(trial: int, seed: int) -> dict:
        nonlocal feats
        if feats is None:  # only when a trial is not cached
            feats = dataset_features(models, test, profile).to(device)
        scorers = method_scorers(models, feats, methods, device=device, batch_sets=profile.eval_batch_sets)
        chunks = run_trial(scorers, feats.targets, candidates, profile=profile, rng=seed_everything(seed),
                           reduce=lambda ts: (count_correct(ts, columns), _test_predictions(ts, split.test)),
                           progress=progress and big)
        records = records_from_counts(sum(c for c, _ in chunks), methods, columns, trial=trial)
        return {"table1": [r for r in records if "metric" in r], "table2": [r for r in records if "metric" not in r],
                "true": np.concatenate([t for _, (t, _) in chunks]), "pred": np.concatenate([p for _, (_, p) in chunks])}

    results, seeds = [], [trial_seed(profile.seed, t) for t in range(trials or profile.trials)]
    for trial, seed in enumerate(tqdm(seeds, desc="trials", disable=not progress)):
        config = {"kind": "tables-1-2", "ranges": labels, "eval_ranges": list(hs.eval_ranges),
                  **_trial_config(profile, models, test, candidates, methods, seed)}
        results.append(cached_trial(profile, config, lambda: compute(trial, seed)))
    return ManyClassResult([r for res in results for r in res["table1"]], [r for res in results for r in res["table2"]],
                           np.concatenate([r["true"] for r in results]), np.concatenate([r["pred"] for r in results]),
                           [test.classes[c] for c in split.test], seeds)


def evaluate_ood_datasets(profile, models: Models, own_classifier, *, datasets=None, trials: int | None = None,
                          queries_per_class: int | None = None, progress: bool = True) -> list[dict]:
    """Table 3 records: top-1 accuracy (fraction) on each dataset never trained on, every
    method comparing queries of all its classes against all its classes; ``queries_per_class``
    defaults to the profile's (the paper: ten thousand).

    ``own_classifier(name) -> (net, class ids, profile its inputs follow)`` gives the upper bound
    trained on each dataset (``trained_models.own_classifier``)."""
    hs = homogeneity_settings(profile)
    profile = with_homogeneity_settings(profile, queries_per_class=queries_per_class or hs.queries_per_class)
    device, methods, records = resolve_device(profile), [M_OWN, *NN_METHODS, M_HOM], []
    for name in datasets or hs.ood_datasets:
        test = load_dataset(name, "test", profile=profile)
        net, class_ids, own_profile = own_classifier(name)
        own_test = load_dataset(name, "test", profile=own_profile)
        if not np.array_equal(own_test.targets.numpy(), test.targets.numpy()):
            raise RuntimeError(f"{name}: the test split at the own classifier's size lists other images")
        classes, feats = np.unique(test.targets.numpy()), None
        column = Column({}, classes)

        def compute(trial: int, seed: int) -> list[dict]:
            nonlocal feats
            if feats is None:
                feats = dataset_features(models, test, profile, with_classifiers=False).to(device)
                logits = embed_dataset(net, own_test, profile=profile, key=f"logits-{net.cache_key}")
                feats.logits[M_OWN] = (logits, np.asarray(class_ids))
            scorers = method_scorers(models, feats, methods, device=device, batch_sets=profile.eval_batch_sets)
            chunks = run_trial(scorers, feats.targets, classes, profile=profile, rng=seed_everything(seed),
                               reduce=lambda ts: count_correct(ts, [column]))
            return records_from_counts(sum(chunks), methods, [column], dataset=name, trial=trial, seed=seed)

        for trial in tqdm(range(trials or profile.trials), desc=name, disable=not progress):
            seed = trial_seed(profile.seed, trial)
            config = {"kind": "table-3", "dataset": name, "own": {"key": net.cache_key, "data": own_test.fingerprint()},
                      **_trial_config(profile, models, test, classes, methods, seed)}
            records += cached_trial(profile, config, lambda: compute(trial, seed))
    return records


# ===== training replicates: the same evaluation of every independently trained model =====


def _tagged(records: list[dict], model: int) -> list[dict]:
    return [{**r, "model": model} for r in records]


def evaluate_many_class_models(profile, replicates: list[Models], *, progress: bool = True) -> ManyClassResult:
    """``evaluate_many_class`` of each training replicate (``trained_models.load_replicates``), records tagged
    with ``model`` (the replicate's index) so the tables pool models x trials; the confusion matrix pools every
    model's test-class predictions, the trial seeds are shared."""
    results = [evaluate_many_class(profile, models, progress=progress) for models in replicates]
    return ManyClassResult(
        [r for m, res in enumerate(results) for r in _tagged(res.table1, m)],
        [r for m, res in enumerate(results) for r in _tagged(res.table2, m)],
        np.concatenate([res.confusion_true for res in results]), np.concatenate([res.confusion_pred for res in results]),
        results[0].class_names, results[0].seeds)


def evaluate_ood_datasets_models(profile, replicates: list[Models], own_classifier, **kwargs) -> list[dict]:
    """Table 3 records of each training replicate (``evaluate_ood_datasets``), tagged with ``model``; the own
    classifier of each dataset is one network, shared by every replicate."""
    return [r for m, models in enumerate(replicates)
            for r in _tagged(evaluate_ood_datasets(profile, models, own_classifier, **kwargs), m)]
