"""Out-of-distribution classification by class homogeneity (paper 000, eq. 1, section 5.2).

A query image is compared with k - 1 support images of every candidate class; the class
whose set [supports..., query] the homogeneity model finds most homogeneous is the
prediction. The baselines (nearest neighbours in image space and on two ResNet-18
embeddings, and the ResNet-18 classifiers as upper bounds) score the same queries against
the same supports, so every method of a trial sees identical episodes.

Sampling (per trial, from one numpy Generator): queries are ``queries_per_class`` test
images of each query class (all of them when a class has fewer), drawn uniformly without
replacement; then for *every query and every candidate class* k - 1 supports are drawn
uniformly without replacement from that class's test images, the query itself excluded.
This is the paper's "compared it to 24 images of each class", redrawn per comparison.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

# ===== the paper's numbers (Tables 1-3 of paper 000, top-1 / top-5 accuracy in %) =====

M_ALL = "ResNet-18 (trained on all classes)"
M_SEEN = "ResNet-18 (trained on seen classes)"
M_OWN = "ResNet-18 (trained on each dataset)"
M_NN_IMAGE = "Euclidean NN (image space)"
M_NN_EUC_PRE = "Euclidean NN (pretrained embeddings)"
M_NN_EUC_FT = "Euclidean NN (fine-tuned embeddings)"
M_NN_COS_PRE = "Cosine NN (pretrained embeddings)"
M_NN_COS_FT = "Cosine NN (fine-tuned embeddings)"
M_HOM = "Class homogeneity"
NN_METHODS = (M_NN_IMAGE, M_NN_EUC_PRE, M_NN_EUC_FT, M_NN_COS_PRE, M_NN_COS_FT)
RANGES = ("seen", "val", "test", "all")

_T1_TOP1 = {
    M_ALL: ("69.65 ± 0.13", "70.40 ± 0.25", "71.99 ± 0.26", "69.96 ± 0.09"),
    M_SEEN: ("71.56 ± 0.19", None, None, None),
    M_NN_IMAGE: ("0.55 ± 0.00", "0.13 ± 0.00", "1.19 ± 0.00", "0.58 ± 0.00"),
    M_NN_EUC_PRE: ("51.09 ± 0.24", "38.86 ± 0.35", "41.85 ± 0.56", "48.95 ± 0.17"),
    M_NN_EUC_FT: ("53.15 ± 0.09", "41.51 ± 0.23", "43.87 ± 0.30", "51.06 ± 0.08"),
    M_NN_COS_PRE: ("56.67 ± 0.18", "37.28 ± 0.47", "38.59 ± 0.21", "52.93 ± 0.15"),
    M_NN_COS_FT: ("57.06 ± 0.25", "35.70 ± 0.32", "37.00 ± 0.34", "52.92 ± 0.19"),
    M_HOM: ("56.78 ± 1.46", "44.13 ± 0.16", "47.47 ± 0.40", "54.59 ± 1.15"),
}
_T1_TOP5 = {
    M_ALL: ("89.15 ± 0.09", "90.13 ± 0.13", "90.34 ± 0.24", "89.37 ± 0.07"),
    M_SEEN: ("90.04 ± 0.09", None, None, None),
    M_NN_IMAGE: ("2.34 ± 0.00", "0.25 ± 0.00", "3.76 ± 0.00", "2.19 ± 0.00"),
    M_NN_EUC_PRE: ("75.80 ± 0.15", "71.35 ± 0.12", "74.38 ± 0.22", "75.21 ± 0.13"),
    M_NN_EUC_FT: ("77.29 ± 0.23", "74.95 ± 0.24", "76.36 ± 0.41", "76.97 ± 0.20"),
    M_NN_COS_PRE: ("81.28 ± 0.14", "72.32 ± 0.24", "73.92 ± 0.27", "79.65 ± 0.16"),
    M_NN_COS_FT: ("82.24 ± 0.16", "72.29 ± 0.15", "74.05 ± 0.21", "80.43 ± 0.14"),
    M_HOM: ("82.99 ± 0.72", "76.39 ± 0.27", "77.99 ± 0.36", "81.83 ± 0.62"),
}
# {method: {(metric, range): "mean ± std"}}; ranges are seen 1-800, val 801-900, test 901-1000, all 1-1000.
PAPER_TABLE1 = {
    m: {(metric, r): v for metric, table in (("top-1", _T1_TOP1), ("top-5", _T1_TOP5))
        for r, v in zip(RANGES, table[m]) if v is not None}
    for m in _T1_TOP1
}
# Top-1 over the growing test ranges 901-910, 901-920, 901-940, 901-980, 901-1000 (by position).
PAPER_TABLE2_RANGES = ("901-910", "901-920", "901-940", "901-980", "901-1000")
PAPER_TABLE2 = {
    M_ALL: ("93.80 ± 0.68", "93.92 ± 0.27", "93.30 ± 0.24", "91.67 ± 0.21", "91.04 ± 0.096"),
    M_NN_IMAGE: ("18.36 ± 0.00", "14.07 ± 0.00", "6.62 ± 0.00", "4.35 ± 0.00", "3.65 ± 0.00"),
    M_NN_EUC_PRE: ("85.11 ± 0.73", "80.13 ± 0.64", "78.67 ± 0.35", "71.93 ± 0.35", "71.51 ± 0.40"),
    M_NN_EUC_FT: ("83.98 ± 1.02", "77.87 ± 0.47", "77.44 ± 0.40", "72.97 ± 0.41", "72.65 ± 0.43"),
    M_NN_COS_PRE: ("88.05 ± 0.45", "83.27 ± 0.25", "81.25 ± 0.25", "76.82 ± 0.26", "75.77 ± 0.29"),
    M_NN_COS_FT: ("88.52 ± 0.43", "83.78 ± 0.29", "81.17 ± 0.14", "77.27 ± 0.19", "76.22 ± 0.14"),
    M_HOM: ("88.83 ± 0.34", "84.87 ± 0.28", "83.14 ± 0.24", "79.18 ± 0.39", "78.43 ± 0.49"),
}
# Top-1 on datasets never trained on; {method: {paper column: "mean ± std"}}.
PAPER_TABLE3 = {
    m: dict(zip(("MNIST", "Fashion-MNIST", "CIFAR-10", "CIFAR-100"), v)) for m, v in {
        M_OWN: ("99.20 ± 0.06", "91.51 ± 0.27", "77.77 ± 0.89", "48.90 ± 0.46"),
        M_NN_IMAGE: ("63.68 ± 0.00", "60.15 ± 0.00", "20.11 ± 0.00", "6.05 ± 0.00"),
        M_NN_EUC_PRE: ("75.26 ± 2.49", "66.45 ± 1.44", "66.21 ± 0.80", "37.50 ± 0.62"),
        M_NN_EUC_FT: ("72.87 ± 1.69", "67.24 ± 0.69", "65.40 ± 0.77", "37.51 ± 0.83"),
        M_NN_COS_PRE: ("76.24 ± 1.38", "67.30 ± 1.06", "66.48 ± 0.75", "41.86 ± 0.27"),
        M_NN_COS_FT: ("74.14 ± 1.68", "69.01 ± 0.51", "69.88 ± 0.83", "46.10 ± 0.49"),
        M_HOM: ("58.99 ± 3.49", "64.88 ± 3.37", "70.53 ± 0.96", "42.91 ± 0.68"),
    }.items()
}
# Our dataset -> the paper's Table 3 column it stands for (mnist5k are real MNIST test digits).
PAPER_TABLE3_COLUMN = {"mnist": "MNIST", "mnist5k": "MNIST", "fashion-mnist": "Fashion-MNIST",
                       "cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}


# ===== episodes: queries and their supports =====


@dataclass(frozen=True)
class Episodes:
    """The comparisons of one trial; every index points into the evaluated dataset.

    ``queries`` [Q] image indices, ``labels`` [Q] their class ids, ``candidates`` [C] the
    class ids compared against (score column order), ``supports`` [Q, C, k-1] image indices.
    """

    queries: np.ndarray
    labels: np.ndarray
    candidates: np.ndarray
    supports: np.ndarray

    @property
    def true_columns(self) -> np.ndarray:
        """Column of each query's class in ``candidates`` (-1 where it is not a candidate)."""
        lookup = {int(c): j for j, c in enumerate(self.candidates)}
        return np.array([lookup.get(int(y), -1) for y in self.labels], dtype=np.int64)


