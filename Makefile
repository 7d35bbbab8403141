# Switchyard: `make run` serves the gateway on the local stack; `make test` runs the test suite.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup system-deps run test lint fmt fuzz eval-router bench bench-route bench-stream \
        bench-pipeline bench-analytics clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

system-deps:
	@bash infra/system-deps.sh

setup: $(STAMP) system-deps

run: setup
	$(PY) -m infra.run

test: setup
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check .

fmt: setup
	$(VENV)/bin/ruff format .

fuzz: setup
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-300} $(PY) -m pytest -q -p no:cacheprovider tests/fuzz

eval-router: setup
	$(PY) -m bench.eval_router

bench: setup
	$(PY) -m bench.gateway_bench $(BENCH_ARGS)

bench-route: setup
	$(PY) -m bench.bench_route

bench-stream: setup
	$(PY) -m bench.bench_stream

bench-pipeline: setup
	$(PY) -m bench.bench_pipeline

bench-analytics: setup
	$(PY) -m bench.bench_analytics $(BENCH_ARGS)

clean:
	rm -rf .data $(VENV) infra/kafka/libs
