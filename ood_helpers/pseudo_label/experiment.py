"""One trial of notebook 09: every stage trained (cached), every table's records computed, all cached as one
file keyed by the settings, the seed and the code. Records hold percentages (AUROC etc. x 100).

Tables (row / column names are the notebook's): ``table2`` (method x anomaly set, 1-NN cosine, mean of k),
``table4`` (features after each stage of single-stage SCAN from the source init), ``table5`` (scoring rules
on the averaged fine-tuned model), ``table6`` (number of clusters K), ``averaging`` (each epoch vs the mean),
``lr`` (post-hoc fine-tuning sensitivity: lr x batch size), ``coverage`` (the stand-in source's class coverage: all digits vs
the normal digits only), ``clustering`` (accuracy / NMI / ARI of each pseudo-labelling), ``retrieval`` (Fig. 2
analogue numbers).
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from ood_helpers.core import artifacts
from ood_helpers.pseudo_label.columns import (DN2, KM_SIM, KM_SRC, LABELLINGS, LAST, OURS, RANDOM,  # noqa: F401
                                            RAW, SCAN_FEATS, SIMCLR, TABLE2_METHODS, TABLE4_STAGES, TABLE_NAMES,
                                            TRUE, k_column, lr_column, table5_columns)
from ood_helpers.pseudo_label.finetune import finetune, with_weights
from ood_helpers.pseudo_label.neighbours import mine_neighbours, neighbour_purity
from ood_helpers.pseudo_label.networks import encode, predict_proba
from ood_helpers.pseudo_label.scoring import (clustering_numbers, kmeans_labels, knn_metrics, mahalanobis_metrics, msp_metrics, neighbour_purity as retrieval_purity, top_neighbours)
from ood_helpers.pseudo_label.splits import trial_data
from ood_helpers.pseudo_label.stages import device_of, fresh_backbone, scan_step, self_label, simclr, train_source


def _features(model, d) -> dict:
    sets = {"train": d.train, "test": d.test, **d.anomalies}
    if model is None:  # raw pixels
        return {k: v.reshape(len(v), -1).numpy() for k, v in sets.items()}
    return {k: encode(model, v, device=d.device).numpy() for k, v in sets.items()}


def _knn(f: dict, k: int = 1, reduce: str = "mean") -> dict:
    return knn_metrics(f["train"], f["test"], {"near": f["near"], "far": f["far"]}, k=k, reduce=reduce)


def _pct(metrics: dict) -> dict:
    return {k: 100.0 * v for k, v in metrics.items()}


def _labels(model, d) -> np.ndarray:
    """The model's cluster (argmax) of every normal training image."""
    return predict_proba(model, d.train, device=d.device).argmax(1).numpy()


@dataclass
class _Trial:
    """What the parts of one ``run_trial`` share: settings, data, stage arguments, records (``add``), seconds (``lap``)."""

    s: Any
    d: Any
    seed: int
    kw: dict  # profile, seed, progress: every stage's cache arguments
    K: int
    base: dict
    t0: float
    rec: dict = field(default_factory=lambda: {name: [] for name in TABLE_NAMES})
    seconds: dict = field(default_factory=dict)

    def add(self, table, metrics_by_set, **keys):
        for name, m in metrics_by_set.items():
            self.rec[table].append({**self.base, **keys, "anomaly": name, **_pct(m)})

    def lap(self, name):
        self.seconds[name] = time.perf_counter() - self.t0 - sum(self.seconds.values())

    def features(self, model) -> dict:
        return _features(model, self.d)

    def finetune(self, labels, tag: str, source, **changes):
        return finetune(self.s, source, self.d.train, labels, tag=tag, **changes, **self.kw)


@dataclass
class _Scan:
    """Stage 1: the SCAN heads (one per K of the sweep), the true-K head, its self-labelling, the pseudo-labels."""

    ks: dict
    heads: list
    models: list
    model: Any
    sl_meta: dict
    pseudo: np.ndarray


