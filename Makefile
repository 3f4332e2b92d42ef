# One command sets everything up and runs the nightly job on the built-in simulator (`make demo`);
# one sets everything up and runs the whole test suite (`make test`).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export PREFECT_HOME := $(CURDIR)/data/prefect
export PREFECT_SERVER_ANALYTICS_ENABLED := false
# The local ephemeral API starts in a subprocess; on a busy 2-core machine 20 s (the default) is too short.
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 180
export PREFECT_LOGGING_LEVEL ?= WARNING
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup demo demo-loop test lint bench clean

# torch is pinned to the CPU build (a looser spec pulls a multi-GB CUDA build): these machines carry
# its wheel in /opt/wheels; elsewhere the plain pin is resolved from the index.
TORCH_WHEELS := /opt/wheels
TORCH_LOCAL := $(wildcard $(TORCH_WHEELS)/torch-2.13.0+cpu-*.whl)
TORCH_SPEC := $(if $(TORCH_LOCAL),torch==2.13.0+cpu,torch==2.13.0)
TORCH_FIND := $(if $(TORCH_LOCAL),--find-links $(TORCH_WHEELS),)

# uv installs in well under a minute where pip takes several.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q uv
	$(VENV)/bin/uv pip install -q --python $(PY) $(TORCH_FIND) '$(TORCH_SPEC)' -e '.[dev,text]'
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(PY) -m pipelines.nightly --config data/configs/demo.json

# The closed loop on the simulator, three nights (docs/deployment.md); a fresh data/loop each time.
demo-loop: setup
	rm -rf data/loop
	$(VENV)/bin/recrl demo --nights 3 --config data/configs/loop.json

# One worker per core (at most 4): the slow end-to-end tests start first (tests/conftest.py), so on
# 2 cores the suite takes about as long as its longest test plus half the rest.
test: setup
	$(PY) -m pytest -q -n auto --maxprocesses 4

lint: setup
	$(VENV)/bin/ruff check recrl pipelines tests bench

bench: setup
	$(PY) bench/run_all.py

clean:
	rm -rf data/lake data/states data/models data/raw data/reports data/warehouse.duckdb data/prefect data/runs data/loop
