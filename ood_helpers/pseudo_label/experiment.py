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
from dataclasses import asdict, replace

import numpy as np

from ood_helpers.core import artifacts
from ood_helpers.pseudo_label.finetune import finetune, with_weights
from ood_helpers.pseudo_label.neighbours import mine_neighbours, neighbour_purity
from ood_helpers.pseudo_label.networks import encode, predict_proba
from ood_helpers.pseudo_label.scoring import (clustering_numbers, kmeans_labels, knn_metrics, mahalanobis_metrics, msp_metrics, neighbour_purity as retrieval_purity, top_neighbours)
from ood_helpers.pseudo_label.splits import trial_data
from ood_helpers.pseudo_label.stages import device_of, fresh_backbone, scan_step, self_label, simclr, train_source


RAW, RANDOM = "Raw pixels", "Random-init CNN (no training)"
DN2, SIMCLR = "DN2: source features, no adaptation", "SimCLR features (SCAN stage 1)"
SCAN_FEATS, OURS = "SCAN features (no pretraining)", "Ours: SCAN pseudo-labels, fine-tune, average"
LAST = "Ours, last epoch only (no averaging)"
KM_SRC, KM_SIM = "Fine-tune on k-means pseudo-labels (source features)", "Fine-tune on k-means of SimCLR features"
TRUE = "Fine-tune on true labels (upper bound, uses labels)"
TABLE2_METHODS = (RAW, RANDOM, DN2, SIMCLR, SCAN_FEATS, OURS, LAST, KM_SRC, KM_SIM, TRUE)
TABLE4_STAGES = ("DN2 (no adaptation)", "SimCLR from source init", "+ SCAN step", "+ self-labelling",
                 "Ours (two stages)")
LABELLINGS = ("SCAN step", "SCAN + self-labelling", "k-means on source features", "k-means on SimCLR features",
              "single-stage SCAN (source init) + self-labelling")
TABLE_NAMES = ("table2", "table4", "table5", "table6", "averaging", "lr", "coverage", "clustering", "retrieval")


def table5_columns(s) -> list[str]:
    return [f"{k}NN (mean)" for k in s.ks] + [f"{max(s.ks)}NN (k-th)", "Mahalanobis (pseudo-label clusters)",
                                              "MSP (Eq. 1)"]


def lr_column(batch: int, lr_start: float, lr_end: float) -> str:
    return f"batch {batch}, lr {lr_start:g} -> {lr_end:g}"


def k_column(mult: float) -> str:
    return f"K = {mult:g}x true"


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


