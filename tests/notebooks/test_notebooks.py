"""Every notebook in notebooks/ (picked up automatically, in name order): a papermill
parameters cell with `profile` and `overrides`, committed clean, and an execution in the smoke profile
whose written tables (figures/smoke/*.csv, read back from disk) hold one row per expected method and
values in range. Each notebook runs once (module fixture ``smoke_run``), in name order, so later ones
reuse the caches of earlier ones."""

import ast
import importlib
import itertools
import time
from pathlib import Path

import nbformat
import numpy as np
import papermill
import pytest

from ood_helpers.core import paths
from ood_helpers import run
from ood_helpers.core.profile import PROFILES, get_profile
from ood_helpers.homogeneity.settings import homogeneity_settings
from tests.support import Tables, _constants, check_means_of_trials, check_summary, in_range, one_row_each, positive_ints

NOTEBOOKS = sorted(paths.NOTEBOOKS.glob("*.ipynb"))
IDS = [p.stem for p in NOTEBOOKS]
SMOKE_CELL_TIMEOUT = 300  # seconds per cell; a smoke notebook should take well under a minute


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=IDS)
def test_has_profile_parameter(notebook):
    params = papermill.inspect_notebook(str(notebook))
    assert "profile" in params, f"{notebook.name}: no `profile` in a cell tagged 'parameters'; found {sorted(params)}"
    default = ast.literal_eval(params["profile"]["default"])
    assert default in PROFILES, f"{notebook.name}: default profile {default!r} is not one of {sorted(PROFILES)}"
    # python -m ood_helpers.run --set FIELD=VALUE sends every notebook `overrides` (JSON text, "" for none)
    assert "overrides" in params, f"{notebook.name}: no `overrides` in its parameters cell; found {sorted(params)}"
    assert params["overrides"]["inferred_type_name"] == "str", f"{notebook.name}: `overrides` must be a str"
    assert ast.literal_eval(params["overrides"]["default"]) == "", f"{notebook.name}: `overrides` must default to \"\""
    source = "".join(c.source for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "code")
    assert "notebook_profile(profile, overrides" in source, f"{notebook.name}: resolve the profile with notebook_profile"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=IDS)
def test_every_parameter_is_documented(notebook):
    # papermill --help-notebook silently drops lines it cannot read (`x: int | None = None`, or a
    # second "=" in the help comment), so compare its view with the names the cell assigns
    nb = nbformat.read(notebook, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    assigned = [line.split(":")[0].split("=")[0].strip() for line in cell.source.splitlines() if line.strip()]
    params = papermill.inspect_notebook(str(notebook))
    for name in assigned:
        assert name in params, (
            f"{notebook.name}: papermill cannot read the parameter {name!r}; write `name: type = literal  # help` "
            "with a plain type and no '=' in the help"
        )
        info = params[name]
        assert info["inferred_type_name"] != "None" and info["help"], f"{notebook.name}: {name!r} needs a type and a # help"
        ast.literal_eval(info["default"])  # a plain literal, so papermill can override it


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=IDS)
def test_committed_clean(notebook):
    nb = nbformat.read(notebook, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", f"{notebook.name}: kernelspec must be python3"
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count is not None)]
    assert not dirty, f"{notebook.name}: cells {dirty} have outputs or execution counts; commit notebooks cleared"
    assert nb.cells and nb.cells[0].cell_type == "markdown" and nb.cells[0].source.lstrip().startswith("#"), (
        f"{notebook.name}: the first cell should be a markdown title"
    )
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{notebook.name}: expected one cell tagged 'parameters', found {len(tagged)}"


