"""Notebooks hold no logic: every code cell of notebooks/*.ipynb is parsed with ``ast`` and may not
contain a loop (``for``/``while``), a comprehension or generator expression, a ``def``/``class``/
``lambda``, or a literal list/tuple/set/dict holding three or more float numbers (paper values typed
in; they belong in the paper's ``paper_values`` module). The cell tagged "parameters" may hold
literals. What a notebook computes lives in ``ood_helpers``; a notebook calls, displays and narrates."""

import ast
import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))

LOGIC = {
    ast.For: "for loop",
    ast.AsyncFor: "for loop",
    ast.While: "while loop",
    ast.FunctionDef: "def",
    ast.AsyncFunctionDef: "def",
    ast.ClassDef: "class",
    ast.Lambda: "lambda",
    ast.ListComp: "list comprehension",
    ast.SetComp: "set comprehension",
    ast.DictComp: "dict comprehension",
    ast.GeneratorExp: "generator expression",
}
CONTAINERS = (ast.List, ast.Tuple, ast.Set, ast.Dict)
MAX_FLOATS = 2  # a literal container with more floats than this is typed-in data


def _floats(node: ast.AST) -> int:
    """Float literals anywhere under ``node`` (a negative number is a minus sign over a float constant)."""
    return sum(isinstance(n, ast.Constant) and isinstance(n.value, float) for n in ast.walk(node))


def _source(cell: dict) -> str:
    text = "".join(cell["source"])
    # IPython magics and shell escapes are not Python: blank them out
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in text.splitlines())


def cell_problems(source: str, parameters: bool = False) -> list[str]:
    """What ``source`` (one code cell) holds that a notebook should not, one line each."""
    tree = ast.parse(source)
    found = []
    inside_container: set[int] = set()  # report the outermost literal container only
    for node in ast.walk(tree):
        kind = LOGIC.get(type(node))
        if kind:
            found.append(f"line {node.lineno}: {kind}")
        elif not parameters and isinstance(node, CONTAINERS) and id(node) not in inside_container:
            inside_container.update(id(n) for n in ast.walk(node) if n is not node)
            if _floats(node) > MAX_FLOATS:
                found.append(f"line {node.lineno}: literal {type(node).__name__.lower()} of {_floats(node)} floats")
    return found


def notebook_problems(notebook: Path) -> list[str]:
    """``"<notebook> cell <index>: <problem>"`` for every offending code cell of ``notebook``."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    problems = []
    for index, cell in enumerate(cells):
        if cell["cell_type"] != "code":
            continue
        parameters = "parameters" in cell.get("metadata", {}).get("tags", [])
        problems += [f"{notebook.name} cell {index}: {p}" for p in cell_problems(_source(cell), parameters)]
    return problems


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_no_logic_in_cells(notebook):
    problems = notebook_problems(notebook)
    assert not problems, "move this logic into ood_helpers and call it:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    "source, expected",
    [
        ("x = f(1)\nshow(x)", []),
        ("for i in range(3):\n    f(i)", ["line 1: for loop"]),
        ("while x:\n    x = g(x)", ["line 1: while loop"]),
        ("def f():\n    pass", ["line 1: def"]),
        ("class A:\n    pass", ["line 1: class"]),
        ("g = lambda v: v", ["line 1: lambda"]),
        ("[v for v in w]", ["line 1: list comprehension"]),
        ("{k: v for k, v in w}", ["line 1: dict comprehension"]),
        ("sum(v for v in w)", ["line 1: generator expression"]),
        ("t = {'a': (0.5, 0.25), 'b': (-0.75, 1)}", ["line 1: literal dict of 3 floats"]),
        ("t = [0.5, 1.5]\nfigsize = (6.4, 4.8)", []),
        ("t = [1, 2, 3, 4]", []),
    ],
)
def test_checker(source, expected):
    assert cell_problems(source) == expected


def test_parameters_cell_may_hold_literals():
    assert cell_problems("grid: list = [0.1, 0.2, 0.3]  # thresholds", parameters=True) == []


def test_first_cell_says_what_it_reproduces():
    for notebook in NOTEBOOKS:
        first = json.loads(notebook.read_text(encoding="utf-8"))["cells"][0]
        assert first["cell_type"] == "markdown", f"{notebook.name}: the first cell should be markdown"
        assert "shared/" not in "".join(first["source"]), f"{notebook.name}: points outside the repository"
