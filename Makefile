# Every target creates the virtualenv on first use; nothing needs installing by hand.
# Packages come from uv.lock, exact versions with hashes: `make run` installs the runtime set
# and the `dev` extra (the embedded nats-server), the other targets add the dev group. `make
# lock` re-resolves uv.lock from the ranges in pyproject.toml.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
# The uv that reads and writes uv.lock; to move on, change it here and run `make lock`.
UV_VERSION := 0.13.9
UV_STAMP := $(VENV)/.uv-$(UV_VERSION)

export UV_PROJECT_ENVIRONMENT := $(VENV)
# uv uses the interpreter the virtualenv was made with and never fetches one of its own.
export UV_PYTHON_DOWNLOADS := never

.PHONY: run test lint bench lock runtime-deps dev-deps clean

$(UV_STAMP):
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check --progress-bar off "uv==$(UV_VERSION)"
	touch $@

# Inexact: a virtualenv that already has the dev group keeps it.
runtime-deps: $(UV_STAMP)
	$(UV) sync --locked --no-dev --extra dev --inexact

dev-deps: $(UV_STAMP)
	$(UV) sync --locked

run: runtime-deps
	$(BIN)/petrosa dev

# CI runs this target: the lint promises are checked before the suite.
test: lint
	scripts/ensure-mariadb
	$(BIN)/python -m pytest

lint: dev-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy libs services
	$(BIN)/lint-imports

bench: dev-deps
	$(BIN)/python -m benchmarks

# After editing pyproject.toml; `make lock LOCK_ARGS=--upgrade` moves every pin to the newest
# release its range allows.
lock: $(UV_STAMP)
	$(UV) lock $(LOCK_ARGS)

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