@pytest.fixture(scope="module")
def smoke_run(ood_dirs):
    """``execute(notebook) -> (result, error, started_ns)``: runs the notebook in the smoke profile the
    first time it is asked for, then hands back the same outcome (the execution and the table tests
    share one run). The output roots are already in os.environ (conftest), which the kernel inherits."""
    done = {}

    def execute(notebook):
        if notebook not in done:
            output = ood_dirs["runs"] / "smoke" / notebook.name
            started = time.time_ns()
            try:
                result = run.run_notebook(notebook, output, {"profile": "smoke"}, timeout=SMOKE_CELL_TIMEOUT,
                                          progress=False)
                done[notebook] = (result, None, started)
            except run.NotebookFailed as err:
                done[notebook] = (None, err, started)
        return done[notebook]

    return execute


@pytest.mark.notebook
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=IDS)
def test_executes_in_smoke_profile(notebook, smoke_run, ood_dirs):
    result, error, _ = smoke_run(notebook)
    if error is not None:
        pytest.fail(str(error), pytrace=False)
    assert (ood_dirs["runs"] / "smoke" / notebook.name).is_file()
    print(f"{notebook.name}: {result.seconds:.1f} s")


# ===== the tables each notebook writes, read back from figures/smoke =====


CLASSIFICATION_MODULES = ("ood_helpers.homogeneity.paper_values", "ood_helpers.homogeneity.classification")
CLUSTERING_MODULES = ("ood_helpers.homogeneity.paper_values", "ood_helpers.homogeneity.clustering")


def range_names(p):
    seen, val, test = p.class_split
    c = p.num_classes
    return {"seen": f"1-{seen}", "val": f"{seen + 1}-{seen + val}", "test": f"{seen + val + 1}-{c}", "all": f"1-{c}"}


def check_00(p, table):
    sizes = table("dataset_sizes")
    hs = homogeneity_settings(p)
    datasets = list(dict.fromkeys([p.many_class, *hs.ood_datasets, *hs.noise_datasets]))
    one_row_each(sizes, ["dataset", "split"], [(d, s) for d in datasets for s in ("train", "val", "test")], "dataset_sizes")
    positive_ints(sizes, "images", "dataset_sizes")
    positive_ints(sizes, "classes", "dataset_sizes")
    many = sizes[sizes["dataset"] == p.many_class].set_index("split")
    for split, n in zip(("train", "val", "test"), p.per_class):
        assert many.loc[split, "classes"] == p.num_classes, f"{p.many_class} {split}: classes"
        assert many.loc[split, "images"] == n * p.num_classes, f"{p.many_class} {split}: {n} images a class"

    splits = table("class_splits")
    assert splits["position"].tolist() == list(range(1, p.num_classes + 1))
    # the paper's rule (appendix A.2): numpy.random.seed(0); rand(C).argsort()
    assert splits["class id"].tolist() == np.random.RandomState(0).rand(p.num_classes).argsort().tolist()
    seen, val, test = p.class_split
    assert splits["range"].tolist() == ["seen"] * seen + ["val"] * val + ["test"] * test

    protocol = table("class_split_protocol").set_index("setting")
    ours = protocol[f"ours ({p.name})"]
    names = range_names(p)
    assert ours["training classes"] == names["seen"]
    assert ours["validation classes"].startswith(names["val"]) and ours["test classes"].startswith(names["test"])


