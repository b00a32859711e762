"""Rows from notebook 09 (paper 003, label-free): DN2 (1-NN cosine on the "pretrained" network's features) and
the paper's method (SCAN pseudo-labels of the unlabelled known-class training images, fine-tuning of the pretrained
network on them, the mean of its epoch-end weights, 1-NN cosine on its features). Neither row reads a label:
``y_train`` / ``y_val`` / ``y_test`` are never touched, the cluster count K is the number of known classes (the
paper's K = 10 for CIFAR-10's ten classes).

Each stage runs through ``pseudo_label.stages`` / ``finetune`` (cached there by settings, data, seed and code, so the
two rows of a trial share one pretrained network) with notebook 09's settings for the profile
(``pseudo_label.settings``, the user's ``extra["pseudo_label"]`` overrides included) after the changes of
:data:`CHANGES`. Images go to 09's ``image_size`` through ``splits.resized``; the unknown test images play 09's
near anomalies. The "pretrained" network is 09's: in smoke / quick the offline stand-in, a small CNN trained with
labels on scikit-learn's 8x8 digits upsampled (stand-in for ImageNet pretraining, 1 channel only: 3-channel
datasets are unavailable there); in cifar / paper torchvision's ImageNet ResNet. ``settings.data`` follows the
trial's images (1 channel: "digits" augmentation without flips, 3: "cifar10").

CHANGES (the benchmark trains on 320 images a class where notebook 09's quick profile has 100, so an epoch is 3.2x
as many steps, and the two rows must fit ~10 s a trial on one core):

- quick: ``simclr_epochs`` 8 -> 2, ``scan_epochs`` 60 -> 6, ``selflabel_epochs`` 15 -> 3 (120 / 90 / 27 steps
  instead of 480 / 900 / 135). Measured on trial 0 (one core, under load): 09's values 37 s and AUROC 86.9, these
  about 8 s for both rows and 85.4. The "pretrained" stand-in (``source_epochs`` 10) and the fine-tuning (the
  paper's 5 epochs, averaged) keep 09's values, so the stand-in is the network notebook 09 caches for the seed.
- smoke: none (09's smoke settings: under 1 s a trial).

- cifar: ``simclr_epochs`` 200 -> 30, ``scan_epochs`` 50 -> 8, ``selflabel_epochs`` 50 -> 8 (09's settings are sized
  for 4,000 training images, a CIFAR-10 trial has 24,000: about as many steps as 09's); not timed (no GPU here).

paper keeps 09's settings. Without torchvision's ImageNet weights (offline and never downloaded) the rows are
listed as not run, with the reason, instead of stopping the notebook.
"""

from __future__ import annotations

import dataclasses
import functools
import time

import numpy as np
import torch

from ood_helpers.core.data.embedded import digits_arrays
from ood_helpers.core.metrics.feature_scores import knn_score
from ood_helpers.core.settings import settings_for
from ood_helpers.pseudo_label.finetune import finetune
from ood_helpers.pseudo_label.neighbours import mine_neighbours
from ood_helpers.pseudo_label.networks import encode, imagenet_encoder, predict_proba
from ood_helpers.pseudo_label.settings import PSEUDO_LABEL
from ood_helpers.pseudo_label.splits import TrialData as PLTrialData, resized
from ood_helpers.pseudo_label.stages import fresh_backbone, scan_step, self_label, simclr, train_source
from ood_helpers.benchmark.rows import Row
from ood_helpers.benchmark.trial import BenchmarkTrial, RowScores
from ood_helpers.core.dry_run import output_name
from ood_helpers.core.paths import artifacts_dir

K_NEIGHBOURS = 1  # the paper: "k = 1 for all our kNN evaluations", cosine distance (spec A2.6)
CHANGES = {
    "smoke": {},
    "quick": {"simclr_epochs": 2, "scan_epochs": 6, "selflabel_epochs": 3},
    # cifar: a CIFAR-10 trial has 24,000 training images where 09's settings were sized for 4,000; SimCLR's 200
    # epochs would be ~19,000 steps. A sixth of 09's epochs keeps the stages' step counts near 09's (not timed)
    "cifar": {"simclr_epochs": 30, "scan_epochs": 8, "selflabel_epochs": 8},
}
STAND_IN = ("stand-in 'pretrained' network: a small CNN trained with labels on scikit-learn's 8x8 digits upsampled "
            "(stand-in for ImageNet pretraining)")
