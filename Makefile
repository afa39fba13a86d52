# GPU Advisor: `make run` serves the app on SQLite, `make test` runs lint, types and the tests.
# Both create the virtual environment on first use; nothing needs installing by hand.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint typecheck pytest venv dev-venv clean check-python browser-deps

check-python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required (set PYTHON=...)")'

$(BIN)/python: | check-python
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Runtime install (the app and its CLI); re-run when pyproject.toml changes.
$(VENV)/.runtime-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

# Development install: tests, linters, JAX for the probes.
$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.runtime-installed $(VENV)/.probes-installed

# The probe dependencies (CPU JAX, NumPy): a probe run started from the server's API runs
# `python -m probes` with this interpreter (ADVISOR_PROBE_PYTHON), so `make run` installs them.
$(VENV)/.probes-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[probes]'
	touch $@ $(VENV)/.runtime-installed

venv: $(VENV)/.runtime-installed
dev-venv: $(VENV)/.dev-installed

run: venv $(VENV)/.probes-installed
	$(BIN)/gpu-advisor db upgrade
	$(BIN)/gpu-advisor serve --host $(HOST) --port $(PORT)

lint: dev-venv
	$(BIN)/ruff format --check app probes gpu_identity tests migrations scripts
	$(BIN)/ruff check app probes gpu_identity tests migrations scripts

typecheck: dev-venv
	$(BIN)/mypy app probes gpu_identity

# Browser tests drive Debian's chromium (Playwright's own browser download does not work offline).
browser-deps:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	else echo "note: chromium not installed (apt-get install chromium); browser tests will skip"; fi
	@# axe-core (accessibility checks in the browser tests): a pinned test asset, never served.
	@if [ ! -f tests/web/axe/node_modules/axe-core/axe.min.js ] && command -v npm >/dev/null 2>&1; then \
		npm ci --prefix tests/web/axe --no-audit --no-fund --silent; \
	elif ! command -v npm >/dev/null 2>&1; then echo "note: npm missing; the axe-core checks will skip"; fi

pytest: dev-venv browser-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test: lint typecheck pytest

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
