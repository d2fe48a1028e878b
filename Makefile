# Every target creates its own virtual environment on first use and installs everything it
# needs, so `make demo` and `make test` work on a fresh machine with only python3 (>= 3.10).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint bench clean-demo

$(STAMP): pyproject.toml plugins/mlflow/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[all,dev]' -e plugins/mlflow
	touch $(STAMP)

## demo: train two credit models on German credit data, register them in a local MLflow store,
## and gate both against policies/example-credit.yaml (reports in examples/german_credit/reports)
demo: $(STAMP)
	$(PY) examples/german_credit/demo.py

## test: the whole test suite (what CI runs)
## (two workers, one test file each at a time: module-scoped servers stay in one worker)
test: $(STAMP)
	MLFLOW_DISABLE_TELEMETRY=true $(PY) -m pytest -q -n 2 --dist loadfile

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

clean-demo:
	rm -rf examples/german_credit/mlflow.db examples/german_credit/mlartifacts examples/german_credit/reports
