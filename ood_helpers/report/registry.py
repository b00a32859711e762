"""Every table and figure of the five papers that notebooks 00-11 regenerate: which file, which paper
table or figure, how the paper's values map to our rows (``paper_map``) and why values may not be
comparable: the profile's deviations from the paper's recipe, derived from the settings (``deviations``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ood_helpers.report import paper_map as PM
from ood_helpers.report.deviations import marks as _deviation_marks

PAPERS = {
    "000": "Out-of-Distribution Classification and Clustering (the main paper)",
    "001": "Is it all a cluster game? (abstract only: no numbers printed)",
    "002": "Skip The Question You Don't Know: An Embedding Space Approach",
    "003": "Out-of-Distribution Detection Without Class Labels",
    "004": "Class Anchor Clustering (CAC)",
    "beyond": "beyond the papers (no paper values)",
}


@dataclass(frozen=True)
class TableSpec:
    """One table a notebook writes. ``summary``: it has ``<name>_summary.csv`` (numbers per cell);
    ``paper_of``: the paper's value per summary row (None: the paper prints none for this table);
    ``method``: the key column naming the methods whose order the paper's is compared with."""

    name: str
    notebook: str
    paper: str
    paper_table: str
    title: str
    summary: bool = True
    paper_of: Callable | None = None
    method: str | None = None
    marks: tuple[str, ...] = ()

    def comparability(self, profile: str) -> tuple[str, ...]:
        """The profile's deviations from the paper's recipe (one mark a category), then the table's own marks."""
        return _deviation_marks(self.paper, profile) + self.marks


@dataclass(frozen=True)
class FigureSpec:
    """A figure (or a family of figures sharing a name prefix) and the paper figure it regenerates."""

    name: str
    notebook: str
    paper: str
    paper_figure: str
    prefix: bool = False
    optional: bool = False  # written only in some profiles (not reported missing when absent)

    def matches(self, stem: str) -> bool:
        return stem.startswith(self.name) if self.prefix else stem == self.name


T = TableSpec
TABLES: tuple[TableSpec, ...] = (
    T("dataset_sizes", "00", "000", "§5.1", "dataset sizes per split", summary=False),
    T("table_gbp_similarity", "01", "000", "Fig. 1 (beyond: a number for it)",
      "guided-backprop similarity to the all-classes maps (Spearman)", method="comparison"),
    T("table_pretrain_accuracy", "02", "000", "Tables 1-3, classifier rows", "ResNet-18 accuracy on its classes (%)",
      paper_of=PM.main_pretrain, method="network"),
    T("fig2_overfitting_summary", "03", "000", "Fig. 2", "overfitting of the homogeneity model (%)", summary=False),
    T("homogeneity_vs_nn", "03", "000", "§5.4 (beyond)", "eq. 1 on validation classes vs NN (%)", summary=False),
    T("table1_ood_classification", "04", "000", "Table 1", "OOD classification against all classes, top-1 / top-5 (%)",
      paper_of=PM.main_table1, method="method"),
    T("table2_ood_classification_ranges", "04", "000", "Table 2", "test classes, growing ranges, top-1 (%)",
      paper_of=PM.main_table2, method="method"),
    T("table3_ood_datasets", "04", "000", "Table 3", "datasets never trained on, top-1 (%)",
      paper_of=PM.main_table3, method="method"),
    T("table4_ood_clustering", "05", "000", "Table 4", "OOD clustering accuracy (%)",
      paper_of=PM.main_table4, method="method"),
    T("cac_table1_openness", "06", "004", "Table 1", "openness of the splits (%)", summary=False),
    T("cac_table2_auroc", "06", "004", "Table 2", "open-set AUROC (fraction)", paper_of=PM.cac_table2, method="method"),
    T("cac_table3_accuracy", "06", "004", "Table 3", "closed-set accuracy (fraction)",
      paper_of=PM.cac_table3, method="method"),
    T("cac_ood_metrics", "06", "004", "beyond Table 2", "AUROC / AUPR / FPR95 (%)", method="method"),
    T("cac_fig3_ablation", "06", "004", "Fig. 3", "ablation of L_A / L_T (fraction)", method="method"),
    T("emb_table1_cross_dataset", "07", "002", "Table I", "MNIST against other datasets (%)",
      paper_of=PM.emb_table1, method="detector"),
    T("emb_table2_heldout_digits", "07", "002", "Table II", "held-out MNIST digit pairs (%)",
      paper_of=PM.emb_table2, method="detector"),
    T("emb_table3_comparison", "07", "002", "Table III", "method properties as printed", summary=False),
    T("emb_table_ablation", "07", "002", "beyond (the model's parts)", "ablation ladder (%)", method="model"),
    T("emb_table_sifting", "07", "002", "Algorithm 1 (beyond)", "outlier sifting with 5 % injected noise (%)",
      method="model"),
    T("cg_auroc", "08", "001", "abstract (no table printed)", "AUROC by training x clustering x distance (%)"),
    T("cg_who_wins", "08", "001", "abstract, claims C2-C4", "the best configuration per cell", summary=False),
    T("cg_claims", "08", "001", "abstract, claims C1-C5", "claim verdicts", summary=False),
    T("pl_table2_ood_without_labels", "09", "003", "Table 2", "1-NN AUROC (%)", paper_of=PM.pl_table2, method="method"),
    T("pl_table4_scan_stages", "09", "003", "Table 4", "SCAN stages, AUROC (%)", paper_of=PM.pl_table4, method="column"),
    T("pl_table5_scoring", "09", "003", "Table 5 (garbled in print)", "scoring functions, AUROC (%)", method="column"),
    T("pl_table6_clusters", "09", "003", "Table 6", "number of clusters K, AUROC (%)",
      paper_of=PM.pl_table6, method="column"),
    T("pl_weight_averaging", "09", "003", "§ weight averaging", "epochs and their average, AUROC (%)",
      paper_of=PM.pl_averaging, method="column"),
    T("pl_pseudo_label_quality", "09", "003", "§ SCAN accuracy", "pseudo-label quality",
      paper_of=PM.pl_quality, method="labelling"),
    T("pl_claims", "09", "003", "the paper's orderings", "claims scorecard", summary=False),
    T("discovery_test", "10", "beyond", "§6 (future work)", "open-world discovery on test classes", method="method"),
    T("bench_open_set", "11", "beyond", "one benchmark of every method", "open-set benchmark", method="method"),
    T("bench_ranking", "11", "beyond", "one benchmark of every method", "ranking of the methods", summary=False),
    T("bench_significance", "11", "beyond", "one benchmark of every method", "significance of the differences",
      summary=False),
    T("bench_timing", "11", "beyond", "one benchmark of every method", "cost per method", summary=False),
    T("bench_splits", "11", "beyond", "one benchmark of every method", "the benchmark's splits", summary=False),
    T("bench_skipped", "11", "beyond", "one benchmark of every method", "methods skipped and why", summary=False),
)

