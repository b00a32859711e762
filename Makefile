# One command reproduces, one command tests. Every target bootstraps .venv on a fresh machine.
PROFILE ?= quick
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
ONLY ?=
FROM ?=
SET ?=
DRY_RUN ?=
# SET="homogeneity.pretrain_steps=2 homogeneity.homogeneity_steps=2": one --set per word (a value may not contain spaces or ')
# DRY_RUN=1: every notebook on the profile's data and networks with the run size cut (python -m ood_helpers.run --dry-run)
RUN_ARGS := $(if $(ONLY),--only $(ONLY)) $(if $(FROM),--from $(FROM)) $(if $(DRY_RUN),--dry-run) $(foreach s,$(SET),--set '$(s)')

.PHONY: venv reproduce test test-unit test-integration lab clean-runs help
help:
	@echo "make reproduce [PROFILE=smoke|quick|cifar|paper] [ONLY=04] [FROM=03] [DRY_RUN=1] [SET=\"trials=2 homogeneity.pretrain_steps=2\"]"
	@echo "make test        every test: unit, integration (torchrun, fresh processes, cifar / paper dry runs on fake data) and every notebook in the smoke profile"
	@echo "make test-unit   the fast in-process tests (tests/unit)"
	@echo "make test-integration  torchrun, fresh-process and runner tests, no notebooks"
	@echo "make lab         JupyterLab on notebooks/ with the project's kernel"

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade --quiet pip
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (ood_helpers)"
	touch $(STAMP)

reproduce: $(STAMP)
	MPLBACKEND=agg $(PY) -m ood_helpers.run --profile $(PROFILE) $(RUN_ARGS)

test: $(STAMP)
	MPLBACKEND=agg $(PY) -m pytest -q tests

test-unit: $(STAMP)
	MPLBACKEND=agg $(PY) -m pytest -q tests -m "not notebook and not integration"

test-integration: $(STAMP)
	MPLBACKEND=agg $(PY) -m pytest -q tests -m "integration and not notebook"

lab: $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,lab]'
	$(VENV)/bin/jupyter lab notebooks/

clean-runs:
	rm -rf runs/ figures/*/ artifacts/
