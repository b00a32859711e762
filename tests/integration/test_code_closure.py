"""The statically derived import closure behind the code fingerprints (``artifacts.code_closure``, see
tests/unit/test_code_fingerprint.py) against what a fresh interpreter really loads."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ood_helpers.core import artifacts


@pytest.mark.parametrize("module", ["ood_helpers.homogeneity.training", "ood_helpers.cac.training",
                                    "ood_helpers.pseudo_label.experiment", "ood_helpers.benchmark.runner"])
def test_the_closure_holds_every_module_python_loads_with_it(module):
    """Brute force: a fresh interpreter imports ``module``; every ood_helpers module it loads (parent packages
    included) must be in the statically derived closure."""
    code = (f"import sys, json, {module}; "
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('ood_helpers.'))))")
    loaded = set(json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                           check=True).stdout))
    assert loaded - set(artifacts.code_closure(module)) == set()
