# Switchyard: `make run` serves the gateway on the local stack; `make test` runs the test suite.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup run test lint fmt bench bench-route bench-stream bench-pipeline bench-analytics eval-router clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(PY) -m infra.run

test: setup
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check .

fmt: setup
	$(VENV)/bin/ruff format .

eval-router: setup
	$(PY) -m bench.eval_router

bench-route: setup
	$(PY) -m bench.bench_route

clean:
	rm -rf .data $(VENV) infra/kafka/libs
