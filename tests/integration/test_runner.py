"""The notebook runner on a temp folder of tiny notebooks: order, --only/--from, -p, --set, --list,
failure reporting and exit codes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from ood_helpers.core import paths
from ood_helpers import run
from ood_helpers.core.overrides import notebook_profile
from ood_helpers.core.profile import PROFILES
from ood_helpers.homogeneity.settings import homogeneity_settings

PARAMS = (
    'profile: str = "quick"  # smoke | quick | cifar | paper\n'
    'overrides: str = ""  # profile fields to replace, JSON text\n'
    'marker: str = "none"  # text the notebook writes'
)


def _notebook(path: Path, body: str, params_source: str = PARAMS) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell(params_source)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {path.stem}"), params, nbformat.v4.new_code_cell(body)]
    nbformat.write(nb, path)


def _writer(tag: str) -> str:
    # Written relative to the cwd, so finding the file also checks cwd = the notebooks folder.
    return f'from pathlib import Path\nPath("ran_{tag}.txt").write_text(f"{{profile}} {{marker}}")'


@pytest.fixture
def nb_dir(tmp_path) -> Path:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    _notebook(folder / "01_write.ipynb", _writer("01"))
    _notebook(folder / "02_fail.ipynb", 'raise ValueError("boom from notebook 02")')
    _notebook(folder / "03_after.ipynb", _writer("03"))
    return folder


def _summary() -> dict:
    return json.loads((paths.runs_dir("smoke") / "summary.json").read_text())


def test_select_notebooks_order_only_from(tmp_path):
    nbs = [tmp_path / n for n in ("00_a.ipynb", "01_b.ipynb", "02_c.ipynb", "10_d.ipynb")]
    assert run.select_notebooks(nbs) == nbs
    assert run.select_notebooks(nbs, only=["01"]) == [nbs[1]]
    assert run.select_notebooks(nbs, only=["10,00"]) == [nbs[0], nbs[3]]  # file order, not token order
    assert run.select_notebooks(nbs, start="02") == nbs[2:]
    assert run.select_notebooks(nbs, only=["00", "10"], start="01") == [nbs[3]]
    with pytest.raises(ValueError, match=r"--only 07 matches no notebook; notebooks: 00_a.ipynb, 01_b.ipynb"):
        run.select_notebooks(nbs, only=["07"])
    with pytest.raises(ValueError, match=r"--from 5 matches no notebook.*10_d.ipynb"):
        run.select_notebooks(nbs, start="5")


def test_parse_value_follows_papermill_types():
    assert [run.parse_value(v) for v in ("3", "0.5", "True", "None", "abc")] == [3, 0.5, True, None, "abc"]


def test_only_runs_one_notebook_with_parameters(nb_dir):
    source = (nb_dir / "01_write.ipynb").read_bytes()
    rc = run.main(["--profile", "smoke", "--notebooks", str(nb_dir), "--only", "01", "-p", "marker", "hello", "--no-progress"])
    assert rc == 0
    assert (nb_dir / "ran_01.txt").read_text() == "smoke hello"
    assert not (nb_dir / "ran_03.txt").exists()
    executed = paths.runs_dir("smoke") / "01_write.ipynb"
    assert executed.is_file() and (nb_dir / "01_write.ipynb").read_bytes() == source  # source untouched
    summary = _summary()
    assert [n["notebook"] for n in summary["notebooks"]] == ["01_write.ipynb"]
    assert summary["notebooks"][0]["status"] == "ok" and summary["notebooks"][0]["seconds"] > 0
    assert f"{os.cpu_count()} CPUs" in summary["machine"] and summary["finished"].endswith("+00:00")
    assert summary["parameters"] == {"marker": "hello"} and summary["overrides"] == {}


def test_from_skips_earlier_notebooks(nb_dir):
    assert run.main(["--profile", "smoke", "--notebooks", str(nb_dir), "--from", "03", "--no-progress"]) == 0
    assert (nb_dir / "ran_03.txt").read_text() == "smoke none"
    assert not (nb_dir / "ran_01.txt").exists()


def test_failure_names_notebook_error_and_copy_and_exits_nonzero(nb_dir):
    cmd = [sys.executable, "-m", "ood_helpers.run", "--profile", "smoke", "--notebooks", str(nb_dir), "--no-progress"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy(), timeout=300)
    executed = paths.runs_dir("smoke") / "02_fail.ipynb"
    assert done.returncode == 1, done.stderr
    assert "02_fail.ipynb failed" in done.stderr
    assert "ValueError: boom from notebook 02" in done.stderr
    assert f"executed copy: {executed}" in done.stderr
    assert executed.is_file()
    # stopped at the failure: 01 ran before it, 03 never ran
    assert (nb_dir / "ran_01.txt").exists() and not (nb_dir / "ran_03.txt").exists()
    assert done.stdout.index("01_write.ipynb") < done.stdout.index("02_fail.ipynb")
    statuses = [(n["notebook"], n["status"]) for n in _summary()["notebooks"]]
    assert statuses == [("01_write.ipynb", "ok"), ("02_fail.ipynb", "failed")]


def test_list_prints_notebooks_and_parameters(nb_dir, capsys):
    assert run.main(["--notebooks", str(nb_dir), "--list"]) == 0
    out = capsys.readouterr().out
    assert out.index("01_write.ipynb") < out.index("02_fail.ipynb") < out.index("03_after.ipynb")
    assert 'marker: str = "none"  # text the notebook writes' in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--profile", "huge"], "unknown profile 'huge'; known profiles: smoke, quick, cifar, paper"),
        (["--only", "42"], "--only 42 matches no notebook; notebooks: 01_write.ipynb, 02_fail.ipynb, 03_after.ipynb"),
        (["--from", "9"], "--from 9 matches no notebook"),
        (["-p", "lr", "0.1"], "parameter(s) ['lr'] are declared by none of the selected notebooks"),
        (["--set", "trials"], "--set 'trials': expected FIELD=VALUE"),
        (["--set", "trials=many"], "--set trials=many: profile field 'trials' (int) expects an integer; got 'many'"),
        (["--set", "name=paper"], "'name' cannot be set"),
        (["-p", "overrides", "{}"], "pass profile fields with --set FIELD=VALUE, not -p overrides"),
    ],
)
def test_bad_arguments_exit_with_a_clear_message(nb_dir, capsys, args, message):
    base = ["--notebooks", str(nb_dir)] + ([] if "--profile" in args else ["--profile", "smoke"])
    with pytest.raises(SystemExit) as exit_info:
        run.main(base + args)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_cell_timeout_stops_the_notebook(tmp_path):
    folder = tmp_path / "nbs"
    folder.mkdir()
    _notebook(folder / "01_slow.ipynb", "import time\ntime.sleep(30)")
    with pytest.raises(run.NotebookFailed, match=r"(?s)01_slow.ipynb failed:.*(?i:timeout|timed out)"):
        run.run_all("smoke", run.find_notebooks(folder), timeout=2, progress=False, log=lambda *a, **k: None)


def test_executed_copy_never_overwrites_the_source(nb_dir):
    nb = nb_dir / "01_write.ipynb"
    with pytest.raises(ValueError, match="refusing to write the executed copy over its source"):
        run.run_notebook(nb, nb, {"profile": "smoke"}, timeout=10, progress=False)


def test_set_unknown_field_exits_2_before_anything_runs(nb_dir, tmp_path):
    runs = tmp_path / "fresh_runs"
    env = {**os.environ, "OOD_RUNS_DIR": str(runs)}
    cmd = [sys.executable, "-m", "ood_helpers.run", "--profile", "smoke", "--notebooks", str(nb_dir),
           "--set", "trials=2", "--set", "no_such_field=1", "--no-progress"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "unknown profile field 'no_such_field'; known fields: " in done.stderr
    assert "class_split" in done.stderr  # the known fields are listed
    assert "homogeneity.set_size=5" in done.stderr  # and how to name a paper's setting
    assert not runs.exists()  # no runs folder, no executed copy
    assert not list(nb_dir.glob("ran_*.txt"))  # no notebook ran


def test_run_all_passes_encoded_overrides_to_every_notebook(nb_dir, monkeypatch):
    calls = []

    def fake_run_notebook(notebook, output, parameters, **kwargs):
        calls.append((notebook.name, parameters))
        return run.NotebookResult(notebook.name, "ok", 0.01, str(output))

    monkeypatch.setattr(run, "run_notebook", fake_run_notebook)
    nbs = run.select_notebooks(run.find_notebooks(nb_dir), only=["01", "03"])
    overrides = {"extra": {"homogeneity": {"pretrain_steps": 2}}, "class_split": (4, 2, 2)}
    run.run_all("smoke", nbs, {"marker": "m"}, progress=False, log=lambda *a, **k: None, overrides=overrides)
    encoded = '{"class_split": [4, 2, 2], "extra": {"homogeneity": {"pretrain_steps": 2}}}'
    assert calls == [(name, {"profile": "smoke", "overrides": encoded, "marker": "m"})
                     for name in ("01_write.ipynb", "03_after.ipynb")]
    assert _summary()["overrides"] == {"class_split": [4, 2, 2], "extra": {"homogeneity": {"pretrain_steps": 2}}}
    calls.clear()
    run.run_all("smoke", nbs[:1], progress=False, log=lambda *a, **k: None)
    assert calls == [("01_write.ipynb", {"profile": "smoke", "overrides": ""})]  # none: "" (the profile's values)


def test_set_from_the_command_line_reaches_the_notebook(nb_dir):
    _notebook(nb_dir / "04_profile.ipynb", "from pathlib import Path\nfrom ood_helpers.core.overrides import notebook_profile\n"
              'Path("ran_04.txt").write_text(repr(notebook_profile(profile, overrides).class_split))')
    rc = run.main(["--profile", "smoke", "--notebooks", str(nb_dir), "--only", "04", "--set", "class_split=4,2,2",
                   "--no-progress"])
    assert rc == 0
    assert (nb_dir / "ran_04.txt").read_text() == "(4, 2, 2)"
    assert _summary()["overrides"] == {"class_split": [4, 2, 2]}


def test_notebook_without_overrides_parameter_is_refused(tmp_path):
    folder = tmp_path / "nbs"
    folder.mkdir()
    _notebook(folder / "01_old.ipynb", "pass", params_source='profile: str = "quick"  # smoke | quick')
    with pytest.raises(ValueError, match=r"notebook 01_old.ipynb has no `overrides` parameter"):
        run.run_all("smoke", run.find_notebooks(folder), progress=False, log=lambda *a, **k: None)


def test_parameter_and_set_disagreeing_are_refused(nb_dir, monkeypatch):
    monkeypatch.setattr(run, "run_notebook", lambda *a, **k: pytest.fail("nothing should run"))
    with pytest.raises(ValueError, match=r"-p trials 4 and --set trials=3 disagree"):
        run.run_all("smoke", run.find_notebooks(nb_dir), {"trials": 4}, overrides={"trials": 3}, progress=False)


def test_list_shows_the_overrides(nb_dir, capsys):
    assert run.main(["--profile", "paper", "--notebooks", str(nb_dir), "--list", "--set", "trials=2",
                     "--set", "homogeneity.pretrain_steps=2"]) == 0
    out = capsys.readouterr().out
    head = "--set, every notebook's `overrides` parameter: "
    (encoded,) = [line.removeprefix(head) for line in out.splitlines() if line.startswith(head)]
    assert json.loads(encoded)["trials"] == 2
    # the notebooks receive paper 000's setting in extra["homogeneity"], typed when they read it
    assert homogeneity_settings(notebook_profile("paper", encoded)).pretrain_steps == 2
    assert f"trials = 2  (profile paper: {PROFILES['paper'].trials!r})" in out
    assert 'overrides: str = ""' in out


def test_a_profile_that_cannot_run_here_is_refused_before_any_notebook(tmp_path, monkeypatch):
    import os

    calls = []
    monkeypatch.setattr(run, "run_notebook", lambda *a, **k: calls.append(a))
    notebooks = run.find_notebooks()[:1]
    with pytest.raises(ValueError, match=r"homogeneity settings of profile 'smoke': micro_batch_sets=5 does not "
                                         r"divide the 16 sets"):
        run.run_all("smoke", notebooks, overrides={"extra": {"homogeneity": {"set_batch_size": 16}},
                                                   "micro_batch_sets": 5})
    many = (os.cpu_count() or 1) * 2
    with pytest.raises(ValueError, match=rf"world_size={many} training processes on cpu"):
        run.run_all("smoke", notebooks, overrides={"world_size": many, "batch_size": 32 * many,
                                                   "extra": {"homogeneity": {"set_batch_size": 4 * many}}})
    assert calls == []


@pytest.mark.parametrize(
    "args, message",
    [
        # before validation this ran notebook 04 until "need at least one array to concatenate"
        (["--only", "04", "-p", "trials", "-3"], "profile 'smoke': trials must be an int >= 1, got -3"),
        (["--only", "04", "--set", "trials=-3"], "profile 'smoke': trials must be an int >= 1, got -3"),
        (["--only", "03", "-p", "set_size", "9"],
         "homogeneity settings of profile 'smoke': set_size=9 does not fit per_class=(12, 8, 8)"),
        (["--only", "05", "--set", "homogeneity.eval_ranges=1,3"],
         "homogeneity settings of profile 'smoke': eval_ranges=(1, 3) reaches 3 test classes but class_split=(8, 2, 2)"),
        (["--only", "04", "--set", "class_split=8,2,1"],
         "homogeneity settings of profile 'smoke': eval_ranges=(1, 2) reaches 2 test classes but class_split=(8, 2, 1)"),
    ],
)
def test_an_inconsistent_profile_exits_2_before_any_notebook(monkeypatch, capsys, args, message):
    monkeypatch.setattr(run, "run_notebook", lambda *a, **k: pytest.fail("no notebook should run"))
    with pytest.raises(SystemExit) as exit_info:
        run.main(["--profile", "smoke", "--no-progress", *args])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_a_parameter_naming_a_profile_field_is_checked_like_set(monkeypatch):
    calls = []
    monkeypatch.setattr(run, "run_notebook", lambda nb, out, params, **k: calls.append(params) or
                        run.NotebookResult(nb.name, "ok", 0.01, str(out)))
    notebooks = run.select_notebooks(run.find_notebooks(), only=["04"])
    run.run_all("smoke", notebooks, {"trials": 0}, progress=False, log=lambda *a, **k: None)  # 0: the profile's value
    run.run_all("smoke", notebooks, {"trials": 3}, progress=False, log=lambda *a, **k: None)
    assert [c["trials"] for c in calls] == [0, 3]
    with pytest.raises(ValueError, match="trials must be an int >= 1, got -1"):
        run.run_all("smoke", notebooks, {"trials": -1}, progress=False, log=lambda *a, **k: None)
    assert len(calls) == 2
