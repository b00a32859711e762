"""``ood_helpers.core.worker``, the torchrun ranks' entry point: it refuses targets outside the package and
arguments that do not fit, with clear errors, before it builds a process group or reads data."""

from __future__ import annotations

import pytest

from ood_helpers.core import worker


def test_the_worker_refuses_other_targets_and_bad_kwargs_with_clear_errors(capsys):
    for target, kwargs, message in [
        ("os:system", {}, "function of the ood_helpers package"),
        ("ood_helpers.cac.training", {}, "ood_helpers.<module>:<function>"),
        ("ood_helpers.no_such_module:f", {}, "cannot import 'ood_helpers.no_such_module'"),
        ("ood_helpers.cac.training:no_such_function", {}, "has no function 'no_such_function'"),
        ("ood_helpers.cac.training:train_one", {"payload_file": "x", "epochs": 3}, "do not fit"),
        ("ood_helpers.cac.training:train_one", {"payload_file": object()}, "JSON-able"),
    ]:
        with pytest.raises(ValueError, match=message):
            worker.call_args(target, kwargs)
    ok = worker.call_args("ood_helpers.cac.training:train_one", {"payload_file": "t.pt", "loss": "cac", "recipe": {},
                                                                   "seed": 0, "alpha": 10.0, "lbda": 0.1})
    assert ok[:2] == ["--target", "ood_helpers.cac.training:train_one"]
    # the rank's entry point refuses before it builds a process group or reads data (exit status 2)
    for argv, message in [
        (["--target", "subprocess:run", "--kwargs", "{}"], "function of the ood_helpers package"),
        (["--target", "ood_helpers.cac.training:train_one", "--kwargs", "{payload_file: 1}"], "must be a JSON object"),
        (["--target", "ood_helpers.cac.training:train_one", "--kwargs", "[1, 2]"], "got a list"),
    ]:
        with pytest.raises(SystemExit) as exit_:
            worker.main(["--profile", "smoke", *argv])
        assert exit_.value.code == 2
        assert message in capsys.readouterr().err
