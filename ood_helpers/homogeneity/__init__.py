"""Paper 000, class homogeneity: a ResNet-18 encodes a set of images, a Transformer decides whether they
share one class; the same model then classifies (eq. 1) and clusters (eqs. 2-4) unseen classes.

Sampler (``sampling``), model (``model``), loss (``loss``), seen-class classifiers (``classifier``), the head
stage on cached embeddings (``head_stage``), the trained networks (``training``, ``trained_models``), Tables
1-3 (``episodes``, ``scorers``, ``neighbors``, ``classification``, ``classification_tables``), Table 4
(``pair_matrix``, ``greedy_clustering``, ``clustering``), the guided-backprop study of section 2
(``class_groups``, ``attribution``, ``attribution_similarity``, ``attribution_figures``), the paper's numbers
(``paper_values``) and Fig. 2 (``figures``). Notebooks 01-05.
"""
