"""Class Anchor Clustering (paper 004, Miller et al., arXiv v1 2020), the official recipe.

Modules: ``loss`` (distance layer, anchors, CAC loss), ``scoring`` (anchor recomputation, rejection
score, nearest-anchor prediction, CE + MSP), ``network`` (the OSRCI encoder, the digits MLP),
``splits`` (the paper's class splits, openness), ``data`` (datasets of a trial), ``training``
(the recipe through ``ood_helpers.core.train.fit``), ``trials`` (a trial end to end), ``settings``,
``paper_values``, ``peer`` (pytorch-ood's CACLoss), ``toy`` (Fig. 1), ``figures`` (Figs. 1-5),
``released`` (the authors' released CIFAR-10 networks scored by this pipeline; ``python -m
ood_helpers.cac.released``) and ``released_view`` (their rows in notebook 06).
"""