def run_trial(profile, s, trial: int, seed: int, *, progress: bool = False) -> dict:
    """Every record of one trial (``{table name: [records]}`` plus ``"meta"`` and ``"retrieval_idx"``)."""
    config = {"settings": asdict(s), "seed": int(seed), "trial": int(trial),
              "code": artifacts.code_fingerprint(__name__)}
    path = artifacts.cache_path(profile, "pseudo-label-trial", artifacts.config_hash(config))
    if path.exists():
        return artifacts.load_torch(path, expect_config=config)["result"]
    t0 = time.perf_counter()
    d = trial_data(seed, s)
    d.device = device_of(profile)
    t = _Trial(s, d, seed, {"profile": profile, "seed": seed, "progress": progress}, len(d.normal_classes),
               {"trial": int(trial), "seed": int(seed)}, t0)
    source, f_dn2 = _source_and_baselines(t)
    t.lap("source + baselines")
    sim, f_sim, neighbours = _simclr(t)
    t.lap("simclr")
    scan = _scan_and_self_label(t, sim, neighbours)
    t.lap("scan + self-label")
    ft, f_ours = _finetune_ours(t, source, scan.pseudo, f_dn2)
    km_src, km_sim, f_true = _finetune_other_labels(t, source, f_dn2, f_sim)
    _lr_sweep(t, source, scan.pseudo)
    t.lap("fine-tuning")
    if s.data == "digits":
        _source_coverage(t, scan.pseudo, f_dn2, f_ours, f_true)
    t.lap("source coverage")
    _table5(t, ft["model"], scan.pseudo, f_ours)
    sl2 = _table4(t, source, f_dn2, f_ours)
    t.lap("single-stage SCAN")
    _table6(t, source, scan, f_dn2, f_ours)
    t.lap("K sweep")
    _clustering(t, scan, km_src, km_sim, sl2)
    idx = _retrieval(t, f_dn2, f_ours)
    t.lap("scoring")
    meta = {"seconds": t.seconds, "total_seconds": time.perf_counter() - t0, "names": d.names,
            "normal_classes": d.normal_classes, "anomaly_classes": d.anomaly_classes,
            "neighbour_purity": 100 * neighbour_purity(neighbours, d.train_labels),
            "selflabel": scan.sl_meta,
            "confident_share": float((predict_proba(scan.model, d.train, device=d.device).max(1).values
                                      > s.selflabel_threshold).float().mean()),
            "pseudo_label_counts": np.bincount(scan.pseudo, minlength=t.K).tolist()}
    result = {**t.rec, "meta": meta, "retrieval_idx": idx}
    artifacts.atomic_save_torch({"result": result}, path, config=config)
    return result


def _source_and_baselines(t: _Trial):
    """The "pretrained" stand-in and the feature baselines (raw pixels, a random CNN, DN2); returns the
    stand-in and its features."""
    s, d = t.s, t.d
    source = train_source(s, d.source, d.source_labels, **t.kw)
    f_dn2 = t.features(source)
    t.add("table2", _knn(t.features(None)), method=RAW)
    t.add("table2", _knn(t.features(fresh_backbone(s, d.train.shape[1], t.seed + 1))), method=RANDOM)
    t.add("table2", _knn(f_dn2), method=DN2)
    return source, f_dn2


def _simclr(t: _Trial):
    """SCAN's stage 1 pretext: SimCLR from a fresh backbone; returns it, its features and the mined neighbours."""
    s, d = t.s, t.d
    sim = simclr(s, d.train, fresh_backbone(s, d.train.shape[1], t.seed), **t.kw)
    f_sim = t.features(sim.encoder)
    t.add("table2", _knn(f_sim), method=SIMCLR)
    neighbours = mine_neighbours(sim.project(d.train).numpy(), s.neighbours)
    return sim, f_sim, neighbours


def _scan_and_self_label(t: _Trial, sim, neighbours) -> _Scan:
    """The SCAN step (one head per K of the sweep, the true K among them), then self-labelling of the true-K head."""
    s, d, K = t.s, t.d, t.K
    ks = {mult: max(2, int(round(mult * K))) for mult in s.k_multipliers}
    heads = sorted(set(ks.values()) | {K})
    scan_models, _ = scan_step(s, d.train, neighbours, sim.encoder, heads, **t.kw)
    scan_model = scan_models[heads.index(K)]
    sl_model, sl_meta = self_label(s, d.train, scan_model, **t.kw)
    pseudo = _labels(sl_model, d)
    t.add("table2", _knn(t.features(sl_model)), method=SCAN_FEATS)
    return _Scan(ks, heads, scan_models, scan_model, sl_meta, pseudo)


