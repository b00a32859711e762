"""The discovery experiment: thresholds chosen on validation classes, then the test streams.

Validation streams hold labelled seen classes and the *validation* classes as the new ones, drawn
from the validation image split; test streams hold labelled seen classes and the *test* classes,
drawn from the test image split. Per method, the threshold grid is a set of quantiles of the best
score of the validation images against the initial memory (each method in its own score units); the
chosen threshold maximises the settings' criterion averaged over the validation streams. Test classes
are never looked at before the chosen threshold is fixed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ood_helpers.core import artifacts
from ood_helpers.core.data import class_split, many_class_split
from ood_helpers.core.embed import embed_dataset
from ood_helpers.homogeneity.classification import dataset_features
from ood_helpers.homogeneity.paper_values import M_HOM, M_NN_COS_FT, M_NN_COS_PRE, M_NN_EUC_FT, M_NN_EUC_PRE
from ood_helpers.homogeneity.training import get_homogeneity_model
from ood_helpers.core.profile import resolve_device
from ood_helpers.core.seeding import trial_seed
from ood_helpers.discovery.metrics import COLUMNS, accuracy_along, criterion_value, stream_metrics
from ood_helpers.discovery.rule import discover
from ood_helpers.discovery.scorers import CentroidClassScorer, HomogeneityClassScorer, NeighbourClassScorer
from ood_helpers.discovery.settings import M_CENTROID, M_HOM_V2, DiscoverySettings
from ood_helpers.discovery.stream import Stream, make_stream, pick_known
from ood_helpers.homogeneity.settings import homogeneity_settings

NN_SPACES = {M_NN_COS_PRE: ("pretrained", "cosine"), M_NN_COS_FT: ("finetuned", "cosine"),
             M_NN_EUC_PRE: ("pretrained", "euclidean"), M_NN_EUC_FT: ("finetuned", "euclidean")}
SPLITS = {"val": 1000, "test": 0}  # trial-seed offset per split: validation and test streams never share a seed


def class_scorers(models, feats, methods, *, device: str = "cpu", batch_sets: int = 4096, variant2=None) -> dict:
    """method name -> its ``rule.ClassScorer`` on ``feats``' embeddings; ``variant2``: (the variant-2
    homogeneity model, its embeddings of the same images) when that method is asked for."""
    out = {}
    for m in methods:
        if m == M_HOM:
            out[m] = HomogeneityClassScorer(models.homogeneity, feats.embeddings["finetuned"], device=device,
                                            batch_sets=batch_sets)
        elif m == M_HOM_V2:
            if variant2 is None:
                raise ValueError(f"method {m!r} needs variant2=(model, embeddings)")
            out[m] = HomogeneityClassScorer(variant2[0], variant2[1], device=device, batch_sets=batch_sets)
        elif m == M_CENTROID:
            out[m] = CentroidClassScorer(feats.embeddings["pretrained"], device=device)
        elif m in NN_SPACES:
            space, metric = NN_SPACES[m]
            out[m] = NeighbourClassScorer(feats.embeddings[space], metric, device=device)
        else:
            raise ValueError(f"unknown discovery method {m!r}; known: {[M_HOM, *NN_SPACES, M_CENTROID, M_HOM_V2]}")
    return out


def split_streams(profile, s: DiscoverySettings, split: str, targets) -> list[Stream]:
    """The streams of ``split`` ("val": new classes = validation classes; "test": the test classes), each
    with ``s.known_classes`` seen classes labelled, ``s.streams`` per order."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
    classes = class_split(profile)
    unseen = classes.val if split == "val" else classes.test
    n_memory = homogeneity_settings(profile).set_size - 1
    out = []
    for o, order in enumerate(s.orders):
        for i in range(s.streams):
            seed = trial_seed(profile.seed, SPLITS[split] + 100 * o + i)
            known = pick_known(classes.seen, s.known_classes, seed)
            out.append(make_stream(targets, known, unseen, n_memory=n_memory, order=order, seed=seed,
                                   block_classes=s.block_classes))
    return out


def initial_best(scorer, stream: Stream, n_exemplars: int) -> np.ndarray:
    """[T] best score of every stream image against the initial memory's classes (no image assigned yet)."""
    classes = np.unique(stream.memory_labels)
    ex = np.stack([stream.memory[stream.memory_labels == c][:n_exemplars] for c in classes])
    counts = np.full(len(classes), ex.shape[1])
    scores = scorer(np.repeat(stream.images, len(classes)), np.tile(ex, (len(stream), 1)),
                    np.tile(counts, len(stream)))
    return np.asarray(scores).reshape(len(stream), len(classes)).max(1)


def threshold_grid(scorer, streams, quantiles, n_exemplars: int) -> dict[float, float]:
    """{threshold: quantile}: the ``quantiles`` of :func:`initial_best` over ``streams`` (a threshold
    two quantiles share is kept once, with the lower quantile)."""
    best = np.concatenate([initial_best(scorer, st, n_exemplars) for st in streams])
    grid: dict[float, float] = {}
    for q in sorted(quantiles):
        grid.setdefault(float(np.quantile(best, q)), float(q))
    return grid


def run_streams(scorer, streams, thresholds, n_exemplars: int) -> list[tuple[int, float, np.ndarray]]:
    """(stream index, threshold, predicted labels [T]) for every stream x threshold, all in one lockstep run."""
    runs = [(i, float(t)) for i in range(len(streams)) for t in np.atleast_1d(thresholds)]
    steps = max(len(st) for st in streams)
    grid = np.full((len(runs), steps), -1, np.int64)
    for r, (i, _) in enumerate(runs):
        grid[r, :len(streams[i])] = streams[i].images
    found = discover(scorer, grid, [streams[i].memory for i, _ in runs], [streams[i].memory_labels for i, _ in runs],
                     [t for _, t in runs], n_exemplars=n_exemplars, seeds=[streams[i].seed for i, _ in runs])
    return [(i, t, found.pred[r, :len(streams[i])]) for r, (i, t) in enumerate(runs)]