def check_support_counts(targets, classes, n_supports: int) -> None:
    """Raises ValueError unless every class has at least ``n_supports`` + 1 images
    (k - 1 supports that never include the query)."""
    targets = np.asarray(targets)
    if not isinstance(n_supports, (int, np.integer)) or n_supports < 1:
        raise ValueError(f"the number of supports k - 1 must be a positive int, got {n_supports!r}")
    counts = {int(c): int((targets == c).sum()) for c in classes}
    short = {c: n for c, n in counts.items() if n < n_supports + 1}
    if short:
        shown = dict(list(short.items())[:8])
        raise ValueError(
            f"classes {shown} (class id: images) have fewer than k - 1 + 1 = {n_supports + 1} images; "
            f"comparing a query with k - 1 = {n_supports} supports of its own class needs that many. "
            "Use a smaller set_size or more test images per class (profile.per_class[2])"
        )


def sample_queries(targets, classes, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """Image indices [Q]: ``per_class`` images of each class in ``classes`` (all when fewer),
    uniformly without replacement, grouped by class in the given order."""
    targets = np.asarray(targets)
    if not isinstance(per_class, (int, np.integer)) or per_class < 1:
        raise ValueError(f"queries per class must be a positive int, got {per_class!r}")
    out = []
    for c in classes:
        pool = np.flatnonzero(targets == c)
        if len(pool) == 0:
            raise ValueError(f"class {int(c)} has no images to draw queries from")
        out.append(rng.choice(pool, size=min(int(per_class), len(pool)), replace=False))
    return np.concatenate(out).astype(np.int64)


def sample_supports(targets, queries, candidates, n_supports: int, rng: np.random.Generator) -> np.ndarray:
    """Support indices [Q, C, n_supports]: for every query and candidate class, ``n_supports``
    images of that class drawn uniformly without replacement, never the query itself."""
    targets = np.asarray(targets)
    queries = np.asarray(queries, dtype=np.int64)
    check_support_counts(targets, candidates, n_supports)
    out = np.empty((len(queries), len(candidates), n_supports), dtype=np.int64)
    for j, c in enumerate(candidates):
        pool = np.flatnonzero(targets == c)
        # The n smallest of iid uniform keys form a uniform random subset; the query's key is
        # pushed past every other so it is never drawn.
        keys = rng.random((len(queries), len(pool)))
        keys[queries[:, None] == pool[None, :]] = 2.0
        picks = np.argpartition(keys, n_supports - 1, axis=1)[:, :n_supports]
        out[:, j] = pool[picks]
    return out


def sample_episodes(targets, candidates, *, n_supports: int, queries_per_class: int,
                    rng: np.random.Generator, query_classes=None) -> Episodes:
    """Queries of ``query_classes`` (default: the candidates) and their supports in every candidate."""
    targets = np.asarray(targets)
    candidates = np.asarray(candidates, dtype=np.int64)
    query_classes = candidates if query_classes is None else np.asarray(query_classes, dtype=np.int64)
    queries = sample_queries(targets, query_classes, queries_per_class, rng)
    supports = sample_supports(targets, queries, candidates, n_supports, rng)
    return Episodes(queries, targets[queries].astype(np.int64), candidates, supports)


# ===== scores: [Q, C], larger = more likely the query's class =====


def _first_position(layer: torch.nn.TransformerEncoderLayer, x: torch.Tensor, pad) -> torch.Tensor:
    """[B, 1, d]: ``layer(x)`` at position 0 only (eval mode: no dropout)."""
    x0 = x[:, :1]
    if layer.norm_first:
        h = layer.norm1(x)
        x0 = x0 + layer.self_attn(h[:, :1], h, h, key_padding_mask=pad, need_weights=False)[0]
        return x0 + layer.linear2(layer.activation(layer.linear1(layer.norm2(x0))))
    x0 = layer.norm1(x0 + layer.self_attn(x0, x, x, key_padding_mask=pad, need_weights=False)[0])
    return layer.norm2(x0 + layer.linear2(layer.activation(layer.linear1(x0))))


def position0_logits(model, emb: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Logits [B, 1] at position 0 of each set: ``model.set_logits(emb, lengths)[:, :1]``
    without computing the other positions in the last Transformer layer.

    Only the set's output at position 0 is used for classification, so the last layer runs
    its attention with one query row and its feed-forward on one position (about 1.7x faster
    for two layers); mirrors ``HomogeneityModel.set_logits``, and the tests hold it to the
    naive loop over the full model.
    """
    x, mask = model.tokens(emb, lengths)
    pad = None if bool(mask.all()) else ~mask
    layers = model.transformer.layers
    for layer in layers[:-1]:
        x = layer(x, src_key_padding_mask=pad)
    x = _first_position(layers[-1], x, pad)
    if model.transformer.norm is not None:
        x = model.transformer.norm(x)
    return model.head(x).squeeze(-1)


def set_scorer(model):
    """The per-set scoring function ``(emb [B,K,D], lengths [B]) -> [B, >=1]`` whose column 0
    ranks classes: logits rather than probabilities (same ranking, but no ties where the
    sigmoid saturates to 1.0), position 0 only for the homogeneity model."""
    from ..models import HomogeneityModel

    if isinstance(model, HomogeneityModel):
        return functools.partial(position0_logits, model)
    return getattr(model, "set_logits", None) or model.score_embeddings


def homogeneity_scores(model, emb: torch.Tensor, episodes: Episodes, *, score_sets=None, batch_sets: int = 4096,
                       device: str = "cpu", progress: bool = False) -> torch.Tensor:
    """Scores [Q, C] (float32, CPU): the set output at position 0 for every [supports..., query].

    ``emb`` [N, D] holds the cached embeddings (``model.encode``) of the evaluated images;
    ``score_sets(emb [B, K, D], lengths [B]) -> [B, >=1]`` defaults to :func:`set_scorer`
    (``model`` may be None when a scorer is given). Sets are batched ``batch_sets`` at a
    time on ``device``; the model runs in eval mode, its training mode restored after.
    """
    if score_sets is None:
        score_sets = set_scorer(model)
    was_training = getattr(model, "training", False)
    if isinstance(model, torch.nn.Module):
        model.to(device).eval()
    n_q, n_c, n_sup = episodes.supports.shape
    emb = emb.to(device)
    out = torch.empty(n_q * n_c, dtype=torch.float32)
    try:
        with torch.inference_mode():
            for start in tqdm(range(0, n_q * n_c, batch_sets), desc="sets", disable=not progress, leave=False):
                q, c = np.divmod(np.arange(start, min(start + batch_sets, n_q * n_c)), n_c)
                # One row of image indices per set: the k - 1 supports, then the query last.
                rows = np.concatenate([episodes.supports[q, c], episodes.queries[q][:, None]], axis=1)
                rows = torch.as_tensor(rows, device=device)
                lengths = torch.full((len(rows),), n_sup + 1, device=device, dtype=torch.long)
                out[start:start + len(rows)] = score_sets(emb[rows], lengths)[:, 0].float().cpu()
    finally:
        if isinstance(model, torch.nn.Module):
            model.train(was_training)
    return out.reshape(n_q, n_c)


def naive_homogeneity_scores(model, images: torch.Tensor, episodes: Episodes) -> torch.Tensor:
    """Probabilities [Q, C] from the full model, one set of raw images at a time (the reference
    the batched evaluator must reproduce; slow by design)."""
    was_training = model.training
    model.eval()
    out = torch.empty(episodes.supports.shape[:2])
    with torch.no_grad():
        for i, q in enumerate(episodes.queries):
            for j in range(len(episodes.candidates)):
                members = np.append(episodes.supports[i, j], q)
                lengths = torch.tensor([len(members)])
                out[i, j] = model(images[torch.as_tensor(members)][None], lengths)[0, 0]
    model.train(was_training)
    return out


def classifier_scores(logits: torch.Tensor, model_classes, episodes: Episodes) -> torch.Tensor:
    """Scores [Q, C]: the classifier's logits of each query for the candidate classes, -inf for
    candidates it was never trained on. ``logits`` [N, M] for every image, ``model_classes``
    [M] the class id of each output."""
    col_of = {int(c): m for m, c in enumerate(np.asarray(model_classes))}
    q_logits = logits[torch.as_tensor(episodes.queries)].float()
    out = torch.full((len(episodes.queries), len(episodes.candidates)), float("-inf"))
    for j, c in enumerate(episodes.candidates):
        if int(c) in col_of:
            out[:, j] = q_logits[:, col_of[int(c)]]
    return out


# ===== accuracy =====


def topk_correct(scores: torch.Tensor, true_columns, k: int) -> np.ndarray:
    """bool [Q]: whether each query's true column is among its ``k`` highest scores."""
    scores = torch.as_tensor(scores)
    true_columns = torch.as_tensor(np.asarray(true_columns), dtype=torch.long)
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k of top-k must be a positive int, got {k!r}")
    if scores.ndim != 2 or len(true_columns) != scores.shape[0]:
        raise ValueError(f"scores must be [Q, C] with one true column per query, got {tuple(scores.shape)} "
                         f"and {len(true_columns)} columns")
    if len(true_columns) and (int(true_columns.min()) < 0 or int(true_columns.max()) >= scores.shape[1]):
        raise ValueError(f"true columns must lie in [0, {scores.shape[1]}), got {true_columns.min()}..{true_columns.max()}")
    top = scores.topk(min(int(k), scores.shape[1]), dim=1).indices
    return (top == true_columns[:, None]).any(dim=1).numpy()


def topk_accuracy(scores: torch.Tensor, true_columns, k: int = 1) -> float:
    """Top-k accuracy in [0, 1]."""
    correct = topk_correct(scores, true_columns, k)
    if len(correct) == 0:
        raise ValueError("no queries to compute an accuracy over")
    return float(correct.mean())


def restrict(scores: torch.Tensor, episodes: Episodes, classes) -> tuple[torch.Tensor, np.ndarray]:
    """(scores [Q', C'], true columns [Q']) of the queries of ``classes`` compared only against
    ``classes``: a sub-problem of a larger comparison, with the same supports."""
    classes = np.asarray(classes, dtype=np.int64)
    missing = np.setdiff1d(classes, episodes.candidates)
    if len(missing):
        raise ValueError(f"classes {missing.tolist()} were not compared against (candidates: "
                         f"{episodes.candidates.tolist()})")
    cols = np.array([int(np.flatnonzero(episodes.candidates == c)[0]) for c in classes])
    rows = np.flatnonzero(np.isin(episodes.labels, classes))
    if len(rows) == 0:
        raise ValueError(f"no query belongs to classes {classes.tolist()}")
    lookup = {int(c): j for j, c in enumerate(classes)}
    true = np.array([lookup[int(y)] for y in episodes.labels[rows]], dtype=np.int64)
    return scores[torch.as_tensor(rows)][:, torch.as_tensor(cols)], true


# ===== one trial: every method on the same queries and supports =====


@dataclass
class Models:
    """The networks compared in Tables 1-3, all trained for one profile.

    ``homogeneity``: the class-homogeneity model (variant 1) whose ``encode`` gives the
    fine-tuned embeddings; ``pretrained``: the seen-class ResNet-18 without its classifier;
    ``classifiers``: method name -> (ResNet-18 classifier, class id of each output);
    ``keys``: cache keys of each network (for the embedding caches).
    """

    profile: str
    homogeneity: torch.nn.Module
    pretrained: torch.nn.Module
    classifiers: dict
    keys: dict


def _first_conv(module: torch.nn.Module) -> torch.nn.Conv2d:
    return next(m for m in module.modules() if isinstance(m, torch.nn.Conv2d))


def check_models(models: Models, profile, imageset=None) -> None:
    """Raises ValueError when ``models`` were built for another profile (name, input channels
    or ResNet width) or cannot read ``imageset``'s images."""
    if models.profile != profile.name:
        raise ValueError(f"the models were trained for profile {models.profile!r}, not {profile.name!r}; "
                         f"load them with load_models(get_profile({profile.name!r}))")
    for name, net in [("pretrained encoder", models.pretrained), ("homogeneity model", models.homogeneity),
                      *[(m, net) for m, (net, _) in models.classifiers.items()]]:
        conv = _first_conv(net)
        if conv.in_channels != profile.channels or conv.out_channels != profile.resnet_width:
            raise ValueError(
                f"{name} takes {conv.in_channels}-channel images at ResNet width {conv.out_channels}, but profile "
                f"{profile.name!r} has channels={profile.channels}, resnet_width={profile.resnet_width}: "
                "a model from another profile")
    if imageset is not None and imageset.image_shape[0] != profile.channels:
        raise ValueError(f"dataset {imageset.name!r} has {imageset.image_shape[0]}-channel images, the models "
                         f"expect {profile.channels}; load it with load_dataset(..., profile=profile)")


@dataclass
class Features:
    """Everything the methods need from one evaluated dataset: ``targets`` [N] class ids,
    ``embeddings`` ("image", "pretrained", "finetuned": [N, D]) and ``logits`` (method ->
    ([N, M] classifier logits, class id of each of the M outputs))."""

    targets: np.ndarray
    embeddings: dict
    logits: dict


def dataset_features(models: Models, imageset, profile, *, extra_classifiers: dict | None = None) -> Features:
    """Embeddings and logits of every image of ``imageset`` (cached on disk per model and data)."""
    from ..embed import embed_dataset

    check_models(models, profile, imageset)
    embeddings = {
        "image": embed_dataset(None, imageset, profile=profile, key="image-space"),
        "pretrained": embed_dataset(models.pretrained, imageset, profile=profile, key=f"pretrained-{models.keys['pretrained']}"),
        "finetuned": embed_dataset(models.homogeneity, imageset, profile=profile, key=f"finetuned-{models.keys['finetuned']}"),
    }
    logits = {}
    for method, (net, class_ids) in {**models.classifiers, **(extra_classifiers or {})}.items():
        key = f"logits-{getattr(net, 'cache_key', None) or models.keys.get(method, method)}"
        logits[method] = (embed_dataset(net, imageset, profile=profile, key=key), np.asarray(class_ids))
    return Features(imageset.targets.numpy().astype(np.int64), embeddings, logits)


_NN_SPACE = {M_NN_IMAGE: ("image", "euclidean"), M_NN_EUC_PRE: ("pretrained", "euclidean"),
             M_NN_EUC_FT: ("finetuned", "euclidean"), M_NN_COS_PRE: ("pretrained", "cosine"),
             M_NN_COS_FT: ("finetuned", "cosine")}


@dataclass
class TrialScores:
    """Scores of one trial: ``queries`` [Q], their ``labels`` [Q], the ``candidates`` [C] and
    ``scores`` (method -> [Q, C]); the supports are not kept (they may be large)."""

    queries: np.ndarray
    labels: np.ndarray
    candidates: np.ndarray
    scores: dict
    true_columns = Episodes.true_columns


def score_trial(models: Models, feats: Features, candidates, *, profile, rng: np.random.Generator,
                methods=None, query_classes=None, progress: bool = False, chunk_sets: int = 4_000_000) -> TrialScores:
    """Every method's scores for one trial's queries, all against the same supports.

    Queries and supports are sampled here (see the module docstring); supports are drawn for
    a chunk of queries at a time so that at most ``chunk_sets`` support indices are held.
    """
    from ..profiles import resolve_device
    from .neighbors import mean_support_scores

    methods = list(methods or [*feats.logits, *NN_METHODS, M_HOM])
    unknown = [m for m in methods if m not in feats.logits and m not in _NN_SPACE and m != M_HOM]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; known: {[*feats.logits, *_NN_SPACE, M_HOM]}")
    candidates = np.asarray(candidates, dtype=np.int64)
    query_classes = candidates if query_classes is None else np.asarray(query_classes, dtype=np.int64)
    n_sup = profile.set_size - 1
    check_support_counts(feats.targets, candidates, n_sup)
    device = resolve_device(profile)
    queries = sample_queries(feats.targets, query_classes, profile.queries_per_class, rng)
    per_chunk = max(1, chunk_sets // (len(candidates) * n_sup))
    parts: dict[str, list] = {m: [] for m in methods}
    for start in range(0, len(queries), per_chunk):
        chunk = queries[start:start + per_chunk]
        ep = Episodes(chunk, feats.targets[chunk], candidates,
                      sample_supports(feats.targets, chunk, candidates, n_sup, rng))
        for m in methods:
            if m in feats.logits:
                parts[m].append(classifier_scores(*feats.logits[m], ep))
            elif m == M_HOM:
                parts[m].append(homogeneity_scores(models.homogeneity, feats.embeddings["finetuned"], ep,
                                                   device=device, progress=progress))
            else:
                space, metric = _NN_SPACE[m]
                parts[m].append(mean_support_scores(feats.embeddings[space], chunk, ep.supports, metric=metric,
                                                    device=device))
    return TrialScores(queries, feats.targets[queries], candidates, {m: torch.cat(p) for m, p in parts.items()})


# ===== Tables 1-3 =====


def range_records(ts: TrialScores, split, labels: dict, trial: int, ks=(1, 5)) -> list[dict]:
    """Table 1 rows: top-k accuracy (fraction) of queries of each class range, compared against
    every candidate. The seen-class classifier is reported on the seen range only, as in the paper."""
    records = []
    for method, scores in ts.scores.items():
        for k in ks:
            for name in RANGES:
                if method == M_SEEN and name != "seen":
                    continue
                records.append({"method": method, "metric": f"top-{k}", "range": labels[name], "trial": trial,
                                "accuracy": range_accuracy(scores, ts, split, name, k)})
    return records


def range_accuracy(scores: torch.Tensor, ts, split, name: str, k: int = 1) -> float:
    """Top-k accuracy of the queries whose class lies in range ``name`` ("seen" | "val" |
    "test" | "seen+val" | "all" of ``split``), each still compared against every candidate."""
    rows = np.flatnonzero(np.isin(ts.labels, split.range(name)))
    if len(rows) == 0:
        raise ValueError(f"no query belongs to class range {name!r}")
    return topk_accuracy(scores[torch.as_tensor(rows)], ts.true_columns[rows], k)


def test_range_labels(split, sizes) -> list[str]:
    """Paper-style labels of the growing test ranges, e.g. ["91-92", ..., "91-100"]."""
    first = len(split.seen) + len(split.val) + 1
    return [f"{first}-{first + int(n) - 1}" for n in sizes]


test_range_labels.__test__ = False  # not a pytest test, despite the name


def growing_range_records(ts: TrialScores, split, sizes, trial: int) -> list[dict]:
    """Table 2 rows: top-1 accuracy of the queries of the first n test classes compared against
    those n classes only, for each n in ``sizes`` (the same supports as Table 1)."""
    from ..data import test_ranges

    records = []
    for (label, classes) in zip(test_range_labels(split, sizes), test_ranges(split, sizes)):
        for method, scores in ts.scores.items():
            if method == M_SEEN:
                continue
            sub, true = restrict(scores, ts, classes)
            records.append({"method": method, "range": label, "trial": trial, "accuracy": topk_accuracy(sub, true, 1)})
    return records


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


def evaluate_many_class(profile, models: Models, *, trials: int | None = None, progress: bool = True) -> ManyClassResult:
    """Tables 1 and 2 on the many-class test split: queries of every class against every class."""
    from ..data import class_split
    from ..data import many_class_split, range_labels
    from ..seeding import seed_everything, trial_seed

    split = class_split(profile)
    test = many_class_split(profile, "test")
    feats = dataset_features(models, test, profile)
    labels = range_labels(profile)
    t1, t2, y_true, y_pred, seeds = [], [], [], [], []
    for trial in tqdm(range(trials or profile.trials), desc="trials", disable=not progress):
        seed = trial_seed(profile.seed, trial)
        ts = score_trial(models, feats, split.range("all"), profile=profile, rng=seed_everything(seed),
                         progress=progress and profile.num_classes * len(feats.targets) > 1_000_000)
        t1 += range_records(ts, split, labels, trial)
        t2 += growing_range_records(ts, split, profile.eval_ranges, trial)
        sub, true = restrict(ts.scores[M_HOM], ts, split.test)
        y_true.append(split.test[true])
        y_pred.append(split.test[sub.argmax(1).numpy()])
        seeds.append(seed)
    return ManyClassResult(t1, t2, np.concatenate(y_true), np.concatenate(y_pred),
                           [test.classes[c] for c in split.test], seeds)


def evaluate_ood_datasets(profile, models: Models, own_classifier, *, datasets=None, trials: int | None = None,
                          progress: bool = True) -> list[dict]:
    """Table 3 records: top-1 accuracy (fraction) on each dataset never trained on, every
    method comparing queries of all its classes against all its classes.

    ``own_classifier(name) -> (net, class ids, profile its inputs follow)`` gives the upper bound
    trained on each dataset (``trained_models.own_classifier``)."""
    from ..data import load_dataset
    from ..embed import embed_dataset
    from ..seeding import seed_everything, trial_seed

    records = []
    for name in datasets or profile.ood_datasets:
        test = load_dataset(name, "test", profile=profile)
        feats = dataset_features(models, test, profile)
        net, class_ids, own_profile = own_classifier(name)
        own_test = load_dataset(name, "test", profile=own_profile)
        if not np.array_equal(own_test.targets.numpy(), test.targets.numpy()):
            raise RuntimeError(f"{name}: the test split at the own classifier's size lists other images")
        feats.logits[M_OWN] = (embed_dataset(net, own_test, profile=profile, key=f"logits-{net.cache_key}"), class_ids)
        methods = [M_OWN, *NN_METHODS, M_HOM]
        for trial in tqdm(range(trials or profile.trials), desc=name, disable=not progress):
            seed = trial_seed(profile.seed, trial)
            ts = score_trial(models, feats, np.unique(feats.targets), profile=profile, methods=methods,
                             rng=seed_everything(seed))
            records += [{"method": m, "dataset": name, "trial": trial, "seed": seed,
                         "accuracy": topk_accuracy(s, ts.true_columns, 1)} for m, s in ts.scores.items()]
    return records


def paper_table1(profile) -> dict:
    """PAPER_TABLE1 with the paper's ranges renamed to ours ("1-800" sits beside "1-80")."""
    from ..data import range_labels

    labels = range_labels(profile)
    return {m: {(metric, labels[r]): v for (metric, r), v in cells.items()} for m, cells in PAPER_TABLE1.items()}


def paper_table2(split, sizes) -> dict:
    """PAPER_TABLE2 keyed by our growing ranges, matched by position (ours i-th = paper's i-th)."""
    ours = test_range_labels(split, sizes)
    return {m: dict(zip(ours, vals)) for m, vals in PAPER_TABLE2.items()}


def paper_table3(datasets) -> dict:
    """PAPER_TABLE3 keyed by our dataset names (only those standing for a paper column)."""
    return {m: {d: cells[PAPER_TABLE3_COLUMN[d]] for d in datasets if d in PAPER_TABLE3_COLUMN}
            for m, cells in PAPER_TABLE3.items()}


def ordering_agreement(summary, column_keys, focus: str = M_HOM) -> "pd.DataFrame":
    """Per table column: how our ordering of the methods compares with the paper's.

    ``summary``: the numeric summary of ``tables.trials_table`` (``table.attrs["summary"]``:
    a "method" column, ``column_keys``, "mean" and "paper"); methods without a paper value are
    left out. Columns of the result: Kendall's tau between the two orderings, the number of
    method pairs in the paper's order, the best method of each, and the rank of ``focus``.
    """
    import pandas as pd
    from scipy.stats import kendalltau, rankdata

    column_keys = [column_keys] if isinstance(column_keys, str) else list(column_keys)
    rows = []
    for key, group in summary.dropna(subset=["paper"]).groupby(column_keys, sort=False):
        if len(group) < 2:
            continue
        ours, paper = group["mean"].to_numpy(), group["paper"].to_numpy()
        methods = group["method"].tolist()
        pairs = [(i, j) for i in range(len(methods)) for j in range(i + 1, len(methods))]
        same = sum(np.sign(ours[i] - ours[j]) == np.sign(paper[i] - paper[j]) for i, j in pairs)
        rank_ours, rank_paper = rankdata(-ours, method="min"), rankdata(-paper, method="min")
        at = methods.index(focus) if focus in methods else None
        key = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip(column_keys, key)),
                     "kendall_tau": float(kendalltau(ours, paper).statistic),
                     "pairs in the paper's order": f"{same} of {len(pairs)}",
                     "best (ours)": methods[int(np.argmax(ours))],
                     "best (paper)": methods[int(np.argmax(paper))],
                     f"rank of {focus} (ours / paper)": "–" if at is None else f"{int(rank_ours[at])} / {int(rank_paper[at])}"})
    return pd.DataFrame(rows)