F = FigureSpec
FIGURES: tuple[FigureSpec, ...] = (
    F("data_samples_", "00", "000", "§5.1 (sample images)", prefix=True),
    F("fig1_guided_backprop", "01", "000", "Fig. 1"),
    F("fig2_overfitting_curves", "03", "000", "Fig. 2"),
    F("fig_homogeneity_learning_curve", "03", "000", "beyond (learning curve)"),
    F("fig_confusion_homogeneity", "04", "000", "beyond (confusion matrix)"),
    F("fig3_tsne_clusters", "05", "000", "Fig. 3"),
    F("fig3_umap_clusters", "05", "000", "Fig. 3 (UMAP beside t-SNE)"),
    F("cac_fig1_toy", "06", "004", "Fig. 1"),
    F("cac_fig2_sweep", "06", "004", "Fig. 2"),
    F("cac_fig3_ablation", "06", "004", "Fig. 3"),
    F("cac_fig4_unknown_confusion", "06", "004", "Fig. 4"),
    F("cac_fig5_extreme_unknowns", "06", "004", "Fig. 5"),
    F("emb_fig1_skip_question", "07", "002", "Fig. 1"),
    F("emb_fig2_architecture", "07", "002", "Fig. 2"),
    F("emb_fig4_embedding_spaces", "07", "002", "Fig. 4"),
    F("emb_fig5_sample_types", "07", "002", "Fig. 5"),
    F("cg_auroc_heatmap_", "08", "001", "none printed (AUROC heat map)", prefix=True),
    F("cg_separation_tsne_", "08", "001", "none printed (claim C1, t-SNE)", prefix=True),
    F("pl_fig1_mahalanobis_vs_knn", "09", "003", "Fig. 1"),
    F("pl_fig2_retrieval", "09", "003", "Fig. 2"),
    F("pl_weight_averaging", "09", "003", "beyond (weight averaging)"),
    F("discovery_threshold_sweep", "10", "beyond", "§6 (threshold choice)"),
    F("discovery_stream_accuracy", "10", "beyond", "§6 (accuracy along the stream)"),
    F("bench_roc_curves", "11", "beyond", "benchmark ROC curves"),
    F("bench_ranked_auroc", "11", "beyond", "benchmark ranked AUROC"),
)


def table_spec(name: str) -> TableSpec:
    for spec in TABLES:
        if spec.name == name:
            return spec
    raise KeyError(f"no table {name!r} in the report registry; known: {', '.join(s.name for s in TABLES)}")


def figure_spec(stem: str) -> FigureSpec | None:
    """The registry entry a figure file's stem belongs to (None: not registered)."""
    return next((f for f in FIGURES if f.matches(stem)), None)


def notebooks() -> list[str]:
    return sorted({s.notebook for s in TABLES} | {f.notebook for f in FIGURES})


def marks_for(paper: str, profile: str) -> tuple[str, ...]:
    """The marks every table of ``paper`` carries in ``profile`` (``deviations.marks``)."""
    return _deviation_marks(paper, profile)


__all__ = ["FIGURES", "PAPERS", "TABLES", "FigureSpec", "TableSpec", "figure_spec", "marks_for", "notebooks",
           "table_spec"]
