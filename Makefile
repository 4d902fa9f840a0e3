# Every target installs what it needs: uv (from PyPI, into .tools/, if it is not on PATH), the
# Python environment (uv sync, from uv.lock) and the Node oracles (npm ci, from package-lock.json).

UV := $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/.tools/bin/uv)
ORACLES := tests/oracles

.PHONY: install test lint typecheck bench docs demo clean

install: $(UV)
	$(UV) sync --locked --all-packages
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix $(ORACLES) --no-audit --no-fund --loglevel=error; \
	else \
		echo "npm not found: the official-client oracle tests will be skipped"; \
	fi

$(CURDIR)/.tools/bin/uv:
	python3 -m pip install --quiet --disable-pip-version-check --target $(CURDIR)/.tools uv

lint: install
	$(UV) run ruff check .
	$(UV) run ruff format --check .

typecheck: install
	$(UV) run mypy

test: lint typecheck
	$(UV) run pytest

demo: install
	$(UV) run streambridge demo

bench: install
	$(UV) run python benchmarks/run_all.py

docs: install
	$(UV) run sphinx-build -W --keep-going -b html docs docs/_build/html

clean:
	rm -rf .tools .venv docs/_build $(ORACLES)/node_modules .pytest_cache .mypy_cache .ruff_cache
