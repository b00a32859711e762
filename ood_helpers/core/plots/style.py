"""The project's one figure style: seaborn's whitegrid, a colour-blind palette, readable fonts."""

from __future__ import annotations

import matplotlib as mpl

PALETTE = "colorblind"

RC = {
    "figure.dpi": 100,  # on screen; saved PNGs use savefig.dpi
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "font.family": "DejaVu Sans",  # ships with matplotlib, so every machine renders the same glyphs
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "pdf.fonttype": 42,  # TrueType in PDFs: editable text
    "svg.hashsalt": "ood-helpers",  # stable ids in SVG output
    "image.cmap": "viridis",
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def use_style() -> None:
    """Sets the project's matplotlib/seaborn style for every later figure of this process."""
    import seaborn as sns

    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE, font="DejaVu Sans", rc=RC)
    mpl.rcParams.update(RC)
