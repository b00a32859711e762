"""Figures of the notebooks, one module per kind; ``style.use_style()`` sets the one style.

Figure modules (``grids``, ``curves``, ``embedding``, ``confusion``, ``attribution``) are
imported from their own names, so importing this package stays light.
"""

from .style import PALETTE, use_style

__all__ = ["PALETTE", "use_style"]