def describe_agreement(agreement, column_keys, focus: str = M_HOM) -> str:
    """Markdown sentences (one bullet per column) saying where our ordering of the methods
    agrees with the paper's: from :func:`ordering_agreement`'s result."""
    column_keys = [column_keys] if isinstance(column_keys, str) else list(column_keys)
    rank_col, pairs_col = f"rank of {focus} (ours / paper)", "pairs in the paper's order"
    lines = []
    for row in agreement.to_dict("records"):
        where = " ".join(str(row[k]) for k in column_keys)
        agree = "agrees with" if row["best (ours)"] == row["best (paper)"] else "differs from"
        lines.append(
            f"- **{where}**: {row[pairs_col]} method pairs are in the paper's order "
            f"(Kendall's tau {row['kendall_tau']:.2f}); our best method, {row['best (ours)']}, {agree} the paper's "
            f"({row['best (paper)']}); {focus} ranks {row[rank_col]} (ours / paper)."
        )
    return "\n".join(lines) if lines else "- no column has paper values to compare with."


def table1(result: ManyClassResult, profile):
    """Table 1 (top-1 and top-5 per class range, %, mean ± std) with the paper's values beside."""
    from ..tables import trials_table

    return trials_table(result.table1, "method", ["metric", "range"], "accuracy", paper=paper_table1(profile), scale=100)


def table2(result: ManyClassResult, profile):
    """Table 2 (top-1 on the growing test ranges, %) with the paper's i-th range beside our i-th."""
    from ..data import class_split
    from ..tables import trials_table

    paper = paper_table2(class_split(profile), profile.eval_ranges)
    return trials_table(result.table2, "method", "range", "accuracy", paper=paper, scale=100)


def table3(records: list, profile):
    """Table 3 (top-1 on datasets never trained on, %) with the paper's column beside ours."""
    from ..tables import trials_table

    datasets = list(dict.fromkeys(r["dataset"] for r in records))
    return trials_table(records, "method", "dataset", "accuracy", paper=paper_table3(datasets), scale=100)
