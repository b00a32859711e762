"""The two dependency lists stay in step, CI runs the README's test command, and the
README names the commands the Makefile provides."""

import re
import tomllib

import yaml

from ood_helpers.core import paths

ROOT = paths.ROOT


def _norm(spec: str) -> str:
    return re.sub(r"\s+", "", spec).lower()


def _pyproject_specs() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return project["dependencies"] + project["optional-dependencies"]["dev"]


def _environment_pip_specs() -> list[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_lists = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_lists) == 1, "environment.yml should hold exactly one `pip:` list"
    return [s for s in pip_lists[0] if _norm(s) != "-e."]


def test_environment_yml_lists_the_pyproject_requirements():
    ours, conda = _pyproject_specs(), _environment_pip_specs()
    assert len(conda) == len(set(map(_norm, conda))), f"duplicates in environment.yml: {conda}"
    only_py = sorted(set(map(_norm, ours)) - set(map(_norm, conda)))
    only_env = sorted(set(map(_norm, conda)) - set(map(_norm, ours)))
    assert not only_py and not only_env, f"only in pyproject.toml: {only_py}; only in environment.yml: {only_env}"


def test_environment_yml_installs_the_package_and_pip():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    assert "pip" in deps
    pip_list = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    assert any(_norm(s) == "-e." for s in pip_list), "environment.yml should install the package (-e .)"


def test_ci_runs_make_test():
    ci = ROOT / ".ci" / "run"
    commands = [ln.strip() for ln in ci.read_text().splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    assert "make test" in commands, f".ci/run should call `make test`; its commands: {commands}"


def test_readme_and_makefile_name_the_commands():
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make reproduce" in readme
    makefile = (ROOT / "Makefile").read_text()
    for target in ("test", "reproduce", "venv"):
        assert re.search(rf"^{target}:", makefile, re.M), f"Makefile lacks a `{target}` target"
    assert "ood_helpers.run" in makefile, "`make reproduce` should call python -m ood_helpers.run"
    assert "pytest" in makefile