def _finetune_ours(t: _Trial, source, pseudo, f_dn2):
    """Stage 2: the source fine-tuned on the pseudo-labels, epoch-end weights averaged (table2, the pre-declared
    ``lr`` cells, ``averaging``); returns the fine-tuning and the averaged model's features."""
    s = t.s
    ft = t.finetune(pseudo, f"scan-K{t.K}", source)
    f_ours = t.features(ft["model"])
    t.add("table2", _knn(f_ours), method=OURS)
    t.add("lr", _knn(f_dn2), column="DN2 (no fine-tuning)")
    t.add("lr", _knn(f_ours), column=lr_column(s.finetune_batch, s.lr_start, s.lr_end) + " (pre-declared)")
    for e, snap in enumerate(ft["snapshots"], 1):
        f_e = t.features(with_weights(ft["template"], snap))
        t.add("averaging", _knn(f_e), column=f"epoch {e}")
        if e == len(ft["snapshots"]):
            t.add("table2", _knn(f_e), method=LAST)
    t.add("averaging", _knn(f_ours), column="average")
    return ft, f_ours


def _finetune_other_labels(t: _Trial, source, f_dn2, f_sim):
    """Fine-tuning on k-means labels (of source and of SimCLR features) and on the true labels (table2);
    returns both k-means labellings and the true-label model's features."""
    km_src = kmeans_labels(f_dn2["train"], t.K, t.seed)
    km_sim = kmeans_labels(f_sim["train"], t.K, t.seed)
    f_true = None
    for method, labels, tag in ((KM_SRC, km_src, "kmeans-source"), (KM_SIM, km_sim, "kmeans-simclr"),
                                (TRUE, t.d.train_labels, "true")):
        f = t.features(t.finetune(labels, tag, source)["model"])
        t.add("table2", _knn(f), method=method)
        f_true = f if tag == "true" else f_true
    return km_src, km_sim, f_true


def _lr_sweep(t: _Trial, source, pseudo) -> None:
    """Post-hoc sensitivity (lr x batch size), never used to pick the headline."""
    s = t.s
    for batch in (s.finetune_batch, *s.sweep_batches):
        for lr in (s.lr_start, *s.lr_sweep):
            if batch == s.finetune_batch and lr == s.lr_start:
                continue
            ft_b = finetune(replace(s, finetune_batch=batch), source, t.d.train, pseudo, tag=f"scan-K{t.K}",
                            lr_start=lr, lr_end=lr / 10, **t.kw)
            t.add("lr", _knn(t.features(ft_b["model"])), column=lr_column(batch, lr, lr / 10))


def _source_coverage(t: _Trial, pseudo, f_dn2, f_ours, f_true) -> None:
    """The stand-in source trained on the normal classes only (never saw the anomaly digits) vs on all."""
    s, d = t.s, t.d
    d_only = trial_data(t.seed, replace(s, source_classes="normal_only"))  # same splits, another source
    src_only = train_source(s, d_only.source, d_only.source_labels, **t.kw)
    cov = {"all": (f_dn2, f_ours, f_true)}
    cov["normal_only"] = (t.features(src_only),
                          t.features(t.finetune(pseudo, f"scan-K{t.K}", src_only)["model"]),
                          t.features(t.finetune(d.train_labels, "true", src_only)["model"]))
    for coverage, feats in cov.items():
        for method, f in zip((DN2, OURS, TRUE), feats):
            t.add("coverage", _knn(f), method=method, column=f"source classes: {coverage}")


