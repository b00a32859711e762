"""Training losses, one module per paper's loss."""

from .homogeneity import homogeneity_bce

__all__ = ["homogeneity_bce"]
