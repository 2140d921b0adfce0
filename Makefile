# eegtrain-jupyter: `make lab` to use it, `make test` to check it. Both create .venv on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# jupyter refuses to run as root without --allow-root (containers, CI)
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: venv lab train test test-fast lint dist-check bench bench-quick browser notebooks clean

# (Re)install when pyproject.toml changes. torch>=2.14 comes from this machine's wheel cache.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[lab,test,bench,dev]'
	@touch $(STAMP)

venv: $(STAMP)

## JupyterLab on the quick-start notebook (the server extension is enabled by the install)
lab: venv
	$(BIN)/jupyter lab $(ALLOW_ROOT) notebooks/01_quick_start.ipynb

## One headless training with the default config (outputs in ./trained_models)
train: venv
	$(BIN)/eegtrain train

## Headless Chromium for the browser end-to-end test (Debian's package; Playwright cannot download one)
browser:
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

## The whole suite: the wheel smoke test (its venv removed after a pass, to leave the disk to the
## suite), then unit, server, widget, reliability, browser tests and the example notebooks under nbval
test: venv browser lint
	$(BIN)/python tools/dist_check.py --discard-venv
	$(BIN)/pytest

## The fast layer (< 60 s): no real server, no browser, no notebooks, no long training
test-fast: venv
	$(BIN)/pytest tests -m "not slow"

## ruff (lint and format check), mypy (strict on config, engine, service and the data layer) and
## lint-imports (the layers import only downward; pyproject.toml's [tool.importlinter])
lint: venv
	@status=0; \
	$(BIN)/ruff check . || status=1; \
	$(BIN)/ruff format --check . || status=1; \
	$(BIN)/mypy || status=1; \
	$(BIN)/lint-imports || status=1; \
	exit $$status

## Release check: sdist + wheel, twine check, contents, the wheel in its own venv (DIST_VENV,
## reused while its dependencies are unchanged) serving a real Jupyter server and a quick run over REST
dist-check: venv
	$(BIN)/python tools/dist_check.py

## Benchmarks with their baselines in the same run; writes bench/RESULTS.md
bench: venv
	$(BIN)/python -m bench

bench-quick: venv
	$(BIN)/python -m bench --quick

## Re-execute the example notebooks (after editing one) so nbval compares fresh outputs
notebooks: venv
	$(BIN)/python notebooks/execute.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache test-artifacts build dist
