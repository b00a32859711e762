"""The row and column names of notebook 09's tables, as ``experiment.run_trial``'s records carry them (the methods
of ``table2``, the stages of ``table4``, the pseudo-labellings of ``clustering``, the columns of ``table5``,
``lr`` and ``table6``)."""

from __future__ import annotations


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