def check_01(p, table):
    (image,) = _constants(["IMAGE"], ("ood_helpers.homogeneity.attribution_similarity", "ood_helpers.homogeneity.attribution"))
    groups = {"tens": lambda c: c // 10, "units": lambda c: c % 10}
    classifiers = table("table_gbp_classifiers")
    subsets = classifiers["classifier"].tolist()
    assert subsets[:2] == ["all", "random80"] and len(subsets) == 4, subsets
    expected_counts = {"all": p.num_classes, "random80": p.class_split[0]}
    for name in subsets[2:]:  # "minus_tens1": every class whose tens digit is 1 left out
        position, digit = name.removeprefix("minus_")[:-1], int(name[-1])
        expected_counts[name] = sum(groups[position](c) != digit for c in range(p.num_classes))
    assert dict(zip(subsets, classifiers["trained classes"])) == expected_counts
    in_range(classifiers, "test top-1, trained classes (%)", 0, 100, "table_gbp_classifiers")

    images = ["random80", *subsets[2:]]
    comparisons = ["subset model", "all classes, other seed", "untrained", image]
    keys = [(c, i) for i in images for c in comparisons]
    summary = table("table_gbp_similarity_summary")
    check_summary(summary, ["comparison", "images"], keys, p.trials, -1, 1, "table_gbp_similarity_summary")
    trials = table("table_gbp_similarity_trials")
    one_row_each(trials, ["comparison", "images", "trial"], [(*k, t) for k in keys for t in range(p.trials)],
                 "table_gbp_similarity_trials")
    in_range(trials, "spearman", -1, 1, "table_gbp_similarity_trials")
    positive_ints(trials, "n_images", "table_gbp_similarity_trials")
    check_means_of_trials(summary, trials, ["comparison", "images"], "spearman", 1, "table_gbp_similarity")
    one_row_each(table("table_gbp_similarity"), "comparison", comparisons, "table_gbp_similarity")

    position = table("table_gbp_similarity_position").set_index("images")
    assert sorted(position.index) == sorted(images)
    means = summary.set_index(["comparison", "images"])["mean"]
    for img in images:
        for column, comparison in (("subset model", "subset model"), ("ceiling", "all classes, other seed"),
                                   ("floor", "untrained")):
            assert position.loc[img, column] == pytest.approx(means[(comparison, img)], abs=6e-4), (img, column)


def check_02(p, table):
    m_all, m_seen = _constants(["M_ALL", "M_SEEN"], CLASSIFICATION_MODULES)
    names = range_names(p)
    order = [names[r] for r in ("seen", "val", "test", "all")]
    metrics = ("top-1", "top-5")
    keys = [(m_seen, m, names["seen"]) for m in metrics] + [(m_all, m, r) for m in metrics for r in order]
    summary = table("table_pretrain_accuracy_summary")
    check_summary(summary, ["network", "metric", "range"], keys, p.models, 0, 100, "table_pretrain_accuracy_summary")
    one_row_each(table("table_pretrain_accuracy"), ["network", "metric"],
                 [(n, m) for n in (m_seen, m_all) for m in metrics], "table_pretrain_accuracy")
    acc = summary.set_index(["network", "metric", "range"])["mean"]
    for net, ranges in ((m_seen, [names["seen"]]), (m_all, order)):
        for r in ranges:
            assert acc[(net, "top-1", r)] <= acc[(net, "top-5", r)] + 1e-9, (net, r)
    # every test image counts once: the whole range is the image-weighted mean of its three parts
    for metric in metrics:
        parts = [acc[(m_all, metric, names[r])] for r in ("seen", "val", "test")]
        assert acc[(m_all, metric, names["all"])] == pytest.approx(np.average(parts, weights=p.class_split), abs=1e-6)


def check_03(p, table):
    summary = table("fig2_overfitting_summary")
    one_row_each(summary, "variant", [1, 2], "fig2_overfitting_summary")
    hs = homogeneity_settings(p)
    evals = set(range(0, hs.homogeneity_steps + 1, hs.eval_every)) | {hs.homogeneity_steps}
    assert (summary["last_step"] == hs.homogeneity_steps).all()
    assert set(summary["best_step"]) <= evals, summary["best_step"].tolist()
    for column in ("unseen_start", "unseen_best", "unseen_end", "seen_start", "seen_at_best", "seen_end"):
        in_range(summary, column, 0, 100, "fig2_overfitting_summary")
    in_range(summary, "noise_margin", 1e-9, 100, "fig2_overfitting_summary")
    # the table is rounded to 2 decimals: differences agree within 0.01
    assert np.allclose(summary["unseen_drop_after_best"], summary["unseen_best"] - summary["unseen_end"], atol=0.011)
    assert np.allclose(summary["seen_gain_after_best"], summary["seen_end"] - summary["seen_at_best"], atol=0.011)
    assert (summary["unseen_best"] >= summary[["unseen_start", "unseen_end"]].max(axis=1) - 0.011).all()
    study = table("homogeneity_vs_nn")
    expected = ["class homogeneity, end of the head stage", "class homogeneity, checkpoint kept",
                "cosine NN, pretrained embeddings", "cosine NN, fine-tuned embeddings"]
    one_row_each(study, "method", expected, "homogeneity_vs_nn")
    scored = study.dropna(subset=["eq. 1 top-1 (%)"])  # smoke has no head stage: its row is empty
    assert len(scored) == 4 - (hs.head_pretrain_steps == 0)
    in_range(scored, "eq. 1 top-1 (%)", 0, 100, "homogeneity_vs_nn")
    kept = study.set_index("method").loc["class homogeneity, checkpoint kept", "training sets seen"]
    assert kept % hs.set_batch_size == 0 and kept <= hs.homogeneity_steps * hs.set_batch_size


def check_04(p, table):
    m_all, m_seen, m_own, nn, m_hom = _constants(["M_ALL", "M_SEEN", "M_OWN", "NN_METHODS", "M_HOM"],
                                                CLASSIFICATION_MODULES)
    hs = homogeneity_settings(p)
    names = range_names(p)
    order = [names[r] for r in ("seen", "val", "test", "all")]
    metrics = ("top-1", "top-5")
    methods1 = [m_all, m_seen, *nn, m_hom]
    keys1 = [(m, k, r) for m in methods1 for k in metrics for r in (order if m != m_seen else order[:1])]
    t1 = table("table1_ood_classification_summary")
    runs = p.trials * p.models  # every replicate's evaluation trials
    check_summary(t1, ["method", "metric", "range"], keys1, runs, 0, 100, "table1 summary")
    assert (t1["models"] == p.models).all(), t1
    one_row_each(table("table1_ood_classification"), "method", methods1, "table1")
    t1_trials = table("table1_ood_classification_trials")
    one_row_each(t1_trials, ["method", "metric", "range", "trial", "model"],
                 [(*k, t, m) for k in keys1 for t in range(p.trials) for m in range(p.models)], "table1 trials")
    in_range(t1_trials, "accuracy", 0, 1, "table1 trials")
    check_means_of_trials(t1, t1_trials, ["method", "metric", "range"], "accuracy", 100, "table1")
    # every class sends min(queries_per_class, its test images) queries: "all" is their class-weighted mean
    per_class = min(hs.queries_per_class, p.per_class[2] or hs.queries_per_class)
    acc = t1_trials.set_index(["method", "metric", "range", "trial", "model"])["accuracy"]
    for m in (m_all, *nn, m_hom):
        for k in metrics:
            for t, model in itertools.product(range(p.trials), range(p.models)):
                parts = [acc[(m, k, names[r], t, model)] for r in ("seen", "val", "test")]
                assert acc[(m, k, names["all"], t, model)] == pytest.approx(
                    np.average(parts, weights=[c * per_class for c in p.class_split]), abs=1e-9), (m, k, t, model)

    first = sum(p.class_split[:2]) + 1
    ranges2 = [f"{first}-{first + n - 1}" for n in hs.eval_ranges]
    methods2 = [m_all, *nn, m_hom]
    t2 = table("table2_ood_classification_ranges_summary")
    check_summary(t2, ["method", "range"], [(m, r) for m in methods2 for r in ranges2], runs, 0, 100, "table2 summary")
    one_row_each(table("table2_ood_classification_ranges"), "method", methods2, "table2")
    for n, label in zip(hs.eval_ranges, ranges2):
        if n == 1:  # one candidate class: every query is right
            assert (t2.loc[t2["range"] == label, "mean"] == 100).all(), t2

    methods3 = [m_own, *nn, m_hom]
    t3 = table("table3_ood_datasets_summary")
    check_summary(t3, ["method", "dataset"], [(m, d) for m in methods3 for d in hs.ood_datasets], runs, 0, 100,
                  "table3 summary")
    one_row_each(table("table3_ood_datasets"), "method", methods3, "table3")
    t3_trials = table("table3_ood_datasets_trials")
    in_range(t3_trials, "accuracy", 0, 1, "table3 trials")
    check_means_of_trials(t3, t3_trials, ["method", "dataset"], "accuracy", 100, "table3")


def check_05(p, table):
    kmeans, features, greedy, agglomerative = _constants(
        ["KMEANS_ROW", "FEATURE_ROWS", "GREEDY_ROW", "AGGLOMERATIVE_ROW"], CLUSTERING_MODULES)
    methods = [kmeans, *features.values(), greedy, agglomerative]
    ranges = homogeneity_settings(p).eval_ranges
    labels = {n: f"{n} class" if n == 1 else f"{n} classes" for n in ranges}
    keys = [(m, labels[n]) for m in methods for n in ranges]
    summary = table("table4_ood_clustering_summary")
    check_summary(summary, ["method", "classes"], keys, p.trials, 0, 100, "table4 summary")
    one_row_each(table("table4_ood_clustering"), "method", methods, "table4")
    trials = table("table4_ood_clustering_trials")
    one_row_each(trials, ["method", "classes", "trial"], [(*k, t) for k in keys for t in range(p.trials)], "table4 trials")
    in_range(trials, "accuracy", 0, 100, "table4 trials")
    in_range(trials, "largest_cluster", 1e-9, 1, "table4 trials")
    positive_ints(trials, "n_clusters", "table4 trials")
    assert (trials["n_classes"].map(labels) == trials["classes"]).all()
    samples = trials["n_classes"] * p.per_class[2]
    assert (trials["n_clusters"] <= samples).all() and (trials["largest_cluster"] * samples >= 1 - 1e-9).all()
    one_class = trials[trials["n_classes"] == 1]  # eq. 2 with one class: the share of the largest cluster
    assert np.allclose(one_class["accuracy"], 100 * one_class["largest_cluster"]), one_class
    check_means_of_trials(summary, trials, ["method", "classes"], "accuracy", 1, "table4")

    counts = table("table4_cluster_counts").set_index("method")
    assert sorted(counts.index) == sorted(["true classes", *methods])
    for n in ranges:
        assert counts.loc["true classes", f"{labels[n]}: clusters"] == f"{n:.1f} ± 0.0"


TABLE_CHECKS = {
    "00_data_and_splits": check_00,
    "01_guided_backprop": check_01,
    "02_pretrain_classifiers": check_02,
    "03_class_homogeneity": check_03,
    "04_ood_classification": check_04,
    "05_ood_clustering": check_05,
}
# notebooks 06 on: one module a notebook, tests/notebooks/notebook_tables_<NN>.py with NOTEBOOK and check(p, table)
for _path in sorted(Path(__file__).parent.glob("notebook_tables_*.py")):
    _module = importlib.import_module(f"tests.notebooks.{_path.stem}")
    TABLE_CHECKS[_module.NOTEBOOK] = _module.check


@pytest.mark.notebook
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=IDS)
def test_smoke_tables_hold_every_method_in_range(notebook, smoke_run, ood_dirs):
    assert notebook.stem in TABLE_CHECKS, (
        f"{notebook.name} has no table checks: add the tables it writes and their expected rows to TABLE_CHECKS")
    _, error, started = smoke_run(notebook)
    if error is not None:
        pytest.fail(f"{notebook.name} failed, so its tables cannot be checked (see test_executes_in_smoke_profile)",
                    pytrace=False)
    TABLE_CHECKS[notebook.stem](get_profile("smoke"), Tables(ood_dirs["figures"] / "smoke", started, notebook.name))
