"""Threshold-free OOD metrics, once for the whole project (notebooks 06-12).

**One sign convention: a larger score means more out-of-distribution.** A detector whose natural
score grows with normality (maximum softmax probability, a kNN similarity) is negated before it
reaches these functions (``msp_score`` does it for softmax outputs).

| metric | positive class | what is ranked | computed with |
|---|---|---|---|
| AUROC | OOD (the same value with ID positive and the score negated) | ``s`` | ``sklearn.metrics.roc_auc_score`` |
| AUPR-In | in-distribution | ``-s`` | ``sklearn.metrics.average_precision_score`` |
| AUPR-Out | OOD | ``s`` | ``average_precision_score`` |
| FPR95 | OOD | ``s`` | ``sklearn.metrics.roc_curve``: the share of ID samples flagged at the highest threshold that flags >= 95 % of OOD samples |

AUPR is scikit-learn's step-wise average precision (what Hendrycks & Gimpel's code used), not a
trapezoidal area. FPR95 follows pytorch-ood and OpenOOD v1.5 (OOD positive); OpenOOD v1 and some
papers put ID positive instead (the share of OOD accepted when 95 % of ID is accepted), which
``fpr_at_tpr(..., positive="id")`` gives. Every table header names its positive class
(``COLUMNS``). Sets are scored whole, never rebalanced: AUPR depends on the ID:OOD ratio.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import auc, average_precision_score, roc_auc_score, roc_curve

# metric key -> table header naming the positive class
COLUMNS = {
    "auroc": "AUROC (%)",
    "aupr_in": "AUPR-In (%, ID positive)",
    "aupr_out": "AUPR-Out (%, OOD positive)",
    "fpr95": "FPR95 (%, OOD positive; lower is better)",
}
CONVENTION = ("Scores: larger = more OOD. AUROC is symmetric; AUPR-In ranks -score with in-distribution as the "
              "positive class, AUPR-Out ranks score with OOD positive (scikit-learn average precision); FPR95 is "
              "the share of in-distribution samples flagged at the threshold that flags 95 % of OOD samples.")


def _scores(values, what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{what} must be a non-empty 1-D array of scores (one per sample), got shape {arr.shape}")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ValueError(f"{what} holds {bad.size} non-finite score(s) (first at index {bad[0]}: {arr[bad[0]]}); "
                         "every score must be a finite number, larger = more OOD")
    return arr


def labelled(scores_in, scores_out) -> tuple[np.ndarray, np.ndarray]:
    """(``is_ood`` 0/1 labels, scores) of the ID and OOD scores concatenated, each checked finite."""
    s_in, s_out = _scores(scores_in, "scores_in (in-distribution)"), _scores(scores_out, "scores_out (OOD)")
    return np.r_[np.zeros(s_in.size, dtype=np.int64), np.ones(s_out.size, dtype=np.int64)], np.r_[s_in, s_out]


def auroc(scores_in, scores_out) -> float:
    """P(score of a random OOD sample > score of a random ID sample), ties counting 1/2."""
    is_ood, s = labelled(scores_in, scores_out)
    return float(roc_auc_score(is_ood, s))


def aupr_in(scores_in, scores_out) -> float:
    """Average precision of finding the in-distribution samples by ranking ``-score``."""
    is_ood, s = labelled(scores_in, scores_out)
    return float(average_precision_score(1 - is_ood, -s))


def aupr_out(scores_in, scores_out) -> float:
    """Average precision of finding the OOD samples by ranking ``score``."""
    is_ood, s = labelled(scores_in, scores_out)
    return float(average_precision_score(is_ood, s))


def fpr_at_tpr(scores_in, scores_out, tpr: float = 0.95, positive: str = "ood") -> float:
    """The false-positive rate at the highest threshold whose true-positive rate reaches ``tpr``.

    ``positive="ood"`` (the project's FPR95): flag ``score >= t`` as OOD; the share of ID samples flagged
    when >= ``tpr`` of OOD samples are. ``positive="id"``: accept ``score <= t`` as ID; the share of OOD
    samples accepted when >= ``tpr`` of ID samples are. Tied scores move together, so the reached rate can
    exceed ``tpr``."""
    if not 0 < tpr <= 1:
        raise ValueError(f"tpr must be in (0, 1], got {tpr!r}")
    if positive not in ("ood", "id"):
        raise ValueError(f"positive must be 'ood' or 'id', got {positive!r}")
    is_ood, s = labelled(scores_in, scores_out)
    if positive == "id":
        is_ood, s = 1 - is_ood, -s
    fpr, reached, _ = roc_curve(is_ood, s, drop_intermediate=False)
    return _fpr_where_reached(fpr, reached, tpr)


def _fpr_where_reached(fpr: np.ndarray, tpr: np.ndarray, level: float) -> float:
    """The false-positive rate at the first point of a full ROC curve whose true-positive rate reaches ``level``."""
    return float(fpr[np.searchsorted(tpr, level - 1e-12)])


def ood_metrics(scores_in, scores_out) -> dict[str, float]:
    """``{"auroc", "aupr_in", "aupr_out", "fpr95"}`` as fractions in [0, 1] (see the module docstring).

    The same numbers as the four functions above (``tests/unit/test_ood_metrics.py`` checks it, ties included)
    from one input check and one ROC curve: its trapezoid area is the AUROC, and both average precisions
    are scikit-learn's sum of precision x recall step written out over the curve's counts (a flagged set of
    the ID-positive ranking is the complement of one of the OOD-positive ranking's). Notebook 08's grid
    calls this 1,700 times; the four scikit-learn calls, each sorting and checking again, took 7 ms a call
    against 0.9 ms (2,500 scores)."""
    is_ood, s = labelled(scores_in, scores_out)
    fpr, tpr, _ = roc_curve(is_ood, s, drop_intermediate=False)  # starts at (0, 0), one point a distinct score
    n_out = float(is_ood.sum())
    n_in = float(is_ood.size) - n_out
    tp, fp = np.rint(tpr * n_out), np.rint(fpr * n_in)  # OOD / ID samples scoring >= each threshold
    flagged = tp + fp
    precision_out = np.divide(tp, flagged, out=np.ones_like(tp), where=flagged > 0)
    rest_in, rest_out = n_in - fp, n_out - tp  # samples scoring below each threshold
    rest = rest_in + rest_out
    precision_in = np.divide(rest_in, rest, out=np.ones_like(rest), where=rest > 0)
    return {"auroc": float(auc(fpr, tpr)),
            "aupr_in": float(np.sum(np.diff(fp) / n_in * precision_in[:-1])),
            "aupr_out": float(np.sum(np.diff(tp) / n_out * precision_out[1:])),
            "fpr95": _fpr_where_reached(fpr, tpr, 0.95)}


def accept_threshold(scores_in, keep: float = 0.95) -> float:
    """The smallest ID score ``t`` with at least ``keep`` of the in-distribution scores ``<= t`` (numpy's
    ``inverted_cdf`` quantile), so ``score <= t`` accepts that share; fit it on ID data only, never on OOD."""
    if not 0 < keep <= 1:
        raise ValueError(f"keep must be in (0, 1], got {keep!r}")
    return float(np.quantile(_scores(scores_in, "scores_in (in-distribution)"), keep, method="inverted_cdf"))


def msp_score(probabilities) -> np.ndarray:
    """The maximum-softmax-probability detector (Hendrycks & Gimpel) in the project's sign: ``-max_c p_c``
    of an [N, C] array of class probabilities."""
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 1:
        raise ValueError(f"probabilities must be an [N, C] array, got shape {p.shape}")
    return -p.max(axis=1)