# cache folders of the stages (``artifacts/<profile>/<kind>``): a file new after a run = a stage trained now
STAGE_KINDS = {"source": "pseudo-label-source", "simclr": "contrastive", "scan": "pseudo-label-scan",
               "self-label": "pseudo-label-selflabel", "fine-tune": "pseudo-label-finetune"}


CODE = (__name__,)  # this module and its import closure (artifacts.code_fingerprint)


def settings(t: BenchmarkTrial):
    """Notebook 09's settings for the trial's profile, with :data:`CHANGES` under the user's overrides and
    ``data`` set by the trial's channel count."""
    table = {k: dataclasses.replace(v, **CHANGES.get(k, {})) for k, v in PSEUDO_LABEL.items()}
    s = settings_for(t.profile, "pseudo_label", table)
    return dataclasses.replace(s, data="digits" if t.channels == 1 else "cifar10")


def unavailable(t: BenchmarkTrial) -> str | None:
    """Why the rows cannot run on ``t`` (None when they can)."""
    if t.channels not in (1, 3):
        return f"images must have 1 or 3 channels, got {t.channels}"
    s = settings(t)
    if s.pretrained == "source" and t.channels != 1:
        return ("the offline stand-in 'pretrained' network is trained on grey scikit-learn digits (1 channel); "
                f"this trial has {t.channels}-channel images: run the cifar profile (ImageNet ResNet-18)")
    if s.pretrained != "source":
        return _imagenet_problem(s.pretrained)
    return None


@functools.lru_cache(maxsize=None)
def _imagenet_problem(name: str) -> str | None:
    """None when torchvision's ImageNet weights of ``name`` load here (downloaded once if online), else why not."""
    try:
        imagenet_encoder(name)
    except RuntimeError as err:
        return str(err)
    return None


def trial_images(t: BenchmarkTrial, s) -> PLTrialData:
    """09's TrialData of the benchmark trial: float [0, 1] images at ``s.image_size`` px; train = the known-class
    training images (their labels are not copied: ``train_labels`` is all -1), test = known test, near = unknown
    test, far = empty; source = the stand-in's labelled sklearn digits (empty for an ImageNet network)."""
    why = unavailable(t)
    if why:
        raise ValueError(f"pseudo-label rows cannot run on this trial: {why}")
    d = t.data
    for part in ("x_train", "x_test", "x_unknown"):
        x = getattr(d, part)
        if not isinstance(x, torch.Tensor) or x.dtype != torch.uint8 or x.ndim != 4:
            raise ValueError(f"trial.data.{part} must be a uint8 tensor [N, C, H, W], got "
                             f"{getattr(x, 'dtype', type(x))} of shape {tuple(getattr(x, 'shape', ()))}")
    as_float = lambda x: x.float() / 255.0  # noqa: E731
    empty = torch.zeros(0, *d.x_train.shape[1:])
    if s.pretrained == "source":
        src, src_labels = digits_arrays()
        keep = np.isin(src_labels, d.split.known) if s.source_classes == "normal_only" else slice(None)
        source, source_labels = as_float(torch.from_numpy(src[keep])), src_labels[keep]
    else:
        source, source_labels = empty, np.zeros(0, np.int64)
    out = PLTrialData(train=as_float(d.x_train), train_labels=np.full(len(d.x_train), -1), test=as_float(d.x_test),
                      test_labels=np.full(len(d.x_test), -1), near=as_float(d.x_unknown), far=empty,
                      source=source, source_labels=source_labels, normal_classes=list(range(t.num_classes)),
                      anomaly_classes=[], device=t.device,
                      names={"normal": f"{d.name} known classes", "near": f"{d.name} unknown classes",
                             "source": STAND_IN if s.pretrained == "source" else s.pretrained})
    return resized(out, s.image_size)


def pretrained(t: BenchmarkTrial, s, d: PLTrialData):
    """The "pretrained" Classifier of 09 (``stages.train_source``: trained once per trial, then cached)."""
    return train_source(s, d.source, d.source_labels, profile=t.profile, seed=t.seed)


