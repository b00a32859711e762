"""The numbers paper 000 prints, as plain data: the method names of our tables and the paper's
Tables 1-3 (top-1 / top-5 accuracy in %, "mean ± std" over five trials, copied verbatim) and
Table 4 (clustering accuracy in %, (mean, std) over five trials).

Nothing here computes; ``homogeneity.classification`` renames the paper's columns to ours when it
builds a table. This is the one place these numbers live (notebooks import them from here).
"""

from __future__ import annotations

# ===== method names (the row labels of every table) =====

M_ALL = "ResNet-18 (trained on all classes)"
M_SEEN = "ResNet-18 (trained on seen classes)"
M_OWN = "ResNet-18 (trained on each dataset)"
M_NN_IMAGE = "Euclidean NN (image space)"
M_NN_EUC_PRE = "Euclidean NN (pretrained embeddings)"
M_NN_EUC_FT = "Euclidean NN (fine-tuned embeddings)"
M_NN_COS_PRE = "Cosine NN (pretrained embeddings)"
M_NN_COS_FT = "Cosine NN (fine-tuned embeddings)"
M_HOM = "Class homogeneity"
NN_METHODS = (M_NN_IMAGE, M_NN_EUC_PRE, M_NN_EUC_FT, M_NN_COS_PRE, M_NN_COS_FT)
# Table 1's class ranges: seen 1-800, val 801-900, test 901-1000, all 1-1000 in the paper.
RANGES = ("seen", "val", "test", "all")

# ===== Table 1: every query against all 1000 classes =====

_T1_TOP1 = {
    M_ALL: ("69.65 ± 0.13", "70.40 ± 0.25", "71.99 ± 0.26", "69.96 ± 0.09"),
    M_SEEN: ("71.56 ± 0.19", None, None, None),
    M_NN_IMAGE: ("0.55 ± 0.00", "0.13 ± 0.00", "1.19 ± 0.00", "0.58 ± 0.00"),
    M_NN_EUC_PRE: ("51.09 ± 0.24", "38.86 ± 0.35", "41.85 ± 0.56", "48.95 ± 0.17"),
    M_NN_EUC_FT: ("53.15 ± 0.09", "41.51 ± 0.23", "43.87 ± 0.30", "51.06 ± 0.08"),
    M_NN_COS_PRE: ("56.67 ± 0.18", "37.28 ± 0.47", "38.59 ± 0.21", "52.93 ± 0.15"),
    M_NN_COS_FT: ("57.06 ± 0.25", "35.70 ± 0.32", "37.00 ± 0.34", "52.92 ± 0.19"),
    M_HOM: ("56.78 ± 1.46", "44.13 ± 0.16", "47.47 ± 0.40", "54.59 ± 1.15"),
}
_T1_TOP5 = {
    M_ALL: ("89.15 ± 0.09", "90.13 ± 0.13", "90.34 ± 0.24", "89.37 ± 0.07"),
    M_SEEN: ("90.04 ± 0.09", None, None, None),
    M_NN_IMAGE: ("2.34 ± 0.00", "0.25 ± 0.00", "3.76 ± 0.00", "2.19 ± 0.00"),
    M_NN_EUC_PRE: ("75.80 ± 0.15", "71.35 ± 0.12", "74.38 ± 0.22", "75.21 ± 0.13"),
    M_NN_EUC_FT: ("77.29 ± 0.23", "74.95 ± 0.24", "76.36 ± 0.41", "76.97 ± 0.20"),
    M_NN_COS_PRE: ("81.28 ± 0.14", "72.32 ± 0.24", "73.92 ± 0.27", "79.65 ± 0.16"),
    M_NN_COS_FT: ("82.24 ± 0.16", "72.29 ± 0.15", "74.05 ± 0.21", "80.43 ± 0.14"),
    M_HOM: ("82.99 ± 0.72", "76.39 ± 0.27", "77.99 ± 0.36", "81.83 ± 0.62"),
}
# {method: {(metric, range name): "mean ± std"}}, range names as in RANGES.
PAPER_TABLE1 = {
    m: {(metric, r): v for metric, table in (("top-1", _T1_TOP1), ("top-5", _T1_TOP5))
        for r, v in zip(RANGES, table[m]) if v is not None}
    for m in _T1_TOP1
}

# ===== Table 2: test queries against growing ranges of test classes (top-1) =====

