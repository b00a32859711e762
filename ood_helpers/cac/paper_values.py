"""Paper 004 (arXiv v1) Tables 1-3 as printed. Only the CAC row of Table 2 and both rows of Table 3 were
trained by the authors; every other Table 2 row is **quoted** from its own paper (other splits)."""

COLUMNS = ("MNIST", "SVHN", "CIFAR10", "CIFAR+10", "CIFAR+50", "TinyImageNet")

# Table 2, AUROC; CIFAR+10/+50 split into two columns; None = "-" in the paper
TABLE2_AUROC = {
    "Softmax [6]": (0.978, 0.886, 0.677, 0.816, 0.805, 0.577),
    "OpenMax [1] *": (0.981, 0.894, 0.695, 0.817, 0.796, 0.576),
    "G-OpenMax [3] *": (0.984, 0.896, 0.675, 0.827, 0.819, 0.580),
    "OSRCI [18]": (0.988, 0.910, 0.699, 0.838, 0.827, 0.586),
    "CROSR [2] *": (0.991, 0.899, None, None, None, 0.589),
    "C2AE [20]": (0.989, 0.922, 0.895, 0.955, 0.937, 0.748),
    "CAC (Ours) *": (0.985, 0.938, 0.803, 0.863, 0.872, 0.772),
}
QUOTED = tuple(r for r in TABLE2_AUROC if not r.startswith("CAC"))  # quoted, not re-run (by the authors or us)

# Table 3, closed-set accuracy (one CIFAR+10/+50 value: both share the network)
TABLE3_ACCURACY = {
    "Cross-Entropy": (0.997, 0.963, 0.927, 0.947, 0.947, 0.733),
    "CAC (Ours)": (0.998, 0.970, 0.934, 0.952, 0.952, 0.759),
}

# Table 1, openness as printed (percent)
TABLE1_OPENNESS = {"MNIST": 13.4, "SVHN": 13.4, "CIFAR10": 13.4, "CIFAR+10": 33.3, "CIFAR+50": 62.9, "TinyImageNet": 57.4}

# which paper column each of our datasets stands for (stand-ins use the MNIST splits)
PAPER_COLUMN = {"mnist5k": "MNIST", "digits": "MNIST", "mnist": "MNIST", "svhn": "SVHN", "cifar10": "CIFAR10",
                "cifar+10": "CIFAR+10", "cifar+50": "CIFAR+50", "tinyimagenet": "TinyImageNet"}


def paper_value(table: dict, row: str, dataset: str):
    """The printed value of ``row`` in the paper column that ``dataset`` stands for (None if absent)."""
    return table[row][COLUMNS.index(PAPER_COLUMN[dataset])]
