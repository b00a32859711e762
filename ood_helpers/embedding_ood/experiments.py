"""The experiments of notebook 07 as functions returning long records (one dict per split/set, detector,
metric and trial), which ``tables.trials_table`` turns into mean ± std tables: Table II (held-out digit
pairs), Table I (MNIST against other sets), the ablation ladder, the alpha / lambda sensitivity and the
sifting experiment with contaminated training data (E3, beyond the paper)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from ood_helpers.core.metrics.ood import ood_metrics, msp_score, auroc
from ood_helpers.core.seeding import trial_seed
from ood_helpers.embedding_ood import autoencoder as AE
from ood_helpers.embedding_ood import datasets as D
from ood_helpers.embedding_ood.abnormality import abnormality_score, train_abnormality
from ood_helpers.embedding_ood.settings import EmbeddingOODSettings
from ood_helpers.embedding_ood.training import Architecture, Variant, finetune, ladder, pretrain
from ood_helpers.embedding_ood.typeset import GLYPHS_NAME, jittered

OURS = "J_r, full model (ours)"
AE_SCORE = "J_r, plain AE"
MSP_BASELINE = "MSP, AE + classifier (H&G softmax baseline)"
MSP_FULL = "MSP, full model"
HG_MODULE = "H&G abnormality module (our reimplementation)"
DETECTORS = (MSP_BASELINE, AE_SCORE, OURS, MSP_FULL, HG_MODULE)
# which model and which score each detector reads
DETECTOR_SOURCES = {MSP_BASELINE: ("AE + classifier", "msp"), AE_SCORE: ("AE", "error"), OURS: ("full", "error"),
                    MSP_FULL: ("full", "msp")}
TABLE_VARIANTS = ("AE", "AE + classifier", "full")


@dataclass
class Trained:
    """The models of one (data, seed) and what is needed to score them."""

    models: dict
    pre: dict
    logs: dict
    arch: Architecture


def architecture(s: EmbeddingOODSettings, num_classes: int) -> Architecture:
    return Architecture("mlp", (1, 28, 28), num_classes, tuple(s.hidden), s.embed_dim)


def train_models(x, y, num_classes: int, s: EmbeddingOODSettings, seed: int, profile, variants, *,
                 pretrain_on=None, device: str = "cpu", arch: Architecture | None = None) -> Trained:
    """Pretrain once (on ``pretrain_on`` = (x, y) or the training set), then fine-tune every ``variants`` entry
    from those same weights and centres, with the same seed and schedule."""
    arch = arch or architecture(s, num_classes)
    px, py = pretrain_on if pretrain_on is not None else (x, y)
    pre = pretrain(px, py, arch, epochs=s.pretrain_epochs, lr=s.pretrain_lr, batch_size=s.batch_size, seed=seed,
                   profile=profile, kmeans_n_init=s.kmeans_n_init, device=device)
    models, logs = {}, {}
    for v in variants:
        models[v.name], logs[v.name] = finetune(pre, x, y, arch, v, epochs=s.joint_epochs, lr=s.joint_lr,
                                                momentum=s.momentum, batch_size=s.batch_size, seed=seed,
                                                profile=profile, device=device)
    return Trained(models, pre, logs, arch)


def scores_of(model, images, device="cpu") -> dict:
    out = AE.score(model, images, device=device)
    out["msp"] = msp_score(out["probs"])
    return out


def detector_records(trained: Trained, id_scores: dict, ood_scores: dict, **keys) -> list[dict]:
    """Records of every detector in ``DETECTORS`` whose model was trained, AUROC/AUPR-In/AUPR-Out/FPR95 in %."""
    recs = []
    for det, (model, field) in DETECTOR_SOURCES.items():
        if model not in trained.models:
            continue
        for metric, value in ood_metrics(id_scores[model][field], ood_scores[model][field]).items():
            recs.append({**keys, "detector": det, "metric": metric, "value": 100.0 * value})
    return recs


def hg_records(x, y, num_classes: int, s: EmbeddingOODSettings, seed: int, profile, id_images, ood_sets: dict,
               key: str, device: str = "cpu", **keys) -> list[dict]:
    """The paper's baseline, H&G's abnormality module, trained on (x, y) and scored on each OOD set."""
    model = train_abnormality(x, y, num_classes, epochs=s.hg_epochs, risk_epochs=s.hg_risk_epochs, seed=seed,
                              profile=profile, device=device)
    s_in = abnormality_score(model, id_images, device=device)
    recs = []
    for name, imgs in ood_sets.items():
        for metric, value in ood_metrics(s_in, abnormality_score(model, imgs, device=device)).items():
            recs.append({**keys, key: name, "detector": HG_MODULE, "metric": metric, "value": 100.0 * value})
    return recs


def heldout_digit_records(s: EmbeddingOODSettings, profile, *, device: str = "cpu", keep_models=None):
    """Table II and the ablation on every held-out pair of ``s.pairs`` and every trial. Returns
    (table2 records, ablation records, kept) where ``kept[(pair, trial)]`` holds models and test data for
    the pairs/trials named in ``keep_models`` (for the figures)."""
    x, y = D.digit_split(s.id_set, "train", seed=profile.seed, val_per_class=s.val_per_class)
    xt, yt = D.digit_split(s.id_set, "test", seed=profile.seed, val_per_class=s.val_per_class)
    variants = list(ladder(s.lambda_e, s.lambda_c, s.alpha_interp).values())
    table2, ablation, kept = [], [], {}
    for pair in s.pairs:
        name = f"MNIST-{{{pair[0]},{pair[1]}}}"
        xk, yk, _, _ = D.heldout(x, y, pair)
        xtk, ytk, xto, dto = D.heldout(xt, yt, pair)
        for t in range(s.trials):
            seed = trial_seed(profile.seed, t)
            tr = train_models(xk, yk, 8, s, seed, profile, variants, device=device)
            sin = {m: scores_of(tr.models[m], xtk, device) for m in tr.models}
            sout = {m: scores_of(tr.models[m], xto, device) for m in tr.models}
            table2 += detector_records(tr, sin, sout, split=name, trial=t)
            table2 += hg_records(xk, yk, 8, s, seed, profile, xtk, {name: xto}, "split", device=device, trial=t)
            for m in (AE_SCORE, OURS):
                src = DETECTOR_SOURCES[m][0]
                for i, digit in enumerate(sorted(pair)):
                    table2.append({"split": name, "trial": t, "detector": m, "metric": f"auroc_digit_{'ab'[i]}",
                                   "value": 100.0 * auroc(sin[src]["error"], sout[src]["error"][dto == digit])})
            for v in variants:
                si, so = sin[v.name], sout[v.name]
                rec = {"split": name, "model": v.name, "trial": t}
                acc = float((si["probs"].argmax(1) == ytk).mean()) if v.lambda_c else float("nan")
                rows = {"accuracy": acc, **ood_metrics(si["error"], so["error"])}
                if v.lambda_c:
                    rows["msp_auroc"] = auroc(si["msp"], so["msp"])
                ablation += [{**rec, "metric": k, "value": 100.0 * val} for k, val in rows.items() if val == val]
            if keep_models and (pair, t) in keep_models:
                kept[(pair, t)] = {"trained": tr, "x_in": xtk, "y_in": ytk, "x_out": xto, "digits_out": dto,
                                   "scores_in": sin, "scores_out": sout}
    return table2, ablation, kept


def cross_dataset_records(s: EmbeddingOODSettings, profile, *, offline: bool, device: str = "cpu"):
    """Table I's MNIST rows: a 10-digit model per trial against every set of ``datasets.mnist_ood_sets``.
    Returns (OOD records, ID accuracy records, unavailable {name: reason}, the trial-0 models with their ID
    validation scores and the OOD sets)."""
    x, y = D.digit_split(s.id_set, "train", seed=profile.seed, val_per_class=s.val_per_class)
    xv, _ = D.digit_split(s.id_set, "val", seed=profile.seed, val_per_class=s.val_per_class)
    xt, yt = D.digit_split(s.id_set, "test", seed=profile.seed, val_per_class=s.val_per_class)
    sets = D.mnist_ood_sets(s.ood_images, seed=profile.seed, offline=offline, include_digits=s.id_set != "digits")
    missing = {k: v.reason for k, v in sets.items() if isinstance(v, D.Unavailable)}
    sets = {k: v for k, v in sets.items() if not isinstance(v, D.Unavailable)}
    variants = [v for v in ladder(s.lambda_e, s.lambda_c, s.alpha_interp).values() if v.name in TABLE_VARIANTS]
    records, first = [], None
    for t in range(s.trials):
        seed = trial_seed(profile.seed, t)
        tr = train_models(x, y, 10, s, seed, profile, variants, device=device)
        sin = {m: scores_of(tr.models[m], xt, device) for m in tr.models}
        for m in (v.name for v in variants if v.lambda_c):  # the plain AE's head is never trained
            records.append({"ood_set": "(in-distribution test accuracy)", "trial": t, "detector": m,
                            "metric": "accuracy", "value": 100.0 * float((sin[m]["probs"].argmax(1) == yt).mean())})
        for name, imgs in sets.items():
            sout = {m: scores_of(tr.models[m], imgs, device) for m in tr.models}
            records += detector_records(tr, sin, sout, ood_set=name, trial=t)
        records += hg_records(x, y, 10, s, seed, profile, xt, sets, "ood_set", device=device, trial=t)
        if t == 0:
            first = {"trained": tr, "val_scores": {m: scores_of(tr.models[m], xv, device) for m in tr.models},
                     "sets": sets, "x_test": xt, "y_test": yt}
    return [r for r in records if r["metric"] != "accuracy"], [r for r in records if r["metric"] == "accuracy"], missing, first


def sensitivity_records(s: EmbeddingOODSettings, profile, *, device: str = "cpu") -> list[dict]:
    """The full model on MNIST-{sweep_pair}, trial 0, over the interpolation constants and loss weights."""
    x, y = D.digit_split(s.id_set, "train", seed=profile.seed, val_per_class=s.val_per_class)
    xt, yt = D.digit_split(s.id_set, "test", seed=profile.seed, val_per_class=s.val_per_class)
    xk, yk, _, _ = D.heldout(x, y, s.sweep_pair)
    xtk, ytk, xto, _ = D.heldout(xt, yt, s.sweep_pair)
    settings = [(f"alpha_interp = {a:g} (lambda = {s.lambda_e:g})", Variant(f"full a{a:g}", s.lambda_e, s.lambda_c, a))
                for a in s.sweep_alphas]
    settings += [(f"lambda_e = lambda_c = {lam:g} (alpha_interp = {s.alpha_interp:g})",
                  Variant(f"full l{lam:g}", lam, lam, s.alpha_interp)) for lam in s.sweep_lambdas]
    seed = trial_seed(profile.seed, 0)
    tr = train_models(xk, yk, 8, s, seed, profile, [v for _, v in settings], device=device)
    recs = []
    for label, v in settings:
        si, so = scores_of(tr.models[v.name], xtk, device), scores_of(tr.models[v.name], xto, device)
        rows = {"accuracy": float((si["probs"].argmax(1) == ytk).mean()), **ood_metrics(si["error"], so["error"]),
                "msp_auroc": auroc(si["msp"], so["msp"])}
        recs += [{"setting": label, "trial": 0, "metric": k, "value": 100.0 * val} for k, val in rows.items()]
    return recs


def contaminated_training_set(x, y, rate: float, *, seed: int):
    """(images, labels, is_injected): ``x`` plus round(rate * n) noise images (half U[0,1), half clipped
    N(0.5, 1), drawn with seeds disjoint from the test noise) carrying random labels (paper §IV-A(e))."""
    n_out = int(round(rate * len(x)))
    rng = np.random.default_rng([int(seed), 99])
    half = n_out // 2
    uni = torch.from_numpy(rng.random((half, 1, 28, 28)).astype(np.float32))
    gau = torch.from_numpy(rng.normal(0.5, 1.0, (n_out - half, 1, 28, 28)).clip(0, 1).astype(np.float32))
    labels = rng.integers(0, int(y.max()) + 1, n_out)
    return (torch.cat([x, uni, gau]), np.r_[y, labels].astype(np.int64),
            np.r_[np.zeros(len(x), bool), np.ones(n_out, bool)])


def sifting_records(s: EmbeddingOODSettings, profile, *, device: str = "cpu") -> list[dict]:
    """E3 (beyond the paper): 10-digit training set with ``s.contamination`` injected noise images; the AE
    is pretrained on a clean stratified 20 % part; the full model trained with and without sifting, and (reference)
    on the clean set with the same pretrained weights."""
    from sklearn.model_selection import train_test_split

    x, y = D.digit_split(s.id_set, "train", seed=profile.seed, val_per_class=s.val_per_class)
    xt, yt = D.digit_split(s.id_set, "test", seed=profile.seed, val_per_class=s.val_per_class)
    xc, yc, injected = contaminated_training_set(x, y, s.contamination, seed=profile.seed)
    clean_idx, _ = train_test_split(np.arange(len(x)), train_size=0.2, stratify=y, random_state=profile.seed)
    clean_idx = np.sort(clean_idx)
    oods = {GLYPHS_NAME: jittered("glyphs", s.ood_images, seed=profile.seed),
            D.HG_UNIFORM: D.hg_uniform(s.ood_images, (1, 28, 28), seed=profile.seed)}
    base = Variant("full", s.lambda_e, s.lambda_c, s.alpha_interp)
    variants = [replace(base, name="full, no sifting"), replace(base, name="full, sifting", sift_fraction=s.sift_fraction)]
    seed = trial_seed(profile.seed, 0)
    clean_part = (x[torch.from_numpy(clean_idx)], y[clean_idx])
    tr = train_models(xc, yc, 10, s, seed, profile, variants, pretrain_on=clean_part, device=device)
    reference = replace(base, name="full, clean training data (reference)")
    tr_clean = train_models(x, y, 10, s, seed, profile, [reference], pretrain_on=clean_part, device=device)
    recs = []
    for v, trained in [(v, tr) for v in variants] + [(reference, tr_clean)]:
        m = trained.models[v.name]
        si = scores_of(m, xt, device)
        rows = {}
        if v is not reference:
            drops = [np.asarray(i["dropped"]) for i in trained.logs[v.name]["intervals"]]
            caught = [float(injected[d].sum() / injected.sum()) for d in drops]
            rows = {"injected outliers removed, last interval (%)": caught[-1],
                    "injected outliers removed, mean over intervals (%)": float(np.mean(caught)),
                    "clean images removed, last interval (%)": float((~injected[drops[-1]]).sum() / (~injected).sum())}
        rows["ID test accuracy (%)"] = float((si["probs"].argmax(1) == yt).mean())
        for name, imgs in oods.items():
            rows[f"AUROC (%) vs {name}"] = auroc(si["error"], scores_of(m, imgs, device)["error"])
        recs += [{"model": f"{v.name} (sift_fraction {v.sift_fraction:g})", "trial": 0, "metric": k, "value": 100.0 * val}
                 for k, val in rows.items()]
    return recs


CIFAR_GAUSSIAN = "Gaussian: training mean + N(0, 0.5^2) per pixel (H&G's CIFAR noise on mean-subtracted inputs)"


def cifar_records(s: EmbeddingOODSettings, profile, *, offline: bool, device: str = "cpu"):
    """Table I's CIFAR-10 rows with the conv AE: a 10-class model vs SUN (``OOD_SUN_DIR``) and Gaussian noise,
    and an 8-class model vs the held-out classes ``s.cifar_heldout`` (the offline analogue of SUN, not SUN).
    Returns (records, unavailable {name: reason}); CIFAR-10 itself unreadable -> ([], {reason})."""
    try:
        x, y = D.cifar_colour("train", download=not offline, val_per_class=s.val_per_class)
        xt, yt = D.cifar_colour("test", download=not offline)
    except (FileNotFoundError, RuntimeError, OSError) as err:
        return [], {"CIFAR-10": f"not readable here (set OOD_CIFAR10_DIR to an image-folder copy): {err}"}
    if s.cifar_train_images and s.cifar_train_images < len(x):  # evenly spaced: a folder copy lists one class at a time
        pick = np.linspace(0, len(x) - 1, s.cifar_train_images).round().astype(np.int64)
        x, y = x[torch.from_numpy(pick)], y[pick]
    s_c = replace(s, pretrain_epochs=s.cifar_epochs, joint_epochs=s.cifar_epochs)
    variants = [v for v in ladder(s.lambda_e, s.lambda_c, s.alpha_interp).values() if v.name in TABLE_VARIANTS]
    rng = np.random.default_rng([int(profile.seed), 21])
    noise = (x.mean(0, keepdim=True) + torch.from_numpy(rng.normal(0, 0.5, (len(xt), *x.shape[1:])).astype(np.float32)))
    sun = D.folder_images("OOD_SUN_DIR", D.SUN, channels=3, size=32, n=10**6)
    missing = {D.SUN: sun.reason} if isinstance(sun, D.Unavailable) else {}
    pair = tuple(s.cifar_heldout)
    xk, yk, _, _ = D.heldout(x, y, pair)
    xtk, _, xto, _ = D.heldout(xt, yt, pair)
    held_name = f"CIFAR-10 classes {pair} held out (stand-in for SUN, not SUN)"
    records = []
    for t in range(s.trials):
        seed = trial_seed(profile.seed, t)
        arch10 = Architecture("conv", (3, 32, 32), 10, embed_dim=s.cifar_embed_dim, conv_width=s.cifar_width)
        tr = train_models(x, y, 10, s_c, seed, profile, variants, device=device, arch=arch10)
        sin = {m: scores_of(tr.models[m], xt, device) for m in tr.models}
        sets = {CIFAR_GAUSSIAN: noise, **({} if missing else {D.SUN: sun})}
        for name, imgs in sets.items():
            records += detector_records(tr, sin, {m: scores_of(tr.models[m], imgs, device) for m in tr.models},
                                        ood_set=name, trial=t)
        arch8 = replace(arch10, num_classes=8)
        tr8 = train_models(xk, yk, 8, s_c, seed, profile, variants, device=device, arch=arch8)
        records += detector_records(tr8, {m: scores_of(tr8.models[m], xtk, device) for m in tr8.models},
                                    {m: scores_of(tr8.models[m], xto, device) for m in tr8.models}, ood_set=held_name, trial=t)
    return records, missing
