"""Runnable companion to five out-of-distribution papers.

Layout, bottom to top (imports point down only; ``tests/unit/test_layers.py`` holds it so):
``core`` (knows no paper) -> one package a paper: ``homogeneity`` (000), ``cluster_distance`` (001),
``embedding_ood`` (002), ``pseudo_label`` (003), ``cac`` (004) -> ``discovery`` -> ``benchmark`` -> ``report``
-> ``run`` (papermill over the notebooks).
"""

__version__ = "0.2.0"  # in every cache key; 0.2.0 = the core + per-paper layout (caches retrain once)
