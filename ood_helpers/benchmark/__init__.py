"""Notebook 11: one open-set benchmark of every method of the five papers on the same known / unknown splits
(the CAC paper's 6-of-10 trials), the same metrics (``core.metrics.ood``) and the same trials.
Modules: ``settings`` (per profile), ``trial`` (what a row gets and returns), ``rows`` (the row type),
``rows_<method>`` (each paper's rows, run by that notebook's code), ``registry`` (the rows in table order),
``runner`` (every row on every trial, cached per row and trial), ``report`` (tables, ranking, paired tests).
"""