PAPER_TABLE2_RANGES = ("901-910", "901-920", "901-940", "901-980", "901-1000")
# {method: values in the order of PAPER_TABLE2_RANGES}; ours are matched by position.
PAPER_TABLE2 = {
    M_ALL: ("93.80 ± 0.68", "93.92 ± 0.27", "93.30 ± 0.24", "91.67 ± 0.21", "91.04 ± 0.096"),
    M_NN_IMAGE: ("18.36 ± 0.00", "14.07 ± 0.00", "6.62 ± 0.00", "4.35 ± 0.00", "3.65 ± 0.00"),
    M_NN_EUC_PRE: ("85.11 ± 0.73", "80.13 ± 0.64", "78.67 ± 0.35", "71.93 ± 0.35", "71.51 ± 0.40"),
    M_NN_EUC_FT: ("83.98 ± 1.02", "77.87 ± 0.47", "77.44 ± 0.40", "72.97 ± 0.41", "72.65 ± 0.43"),
    M_NN_COS_PRE: ("88.05 ± 0.45", "83.27 ± 0.25", "81.25 ± 0.25", "76.82 ± 0.26", "75.77 ± 0.29"),
    M_NN_COS_FT: ("88.52 ± 0.43", "83.78 ± 0.29", "81.17 ± 0.14", "77.27 ± 0.19", "76.22 ± 0.14"),
    M_HOM: ("88.83 ± 0.34", "84.87 ± 0.28", "83.14 ± 0.24", "79.18 ± 0.39", "78.43 ± 0.49"),
}

# ===== Table 3: datasets never trained on (top-1) =====

# {method: {paper column: "mean ± std"}}
PAPER_TABLE3 = {
    m: dict(zip(("MNIST", "Fashion-MNIST", "CIFAR-10", "CIFAR-100"), v)) for m, v in {
        M_OWN: ("99.20 ± 0.06", "91.51 ± 0.27", "77.77 ± 0.89", "48.90 ± 0.46"),
        M_NN_IMAGE: ("63.68 ± 0.00", "60.15 ± 0.00", "20.11 ± 0.00", "6.05 ± 0.00"),
        M_NN_EUC_PRE: ("75.26 ± 2.49", "66.45 ± 1.44", "66.21 ± 0.80", "37.50 ± 0.62"),
        M_NN_EUC_FT: ("72.87 ± 1.69", "67.24 ± 0.69", "65.40 ± 0.77", "37.51 ± 0.83"),
        M_NN_COS_PRE: ("76.24 ± 1.38", "67.30 ± 1.06", "66.48 ± 0.75", "41.86 ± 0.27"),
        M_NN_COS_FT: ("74.14 ± 1.68", "69.01 ± 0.51", "69.88 ± 0.83", "46.10 ± 0.49"),
        M_HOM: ("58.99 ± 3.49", "64.88 ± 3.37", "70.53 ± 0.96", "42.91 ± 0.68"),
    }.items()
}
# Our dataset -> the paper's Table 3 column it stands for (mnist5k are real MNIST test digits).
PAPER_TABLE3_COLUMN = {"mnist": "MNIST", "mnist5k": "MNIST", "fashion-mnist": "Fashion-MNIST",
                       "cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}
# The paper's queries per class: 1000 for Tables 1-2, ten thousand for Table 3.
PAPER_QUERIES_PER_CLASS = {"table1": 1000, "table2": 1000, "table3": 10_000}

# ===== Table 4: OOD clustering accuracy (%) over growing ranges of test classes =====

KMEANS_ROW = "K-means (embeddings trained on all classes)"
FEATURE_ROWS = {  # feature name -> Table 4 row of PCA + t-SNE + DBSCAN on it
    "all": "PCA + t-SNE + DBSCAN (embeddings trained on all classes)",
    "images": "PCA + t-SNE + DBSCAN (images)",
    "pretrained": "PCA + t-SNE + DBSCAN (pretrained embeddings)",
    "fine-tuned": "PCA + t-SNE + DBSCAN (fine-tuned embeddings)",
}
GREEDY_ROW = "Class Homogeneity (greedy, eq. 3-4)"
AGGLOMERATIVE_ROW = "Class Homogeneity + average linkage (ours)"  # beyond the paper: no paper value
PAPER_TABLE4_RANGES = ("901-910", "901-920", "901-940", "901-980", "901-1000")
# {row: [(mean, std) in the order of PAPER_TABLE4_RANGES]}, five trials; ours are matched by position.
PAPER_TABLE4: dict[str, list[tuple[float, float]]] = {
    KMEANS_ROW: [(89.04, 3.36), (84.19, 2.50), (81.35, 2.10), (75.59, 1.59), (75.32, 1.12)],
    FEATURE_ROWS["all"]: [(48.24, 2.80), (32.74, 1.31), (22.04, 0.75), (16.20, 0.63), (14.12, 0.35)],
    FEATURE_ROWS["images"]: [(16.48, 0.80), (9.65, 1.14), (7.53, 0.26), (5.33, 0.36), (4.22, 0.21)],
    FEATURE_ROWS["pretrained"]: [(47.98, 2.95), (29.22, 3.83), (20.05, 1.34), (14.79, 0.27), (13.05, 0.31)],
    FEATURE_ROWS["fine-tuned"]: [(53.40, 4.84), (33.47, 2.17), (21.93, 1.32), (15.25, 0.49), (13.48, 0.49)],
    GREEDY_ROW: [(57.12, 1.99), (41.64, 4.59), (34.42, 2.99), (1.00, 0.00), (5.59, 9.18)],
}
