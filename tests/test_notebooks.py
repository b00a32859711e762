"""Every notebook in notebooks/ (picked up automatically, in name order): a papermill
parameters cell with `profile` and `overrides`, committed clean, and an execution in the smoke profile.
Notebooks run in order in one session, so later ones reuse the caches of earlier ones."""

import ast

import nbformat
import papermill
import pytest

from ood_helpers import paths, run
from ood_helpers.profiles import PROFILES

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


@pytest.mark.notebook
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=IDS)
def test_executes_in_smoke_profile(notebook, ood_dirs):
    # The output roots are already in os.environ (conftest), which the papermill kernel inherits.
    output = ood_dirs["runs"] / "smoke" / notebook.name
    try:
        result = run.run_notebook(notebook, output, {"profile": "smoke"}, timeout=SMOKE_CELL_TIMEOUT, progress=False)
    except run.NotebookFailed as err:
        pytest.fail(str(err), pytrace=False)
    assert output.is_file()
    print(f"{notebook.name}: {result.seconds:.1f} s")