def _record(method, st: Stream, i: int, threshold: float, pred) -> dict:
    return {"method": method, "order": st.order, "stream": i, "seed": st.seed, "threshold": threshold,
            **stream_metrics(st.labels, pred, st.is_known)}


@dataclass
class DiscoveryResult:
    """``sweep``: one record per (method, validation stream, threshold); ``chosen``: method -> the
    threshold picked on validation; ``test``: one record per (method, test stream) at that threshold;
    ``curves``: accuracy along each test stream (one record per bin)."""

    sweep: list
    chosen: dict
    test: list
    curves: list


def choose_threshold(sweep_records, method: str, criterion: str) -> tuple[float, float]:
    """(threshold, its criterion averaged over the validation streams) maximising that average; the
    lowest such threshold on a tie."""
    rows = [r for r in sweep_records if r["method"] == method]
    if not rows:
        raise ValueError(f"no validation records of method {method!r}")
    by_t: dict = {}
    for r in rows:
        by_t.setdefault(r["threshold"], []).append(criterion_value(r["known_acc"], r["new_acc"], criterion))
    means = {t: float(np.mean(v)) for t, v in by_t.items()}
    top = max(means.values())
    t = min(t for t, v in means.items() if v == top)
    return t, top




def thresholds_table(result: DiscoveryResult, criterion: str) -> pd.DataFrame:
    """Per method: the threshold chosen on the validation streams, its quantile in the method's grid, and the
    validation criterion (%) it reached."""
    return pd.DataFrame(
        [{"method": m, "threshold": t, "grid quantile": next(r["quantile"] for r in result.sweep
                                                             if r["method"] == m and r["threshold"] == t),
          f"validation criterion ({criterion}) %": v} for m, (t, v) in result.chosen.items()]).set_index("method")


def run_discovery(profile, models, s: DiscoverySettings, *, progress: bool = True) -> DiscoveryResult:
    """Thresholds on the validation streams, then every method on the test streams at its threshold.
    A finished experiment is cached in ``artifacts/<profile>/discovery/``, keyed by the models, the
    data, the settings, the profile's k, class split and seed, and the code: a rerun loads it."""
    data = {split: many_class_split(profile, split) for split in ("val", "test")}
    variant2 = get_homogeneity_model(profile, 2, progress=progress)[0] if M_HOM_V2 in s.methods else None
    keys = {**models.keys, **({"variant2": variant2.cache_key} if variant2 is not None else {})}
    config = {"models": keys, "data": {k: v.fingerprint() for k, v in data.items()},
              "settings": dataclasses.asdict(s), "set_size": homogeneity_settings(profile).set_size,
              "seed": profile.seed,
              "class_split": list(profile.class_split), "class_order": profile.class_order,
              "code": artifacts.code_fingerprint(__name__)}
    path = artifacts.cache_path(profile, "discovery", artifacts.config_hash(config), ".pt")
    if path.exists():
        return DiscoveryResult(**artifacts.load_torch(path, expect_config=config)["result"])
    result = _run(profile, models, s, data, variant2, progress=progress)
    artifacts.atomic_save_torch({"result": dataclasses.asdict(result)}, path, config=config)
    return result


def _run(profile, models, s: DiscoverySettings, data: dict, variant2, *, progress: bool) -> DiscoveryResult:
    device, n_ex = resolve_device(profile), homogeneity_settings(profile).set_size - 1
    sweep, chosen, test, curves = [], {}, [], []
    # streams first: a class too small for k - 1 exemplars is refused before any image is embedded
    streams = {split: split_streams(profile, s, split, imageset.targets.numpy()) for split, imageset in data.items()}
    feats = {split: dataset_features(models, imageset, profile, with_classifiers=False)
             for split, imageset in data.items()}
    v2 = {split: None if variant2 is None else
          (variant2, embed_dataset(variant2, imageset, profile=profile, key=variant2.cache_key))
          for split, imageset in data.items()}
    scorers = {split: class_scorers(models, feats[split].to(device), s.methods, device=device,
                                    batch_sets=s.batch_sets, variant2=v2[split]) for split in feats}
    for m in tqdm(s.methods, desc="methods", disable=not progress):
        grid = threshold_grid(scorers["val"][m], streams["val"], s.threshold_quantiles, n_ex)
        for i, t, pred in run_streams(scorers["val"][m], streams["val"], list(grid), n_ex):
            sweep.append({**_record(m, streams["val"][i], i, t, pred), "quantile": grid[t]})
        chosen[m] = choose_threshold(sweep, m, s.criterion)
        for i, t, pred in run_streams(scorers["test"][m], streams["test"], [chosen[m][0]], n_ex):
            st = streams["test"][i]
            test.append(_record(m, st, i, t, pred))
            curves += [{"method": m, "order": st.order, "stream": i, **b}
                       for b in accuracy_along(st.labels, pred, st.is_known, s.curve_bins)]
    return DiscoveryResult(sweep, chosen, test, curves)


def long_records(records) -> list[dict]:
    """One record per (method, order, stream, metric) with the metric's table header, for ``trials_table``."""
    return [{"method": r["method"], "order": r["order"], "stream": r["stream"], "metric": COLUMNS[k], "value": r[k]}
            for r in records for k in COLUMNS]
