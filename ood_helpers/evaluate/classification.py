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


def set_scorer(model):
    """The model's per-set scoring function ``(emb [B,K,D], lengths [B]) -> [B,K]``: its logits
    when it has ``set_logits`` (same ranking as the probabilities, without ties where the
    sigmoid saturates to 1.0), else ``score_embeddings``."""
    return getattr(model, "set_logits", None) or model.score_embeddings


def homogeneity_scores(score_sets, emb: torch.Tensor, episodes: Episodes, *, batch_sets: int = 4096,
                       device: str = "cpu", progress: bool = False) -> torch.Tensor:
    """Scores [Q, C] (float32, CPU): the set output at position 0 for every [supports..., query].

    ``score_sets(emb [B, K, D], lengths [B]) -> [B, K]`` is the model's scorer (see
    :func:`set_scorer`), ``emb`` [N, D] the cached embeddings of the evaluated images.
    Sets are batched ``batch_sets`` at a time on ``device``, under ``torch.no_grad()``.
    """
    module = getattr(score_sets, "__self__", None)
    was_training = getattr(module, "training", False)
    if isinstance(module, torch.nn.Module):
        module.eval()
    n_q, n_c, n_sup = episodes.supports.shape
    # One row of image indices per set: the k - 1 supports, then the query at the last position.
    index = np.concatenate([episodes.supports.reshape(n_q * n_c, n_sup),
                            np.repeat(episodes.queries, n_c)[:, None]], axis=1)
    emb = emb.to(device)
    out = torch.empty(n_q * n_c, dtype=torch.float32)
    try:
        with torch.no_grad():
            for start in tqdm(range(0, len(index), batch_sets), desc="sets", disable=not progress, leave=False):
                rows = torch.as_tensor(index[start:start + batch_sets], device=device)
                lengths = torch.full((len(rows),), n_sup + 1, device=device, dtype=torch.long)
                out[start:start + len(rows)] = score_sets(emb[rows], lengths)[:, 0].float().cpu()
    finally:
        if isinstance(module, torch.nn.Module):
            module.train(was_training)
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
