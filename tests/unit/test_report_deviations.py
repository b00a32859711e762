"""Deviations from the papers' recipes (issue 24, item 4): derived from each paper's settings against the paper
profile's, sorted by category, carried by every table and claim of the paper, and a claim that needs the recipe
(paper 000's Fig. 2) reads "not testable here" with the reason where the profile changes it."""

import pytest

from ood_helpers.cac.settings import CAC_SETTINGS
from ood_helpers.core.profile import PROFILES
from ood_helpers.homogeneity.settings import HOMOGENEITY
from ood_helpers.report import deviations as D
from ood_helpers.report.registry import TABLES, table_spec


@pytest.fixture
def folders(tmp_path, monkeypatch):
    for var in ("OOD_FIGURES_DIR", "OOD_RUNS_DIR", "OOD_ARTIFACTS_DIR"):
        monkeypatch.setenv(var, str(tmp_path / var))
    return tmp_path


def test_quick_paper_000_deviations_come_from_the_settings():
    q, p = HOMOGENEITY["quick"], HOMOGENEITY["paper"]
    got = {d.field: d for d in D.deviations("000", "quick")}
    assert got["head_pretrain_steps"] == D.Deviation("head stage", "head_pretrain_steps", q.head_pretrain_steps,
                                                     p.head_pretrain_steps)
    assert (got["head_pretrain_steps"].value, got["head_pretrain_steps"].paper) == (2000, 0)
    assert got["lr_homogeneity_encoder"].category == "learning rates"
    assert (got["lr_homogeneity_encoder"].value, got["lr_homogeneity_encoder"].paper) == (1e-6, 0.0)
    assert (got["lr_homogeneity"].value, got["lr_homogeneity"].paper) == (1e-3, 3e-5)
    assert got["set_size"].category == "set size" and (got["set_size"].value, got["set_size"].paper) == (10, 25)
    assert got["many_class"] == D.Deviation("stand-in data", "many_class", PROFILES["quick"].many_class, "imagenet")
    assert got["transformer_layers"].category == "scale"
    assert "eval_every" not in got and "threads" not in got and "trials" not in got  # change no result
    # every field that differs and counts is listed, none that is equal
    for d in got.values():
        assert d.value != d.paper
    assert "transformer_heads" in got and "queries_per_class" in got


def test_the_paper_profile_and_unlisted_profiles_deviate_in_nothing():
    for paper in ("000", "001", "002", "003", "004", "beyond"):
        assert D.deviations(paper, "paper") == ()
    assert D.deviations("beyond", "quick") == () and D.deviations("000", "no-such-profile") == ()


def test_cac_quick_deviations_and_marks():
    q, p = CAC_SETTINGS["quick"], CAC_SETTINGS["paper"]
    got = {d.field: d for d in D.deviations("004", "quick")}
    assert got["width"] == D.Deviation("scale", "width", q.width, p.width)
    assert got["datasets"].category == "stand-in data"
    assert "trials" not in got and "fig4_dataset" not in got
    marks = D.marks("004", "quick")
    assert marks[0].startswith("stand-in data: datasets (mnist5k,) (paper (mnist, svhn")
    assert any(m.startswith("scale: ") and "width 0.25 (paper 1)" in m for m in marks)


@pytest.mark.parametrize("field, category", [
    ("head_pretrain_sets", "head stage"), ("lr_pretrain", "learning rates"), ("contrastive_lr", "learning rates"),
    ("scan_lr", "learning rates"), ("set_batch_size", "set size"), ("id_sets", "stand-in data"),
    ("augmentation", "augmentation"), ("resnet_width", "scale"), ("head_hidden", "scale"),
])
def test_categories_by_field_name(field, category):
    assert D.category(field) == category


def test_tables_and_claims_carry_their_papers_deviations():
    spec = table_spec("table1_ood_classification")
    assert spec.comparability("quick") == D.marks("000", "quick")
    assert any(m.startswith("head stage: head_pretrain_steps 2000 (paper 0;") for m in spec.comparability("quick"))
    assert all(s.comparability("quick") == () for s in TABLES if s.paper == "beyond")


def test_fig2_is_not_testable_where_the_recipe_changes(folders):
    from ood_helpers.report.build import build
    from ood_helpers.report.scorecard import FIG2_NEEDS

    assert FIG2_NEEDS == ("head_pretrain_steps", "lr_homogeneity", "lr_homogeneity_encoder")
    claim = next(c for c in build("quick").claims if "overfits" in c.claim)
    assert claim.verdict == "not testable here"
    assert "head stage: head_pretrain_steps 2000 (paper 0; 0 = no head stage)" in claim.evidence
    assert ("learning rates: lr_homogeneity 0.001 (paper 3e-05), lr_homogeneity_encoder 1e-06 (paper 0; "
            "0 = lr_homogeneity)") in claim.evidence
    assert claim.deviations == D.marks("000", "quick")
    # the cifar profile keeps the paper's one-stage recipe (its other deviations do not block the claim): read as
    # usual, here missing because nothing ran
    assert D.claim_blocked("000", "cifar", FIG2_NEEDS) == ""
    assert next(c for c in build("cifar").claims if "overfits" in c.claim).verdict == "missing"


def test_report_cells_and_markdown_show_deviations(folders):
    import numpy as np

    from ood_helpers.core.artifacts import save_table
    from ood_helpers.core.tables import trials_table
    from ood_helpers.report import export
    from ood_helpers.report.build import build

    rng = np.random.default_rng(0)
    records = [{"method": m, "metric": "top-1", "range": r, "trial": t, "accuracy": float(rng.uniform())}
               for m in ("Class homogeneity", "Cosine NN (pretrained embeddings)") for r in ("1-8", "9-12")
               for t in range(2)]
    save_table(trials_table(records, "method", ["metric", "range"], "accuracy", scale=100), "table1_ood_classification",
               "quick")
    report = build("quick")
    cells = report.cells()
    mine = cells[cells["table"] == "table1_ood_classification"]
    assert (mine["deviations"] == "; ".join(D.marks("000", "quick"))).all()
    text = export.to_markdown(report)
    assert "### Deviations from the papers' recipes" in text and "- **000**: head stage: head_pretrain_steps" in text
    assert "inconclusive" in text.split("## Scorecard")[1].split("|")[0]
