"""Shared PyTorch code for the OOD companion notebooks.

Modules are named for what they hold: ``profiles`` (run sizes), ``paths`` (every
location), ``data`` (datasets and class splits), ``artifacts`` (figures, tables,
caches), ``run`` (papermill over the notebooks).
"""

__version__ = "0.1.0"
