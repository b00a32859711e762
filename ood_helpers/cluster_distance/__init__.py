"""Notebook 08 (paper 001, "Is it all a cluster game?"): OOD detection by distance to clusters of training
embeddings, cross-entropy vs supervised / self-supervised contrastive training.

``settings`` (per-profile knobs), ``datasets`` (ID / OOD sets, stand-ins named), ``encoders`` and
``training`` (CE, SupCon, SimCLR; cached, timed), ``strategies`` (clusterings S1-S4, distances),
``thresholds`` (T1-T3 on ID validation only), ``diagnostics`` (separation, Kendall tau), ``grid`` (the
runner), ``report`` (the notebook's tables and claim verdicts).
"""