def run_trial(profile, s, trial: int, seed: int, *, progress: bool = False) -> dict:
    """Every record of one trial (``{table name: [records]}`` plus ``"meta"`` and ``"retrieval_idx"``)."""
    config = {"settings": asdict(s), "seed": int(seed), "trial": int(trial),
              "code": artifacts.code_fingerprint(__name__)}
    path = artifacts.cache_path(profile, "pseudo-label-trial", artifacts.config_hash(config))
    if path.exists():
        return artifacts.load_torch(path, expect_config=config)["result"]
    t0 = time.perf_counter()
    seconds = {}
    d = trial_data(seed, s)
    d.device = device_of(profile)
    K = len(d.normal_classes)
    rec = {name: [] for name in TABLE_NAMES}
    base = {"trial": int(trial), "seed": int(seed)}

    def add(table, metrics_by_set, **keys):
        for name, m in metrics_by_set.items():
            rec[table].append({**base, **keys, "anomaly": name, **_pct(m)})

    def lap(name):
        seconds[name] = time.perf_counter() - t0 - sum(seconds.values())

    kw = {"profile": profile, "seed": seed, "progress": progress}
    # --- "pretrained" stand-in and the feature baselines
    source = train_source(s, d.source, d.source_labels, **kw)
    f_dn2 = _features(source, d)
    add("table2", _knn(_features(None, d)), method=RAW)
    add("table2", _knn(_features(fresh_backbone(s, d.train.shape[1], seed + 1), d)), method=RANDOM)
    add("table2", _knn(f_dn2), method=DN2)
    lap("source + baselines")
    # --- Stage 1: SCAN (SimCLR -> neighbours -> SCAN step, one head per K of the sweep -> self-labelling)
    sim = simclr(s, d.train, fresh_backbone(s, d.train.shape[1], seed), **kw)
    f_sim = _features(sim.encoder, d)
    add("table2", _knn(f_sim), method=SIMCLR)
    neighbours = mine_neighbours(sim.project(d.train).numpy(), s.neighbours)
    lap("simclr")
    ks = {mult: max(2, int(round(mult * K))) for mult in s.k_multipliers}
    heads = sorted(set(ks.values()) | {K})
    scan_models, _ = scan_step(s, d.train, neighbours, sim.encoder, heads, **kw)
    scan_model = scan_models[heads.index(K)]
    sl_model, sl_meta = self_label(s, d.train, scan_model, **kw)
    pseudo = _labels(sl_model, d)
    add("table2", _knn(_features(sl_model, d)), method=SCAN_FEATS)
    lap("scan + self-label")
    # --- Stage 2: fine-tune on pseudo-labels, average the epoch-end weights
    ft = finetune(s, source, d.train, pseudo, tag=f"scan-K{K}", **kw)
    f_ours = _features(ft["model"], d)
    add("table2", _knn(f_ours), method=OURS)
    add("lr", _knn(f_dn2), column="DN2 (no fine-tuning)")
    add("lr", _knn(f_ours), column=lr_column(s.finetune_batch, s.lr_start, s.lr_end) + " (pre-declared)")
    for e, snap in enumerate(ft["snapshots"], 1):
        f_e = _features(with_weights(ft["template"], snap), d)
        add("averaging", _knn(f_e), column=f"epoch {e}")
        if e == len(ft["snapshots"]):
            add("table2", _knn(f_e), method=LAST)
    add("averaging", _knn(f_ours), column="average")
    km_src = kmeans_labels(f_dn2["train"], K, seed)
    km_sim = kmeans_labels(f_sim["train"], K, seed)
    f_true = None
    for method, labels, tag in ((KM_SRC, km_src, "kmeans-source"), (KM_SIM, km_sim, "kmeans-simclr"),
                                (TRUE, d.train_labels, "true")):
        f = _features(finetune(s, source, d.train, labels, tag=tag, **kw)["model"], d)
        add("table2", _knn(f), method=method)
        f_true = f if tag == "true" else f_true
    for batch in (s.finetune_batch, *s.sweep_batches):  # post-hoc sensitivity, never used to pick the headline
        for lr in (s.lr_start, *s.lr_sweep):
            if batch == s.finetune_batch and lr == s.lr_start:
                continue
            ft_b = finetune(replace(s, finetune_batch=batch), source, d.train, pseudo, tag=f"scan-K{K}", lr_start=lr,
                            lr_end=lr / 10, **kw)
            add("lr", _knn(_features(ft_b["model"], d)), column=lr_column(batch, lr, lr / 10))
    lap("fine-tuning")
    # --- source coverage: the stand-in source trained on the normal classes only (never saw the anomaly digits)
    if s.data == "digits":
        d_only = trial_data(seed, replace(s, source_classes="normal_only"))  # same splits, another source
        src_only = train_source(s, d_only.source, d_only.source_labels, **kw)
        cov = {"all": (f_dn2, f_ours, f_true)}
        cov["normal_only"] = (_features(src_only, d),
                              _features(finetune(s, src_only, d.train, pseudo, tag=f"scan-K{K}", **kw)["model"], d),
                              _features(finetune(s, src_only, d.train, d.train_labels, tag="true", **kw)["model"], d))
        for coverage, feats in cov.items():
            for method, f in zip((DN2, OURS, TRUE), feats):
                add("coverage", _knn(f), method=method, column=f"source classes: {coverage}")
    lap("source coverage")
    # --- Table 5: scoring rules on the averaged model
    cols = table5_columns(s)
    for k, col in zip(s.ks, cols):
        add("table5", _knn(f_ours, k=k), column=col)
    add("table5", _knn(f_ours, k=max(s.ks), reduce="kth"), column=cols[len(s.ks)])
    add("table5", mahalanobis_metrics(f_ours["train"], pseudo, f_ours["test"], {"near": f_ours["near"],
                                                                                "far": f_ours["far"]}),
        column=cols[-2])
    probs = {k: predict_proba(ft["model"], getattr(d, k), device=d.device).numpy() for k in ("test", "near", "far")}
    add("table5", msp_metrics(probs["test"], {"near": probs["near"], "far": probs["far"]}), column=cols[-1])
    # --- Table 4: single-stage adaptation, SCAN initialised from the source network
    sim2 = simclr(s, d.train, copy.deepcopy(source.encoder), **kw)
    add("table4", _knn(f_dn2), column=TABLE4_STAGES[0])
    add("table4", _knn(_features(sim2.encoder, d)), column=TABLE4_STAGES[1])
    (scan2,), _ = scan_step(s, d.train, mine_neighbours(sim2.project(d.train).numpy(), s.neighbours), sim2.encoder,
                            [K], **kw)
    add("table4", _knn(_features(scan2, d)), column=TABLE4_STAGES[2])
    sl2, _ = self_label(s, d.train, scan2, **kw)
    add("table4", _knn(_features(sl2, d)), column=TABLE4_STAGES[3])
    add("table4", _knn(f_ours), column=TABLE4_STAGES[4])
    lap("single-stage SCAN")
    # --- Table 6: number of clusters (the heads of the one SCAN step, each self-labelled and fine-tuned)
    for mult, kx in ks.items():
        if kx == K:
            f_k = f_ours
        else:
            sl_k, _ = self_label(s, d.train, scan_models[heads.index(kx)], **kw)
            labels_k = _labels(sl_k, d)
            rec["clustering"].append({**base, "labelling": f"SCAN + self-labelling, K = {mult:g}x", "clusters": kx,
                                      "found": len(np.unique(labels_k)), **clustering_numbers(d.train_labels, labels_k)})
            f_k = _features(finetune(s, source, d.train, labels_k, tag=f"scan-K{kx}", **kw)["model"], d)
        add("table6", _knn(f_k), column=k_column(mult), clusters=kx)
    add("table6", _knn(f_dn2), column="No adaptation (DN2)", clusters=0)
    lap("K sweep")
    # --- clustering quality of every pseudo-labelling (ground truth used only here, to report)
    for name, labels in zip(LABELLINGS, (_labels(scan_model, d), pseudo, km_src, km_sim, _labels(sl2, d))):
        rec["clustering"].append({**base, "labelling": name, "clusters": K, "found": len(np.unique(labels)),
                                  **clustering_numbers(d.train_labels, labels)})
    # --- Fig. 2 analogue: top-5 training neighbours of the anomalies, raw (DN2) vs fine-tuned (Ours)
    idx = {}
    for feats, name in ((f_dn2, "Raw (DN2)"), (f_ours, "FT (Ours)")):
        for anomaly in ("near", "far"):
            nn_idx = top_neighbours(feats["train"], feats[anomaly], 5)
            idx[(name, anomaly)] = nn_idx[: s.retrieval_queries]
            rec["retrieval"].append({**base, "features": name, "anomaly": anomaly,
                                     "top5_purity": 100 * retrieval_purity(nn_idx, d.train_labels),
                                     "top1_distance": float(1 - np.sum(
                                         _unit(feats["train"][nn_idx[:, 0]]) * _unit(feats[anomaly]), 1).mean())})
    lap("scoring")
    meta = {"seconds": seconds, "total_seconds": time.perf_counter() - t0, "names": d.names,
            "normal_classes": d.normal_classes, "anomaly_classes": d.anomaly_classes,
            "neighbour_purity": 100 * neighbour_purity(neighbours, d.train_labels),
            "selflabel": sl_meta,
            "confident_share": float((predict_proba(scan_model, d.train, device=d.device).max(1).values
                                      > s.selflabel_threshold).float().mean()),
            "pseudo_label_counts": np.bincount(pseudo, minlength=K).tolist()}
    result = {**rec, "meta": meta, "retrieval_idx": idx}
    artifacts.atomic_save_torch({"result": result}, path, config=config)
    return result


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