def _table5(t: _Trial, model, pseudo, f_ours) -> None:
    """Table 5: scoring rules (k-NN mean and k-th, Mahalanobis, MSP) on the averaged model."""
    s, d = t.s, t.d
    cols = table5_columns(s)
    for k, col in zip(s.ks, cols):
        t.add("table5", _knn(f_ours, k=k), column=col)
    t.add("table5", _knn(f_ours, k=max(s.ks), reduce="kth"), column=cols[len(s.ks)])
    anomalies = {"near": f_ours["near"], "far": f_ours["far"]}
    t.add("table5", mahalanobis_metrics(f_ours["train"], pseudo, f_ours["test"], anomalies), column=cols[-2])
    probs = {k: predict_proba(model, getattr(d, k), device=d.device).numpy() for k in ("test", "near", "far")}
    t.add("table5", msp_metrics(probs["test"], {"near": probs["near"], "far": probs["far"]}), column=cols[-1])


def _table4(t: _Trial, source, f_dn2, f_ours):
    """Table 4: single-stage adaptation, SCAN initialised from the source network; returns its self-labelled model."""
    s, d = t.s, t.d
    sim2 = simclr(s, d.train, copy.deepcopy(source.encoder), **t.kw)
    t.add("table4", _knn(f_dn2), column=TABLE4_STAGES[0])
    t.add("table4", _knn(t.features(sim2.encoder)), column=TABLE4_STAGES[1])
    (scan2,), _ = scan_step(s, d.train, mine_neighbours(sim2.project(d.train).numpy(), s.neighbours), sim2.encoder,
                            [t.K], **t.kw)
    t.add("table4", _knn(t.features(scan2)), column=TABLE4_STAGES[2])
    sl2, _ = self_label(s, d.train, scan2, **t.kw)
    t.add("table4", _knn(t.features(sl2)), column=TABLE4_STAGES[3])
    t.add("table4", _knn(f_ours), column=TABLE4_STAGES[4])
    return sl2


def _table6(t: _Trial, source, scan: _Scan, f_dn2, f_ours) -> None:
    """Table 6: number of clusters (the heads of the one SCAN step, each self-labelled and fine-tuned)."""
    s, d = t.s, t.d
    for mult, kx in scan.ks.items():
        if kx == t.K:
            f_k = f_ours
        else:
            sl_k, _ = self_label(s, d.train, scan.models[scan.heads.index(kx)], **t.kw)
            labels_k = _labels(sl_k, d)
            t.rec["clustering"].append({**t.base, "labelling": f"SCAN + self-labelling, K = {mult:g}x",
                                        "clusters": kx, "found": len(np.unique(labels_k)),
                                        **clustering_numbers(d.train_labels, labels_k)})
            f_k = t.features(t.finetune(labels_k, f"scan-K{kx}", source)["model"])
        t.add("table6", _knn(f_k), column=k_column(mult), clusters=kx)
    t.add("table6", _knn(f_dn2), column="No adaptation (DN2)", clusters=0)


def _clustering(t: _Trial, scan: _Scan, km_src, km_sim, sl2) -> None:
    """Clustering quality of every pseudo-labelling (ground truth used only here, to report)."""
    d = t.d
    for name, labels in zip(LABELLINGS, (_labels(scan.model, d), scan.pseudo, km_src, km_sim, _labels(sl2, d))):
        t.rec["clustering"].append({**t.base, "labelling": name, "clusters": t.K, "found": len(np.unique(labels)),
                                    **clustering_numbers(d.train_labels, labels)})


def _retrieval(t: _Trial, f_dn2, f_ours) -> dict:
    """Fig. 2 analogue: top-5 training neighbours of the anomalies, raw (DN2) vs fine-tuned (Ours); returns the
    first ``retrieval_queries`` queries' neighbour indices."""
    idx = {}
    for feats, name in ((f_dn2, "Raw (DN2)"), (f_ours, "FT (Ours)")):
        for anomaly in ("near", "far"):
            nn_idx = top_neighbours(feats["train"], feats[anomaly], 5)
            idx[(name, anomaly)] = nn_idx[: t.s.retrieval_queries]
            t.rec["retrieval"].append({**t.base, "features": name, "anomaly": anomaly,
                                       "top5_purity": 100 * retrieval_purity(nn_idx, t.d.train_labels),
                                       "top1_distance": float(1 - np.sum(
                                           _unit(feats["train"][nn_idx[:, 0]]) * _unit(feats[anomaly]), 1).mean())})
    return idx


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
