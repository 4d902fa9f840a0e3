# Every target installs what it needs, once: uv (from PyPI, into .tools/, if it is not on PATH),
# the Python environment (uv sync, from uv.lock) and, for the tests only, the Node oracles (npm ci,
# from package-lock.json).  Each install is redone only when its lock file changes; the stamps
# below record what was installed from which lock.

UV := $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/.tools/bin/uv)
ORACLES := tests/oracles
PYTHON_ENV := .venv/.installed
NODE_ENV := $(ORACLES)/node_modules/.installed
# One install of uv even when two targets start at once (make demo beside make test).
LOCKED := $(if $(shell command -v flock 2>/dev/null),flock $(CURDIR)/.tools/.lock,)
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install test lint typecheck bench docs demo clean

install: $(PYTHON_ENV) $(NODE_ENV)

$(CURDIR)/.tools/bin/uv:
	@mkdir -p $(CURDIR)/.tools
	$(LOCKED) sh -c 'test -x $@ || python3 -m pip install --quiet \
		--disable-pip-version-check --target $(CURDIR)/.tools uv'

$(PYTHON_ENV): uv.lock pyproject.toml $(wildcard adapters/*/pyproject.toml) | $(UV)
	$(UV) sync --locked --all-packages
	@touch $@

$(NODE_ENV): $(ORACLES)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix $(ORACLES) --no-audit --no-fund --loglevel=error && touch $@; \
	else \
		echo "npm not found: the official-client oracle tests will be skipped"; \
	fi

lint: $(PYTHON_ENV)
	$(UV) run ruff check .
	$(UV) run ruff format --check .

typecheck: $(PYTHON_ENV)
	$(UV) run mypy

# --durations: the slowest tests, printed at the end, to keep the suite within its 20 minutes.
test: lint typecheck $(NODE_ENV)
	$(UV) run pytest --durations=15

demo: $(PYTHON_ENV)
	$(UV) run streambridge demo --host $(HOST) --port $(PORT)

bench: $(PYTHON_ENV)
	$(UV) run python benchmarks/run_all.py

docs: $(PYTHON_ENV)
	$(UV) run sphinx-build -W --keep-going -b html docs docs/_build/html

clean:
	rm -rf .tools .venv docs/_build $(ORACLES)/node_modules .pytest_cache .mypy_cache .ruff_cache
