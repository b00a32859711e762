"""Paper 002 (Chen & Zhao, "Skip the question you don't know"): an autoencoder whose embedding is pulled
into label clusters (DEC-style KL towards sharpened Student-t assignments, centres interpolated towards
class means) while a linear classifier reads the same embedding; the OOD score is the reconstruction error.

Modules: ``autoencoder`` (networks, scoring), ``clustering_loss`` (q, P, centres, J_e), ``sifting``
(Algorithm 1's outlier sifting), ``training`` (pretraining and the joint phase through ``train.fit``),
``abnormality`` (the paper's baseline, Hendrycks & Gimpel's abnormality module), ``datasets`` and ``typeset``
(in-distribution splits and OOD sets, offline stand-ins named as such), ``experiments`` (long records of every
table), ``report`` (the tables), ``figure_data`` (what Figs. 1, 4, 5 show), ``settings`` (per-profile settings),
``paper_values`` (Tables I-III as printed).
"""
