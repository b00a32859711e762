"""Metrics shared by the papers: threshold-free OOD metrics (``ood``), clustering accuracy (``clustering``),
OOD scores over embeddings (``feature_scores``) and the clustering baselines over embeddings
(``embedding_clustering``)."""