def finetuned(t: BenchmarkTrial, s, d: PLTrialData, source) -> tuple[torch.nn.Module, dict]:
    """(the fine-tuned, epoch-averaged Classifier, meta) of paper 003's two stages on ``d.train`` (no labels):
    SimCLR -> mined neighbours -> SCAN step (one head, K = known-class count) -> self-labelling -> argmax
    pseudo-labels -> ``finetune`` of ``source`` on them, mean of the epoch-end weights."""
    kw = {"profile": t.profile, "seed": t.seed}
    clusters = t.num_classes
    seconds, lap = {}, time.perf_counter()

    def done(stage):
        nonlocal lap
        seconds[stage], lap = time.perf_counter() - lap, time.perf_counter()

    sim = simclr(s, d.train, fresh_backbone(s, d.train.shape[1], t.seed), **kw)
    neighbours = mine_neighbours(sim.project(d.train).numpy(), min(s.neighbours, len(d.train) - 1))
    done("simclr")
    (scan_model,), _ = scan_step(s, d.train, neighbours, sim.encoder, [clusters], **kw)
    done("scan")
    sl_model, sl_meta = self_label(s, d.train, scan_model, **kw)
    pseudo = predict_proba(sl_model, d.train, device=t.device).argmax(1).numpy()
    done("self-label")
    ft = finetune(s, source, d.train, pseudo, tag=f"scan-K{clusters}", **kw)
    done("fine-tune")
    meta = {"clusters": clusters, "pseudo_label_counts": np.bincount(pseudo, minlength=clusters).tolist(),
            "selflabel": sl_meta, "stage_seconds": seconds}
    return ft["model"], meta


def knn_scores(model, d: PLTrialData, device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """(known, unknown) scores: cosine distance of each test image's penultimate feature to its nearest
    training feature (k = :data:`K_NEIGHBOURS`)."""
    f_train = encode(model, d.train, device=device).numpy()
    return tuple(knn_score(f_train, encode(model, x, device=device).numpy(), k=K_NEIGHBOURS, metric="cosine")
                 for x in (d.test, d.near))


def _files(t: BenchmarkTrial) -> set:
    root = artifacts_dir(output_name(t.profile))
    return {(stage, p.name) for stage, kind in STAGE_KINDS.items() if (root / kind).is_dir()
            for p in (root / kind).iterdir()}


def _note(t: BenchmarkTrial, s, before: set, stages: tuple[str, ...]) -> str:
    stages = tuple(st for st in stages if st != "source" or s.pretrained == "source")  # ImageNet: nothing to train
    trained = [st for st in stages if any(k == st for k, _ in _files(t) - before)]
    net = STAND_IN if s.pretrained == "source" else f"pretrained network: torchvision {s.pretrained} (ImageNet)"
    cached = ("nothing trained" if not stages else "every stage loaded from its cache" if not trained
              else "trained now: " + ", ".join(trained))
    return f"{net}; images at {s.image_size} px; 1-NN cosine; {cached}"


def run_dn2(t: BenchmarkTrial) -> RowScores:
    s = settings(t)
    before = _files(t)
    start = time.perf_counter()
    d = trial_images(t, s)
    source = pretrained(t, s, d)
    trained = time.perf_counter()
    s_known, s_unknown = knn_scores(source, d, t.device)
    return RowScores(s_known, s_unknown, None, train_seconds=trained - start,
                     score_seconds=time.perf_counter() - trained, note=_note(t, s, before, ("source",)))


def run_pl_knn(t: BenchmarkTrial) -> RowScores:
    s = settings(t)
    before = _files(t)
    start = time.perf_counter()
    d = trial_images(t, s)
    model, meta = finetuned(t, s, d, pretrained(t, s, d))
    trained = time.perf_counter()
    s_known, s_unknown = knn_scores(model, d, t.device)
    note = _note(t, s, before, tuple(STAGE_KINDS)) + f"; K = {meta['clusters']} clusters, mean of " \
                                                     f"{s.finetune_epochs} epoch-end weights"
    return RowScores(s_known, s_unknown, None, train_seconds=trained - start,
                     score_seconds=time.perf_counter() - trained, note=note, extra=meta)


ROWS = [
    Row("pl_knn", "Pseudo-label kNN (fine-tuned, averaged)", "003", "09", False, run_pl_knn, CODE, unavailable,
        settings=("pseudo_label",)),
    Row("dn2", "DN2: kNN on pretrained features", "003 (baseline)", "09", False, run_dn2, CODE, unavailable,
        settings=("pseudo_label",)),
]
