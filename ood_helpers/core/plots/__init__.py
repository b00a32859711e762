"""Figure helpers no paper owns: the one style (``style.use_style()``), sample grids, confusion matrices and
2-D embedding maps. Each paper's own figures live in its package (``<paper>/figures.py``)."""
