"""Notebook 12's reproduction report: every table of the five papers beside ours, a scorecard per claim,
an index of every figure, with provenance; exported as Markdown and a self-contained HTML page.

Modules: ``sources`` (the files notebooks 00-11 wrote, read back; absent = missing), ``registry`` (which
file regenerates which paper table or figure, comparability marks), ``paper_map`` (the paper's value of
each of our cells, from the per-paper ``paper_values`` modules), ``compare`` (ours beside the paper's,
ordering agreement), ``paired`` (intervals of A - B and the verdict rules), ``units`` (paired units from the
per-trial files), ``claims`` (a claim's cells and their aggregate), ``deviations`` (the profile's deviations from
each paper's recipe), ``scorecard`` (one verdict per headline claim), ``figures`` (figure index,
thumbnails, provenance), ``export`` (Markdown / HTML), ``readme`` (the README's recorded-quick section).
Command line: ``python -m ood_helpers.report build|readme --profile quick``.
"""
