"""Paper 002's Tables I-III as printed (spec §4): each cell "baseline / ours", baseline = Hendrycks et al. [6]
(the abnormality module of Hendrycks & Gimpel 2017), ours = the full model's reconstruction error."""

from __future__ import annotations

METRICS = ("auroc", "aupr_in", "aupr_out")

# row -> metric -> (Hendrycks et al., Our Method), percent
TABLE1 = {
    "CIFAR-10/SUN": {"auroc": (99.99, 100), "aupr_in": (99.95, 100), "aupr_out": (99.04, 100)},
    "CIFAR-10/Gaussian": {"auroc": (100, 100), "aupr_in": (100, 100), "aupr_out": (99.24, 100)},
    "MNIST/Omniglot": {"auroc": (99.45, 99.50), "aupr_in": (99.49, 99.45), "aupr_out": (99.40, 99.38)},
    "MNIST/notMNIST": {"auroc": (100, 100), "aupr_in": (100, 100), "aupr_out": (99.97, 100)},
    "MNIST/CIFAR-10bw": {"auroc": (99.97, 100), "aupr_in": (99.97, 100), "aupr_out": (99.97, 100)},
    "MNIST/Gaussian": {"auroc": (100, 100), "aupr_in": (100, 100), "aupr_out": (100, 100)},
    "MNIST/Uniform": {"auroc": (100, 100), "aupr_in": (100, 100), "aupr_out": (100, 100)},
}

# held-out pair -> metric -> (Hendrycks et al., Our Method); rows assigned by order (spec §4, "(?)")
TABLE2 = {
    (0, 1): {"auroc": (93.57, 94.65), "aupr_in": (98.10, 98.16), "aupr_out": (75.98, 89.10)},
    (2, 3): {"auroc": (90.46, 98.85), "aupr_in": (96.44, 99.72), "aupr_out": (75.48, 95.18)},
    (4, 5): {"auroc": (92.82, 96.78), "aupr_in": (98.25, 99.24), "aupr_out": (72.98, 86.88)},
    (6, 7): {"auroc": (95.37, 95.49), "aupr_in": (98.76, 98.81), "aupr_out": (82.90, 84.13)},
    (8, 9): {"auroc": (94.63, 95.52), "aupr_in": (98.69, 98.86), "aupr_out": (75.19, 82.68)},
}

TABLE3_COLUMNS = ("OOD Detection", "Joint Optimization for Classification", "Clustering", "Interpretable Embedding space")
# ✓ = has the property, O = partially, "" = does not (as printed)
TABLE3 = {
    "ODIN [10]": ("✓", "", "", ""),
    "DEC [8]": ("", "", "✓", "✓"),
    "Shaol et al.[21]": ("", "✓", "✓", "O"),
    "Devries et al.[11]": ("✓", "✓", "", ""),
    "Hendrycks et al.[6]": ("✓", "✓", "", ""),
    "Our model": ("✓", "✓", "✓", "✓"),
}


def pair_name(pair) -> str:
    return f"MNIST-{{{pair[0]},{pair[1]}}}"


def table2_cell(pair, metric: str) -> str:
    """The paper's printed "baseline / ours" cell of Table II."""
    base, ours = TABLE2[tuple(pair)][metric]
    return f"{base:.2f} / {ours:.2f}"


def table1_cell(row: str, metric: str) -> str:
    base, ours = TABLE1[row][metric]
    fmt = lambda v: f"{v:g}" if v == 100 else f"{v:.2f}"  # noqa: E731  (printed "100", else two decimals)
    return f"{fmt(base)} / {fmt(ours)}"


def table3_frame():
    import pandas as pd

    return pd.DataFrame.from_dict(TABLE3, orient="index", columns=list(TABLE3_COLUMNS)).rename_axis("method")
