"""Evaluation of the OOD methods: classification (paper 000 eq. 1), clustering (eq. 2-4),
nearest-neighbour baselines, OOD scores and their metrics. One module per method family;
import the module you need (``from ood_helpers.evaluate import clustering``)."""
