# One command sets everything up and runs the nightly job on the built-in simulator (`make demo`);
# one sets everything up and runs the whole test suite (`make test`).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export PREFECT_HOME := $(CURDIR)/data/prefect
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_LOGGING_LEVEL ?= WARNING
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup demo test lint bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first and pinned: the CPU build; a looser spec pulls a multi-GB CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(PY) -m pipelines.nightly --config data/configs/demo.json

test: setup
	$(PY) -m pytest -q

lint: setup
	$(VENV)/bin/ruff check recrl pipelines tests bench

bench: setup
	$(PY) bench/run_all.py

clean:
	rm -rf data/lake data/states data/models data/raw data/reports data/warehouse.duckdb data/prefect data/runs
