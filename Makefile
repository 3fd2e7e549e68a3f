# One entry point for everything: `make test` and `make synth` (README) set the machine up themselves.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
CHECKOV_VENV := .venv-checkov
BIN := $(VENV)/bin
PY := $(BIN)/python

# Offline by design: no test or build step may reach the Hugging Face hub.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1
export CDK_DISABLE_CLI_TELEMETRY := true
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/$(BIN):$(PATH)

PY_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

.PHONY: setup test lint format synth clean lock demo serve openapi fuzz load bench-inference bench-train

setup: $(PY_STAMP) $(NODE_STAMP) $(CHECKOV_STAMP)

$(PY_STAMP): requirements.txt constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check pip==25.3
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt -c constraints.txt
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(CHECKOV_STAMP): requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	touch $@

lint: $(PY_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(PY_STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: setup lint
	$(BIN)/pytest

synth: setup
	cdk synth --quiet

# Local mode (README "Local mode"): train, pack, serve behind the front door, classify, stop. Options through
# DEMO_ARGS, e.g. make demo DEMO_ARGS="--epochs 1 --data my-data/ --retrain" (python -m local.demo --help).
DEMO_ARGS ?=
demo: $(PY_STAMP)
	$(PY) -m local.demo $(DEMO_ARGS)

# The same, then keeps serving on http://127.0.0.1:8080/classify until Ctrl-C.
serve: $(PY_STAMP)
	$(PY) -m local.demo --keep-serving $(DEMO_ARGS)

# Regenerate docs/openapi.json from inference/*_schema.json (a test fails while the committed one is stale).
openapi: $(PY_STAMP)
	$(PY) -m tools.openapi --output docs/openapi.json

# A longer schemathesis run against the front door than the one in make test (examples per generation mode).
FUZZ_EXAMPLES ?= 2000
fuzz: $(PY_STAMP)
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest tests/test_local_fuzz.py -q

# Load test of the local stack with wrk, not in CI (LOAD_ARGS="--connections 16 --duration 60").
LOAD_ARGS ?=
load: $(PY_STAMP)
	$(PY) -m local.load $(LOAD_ARGS)

# Inference handler vs its bound and the toolkit's default handler (docs/BENCHMARKS.md); BENCH_ARGS for options.
BENCH_ARGS ?=
bench-inference: $(PY_STAMP)
	$(PY) -m bench.inference_handler $(BENCH_ARGS)

# MiniLM on GoEmotions: the training entry point vs a run_glue-style baseline (docs/BENCHMARKS.md). Hours on two
# CPU cores; BENCH_ARGS="--smoke" checks the benchmark in minutes; BENCH_ARGS="--output-dir DIR --resume" continues a
# stopped run. GOEMOTIONS_DIR or --data-dir locate the data.
bench-train: $(PY_STAMP)
	$(PY) -m bench.train_goemotions $(BENCH_ARGS)

# Re-pin every transitive dependency after a change to requirements.txt.
lock: $(PY_STAMP)
	$(BIN)/pip freeze --exclude-editable | sed -E 's/^(torch==[0-9.]+)\+cpu$$/\1/' > constraints.txt

clean:
	rm -rf cdk.out .pytest_cache .ruff_cache
