# PEAL backend. `make run` serves the API; `make test` runs the suite. Both install what they need.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
UV     := $(BIN)/uv
UV_VERSION := 0.13.9
PORT   ?= 3000

.PHONY: image smoke run test test-sqlite test-postgres fuzz fuzz-ci lint format typecheck migrate worker seed bench clean install install-dev lock

$(UV):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(VENV)/.installed: $(UV) requirements.lock pyproject.toml
	$(UV) pip sync --quiet --python $(BIN)/python requirements.lock
	$(UV) pip install --quiet --python $(BIN)/python --no-deps -e .
	@rm -f $(VENV)/.installed-dev
	@touch $@

$(VENV)/.installed-dev: $(UV) requirements-dev.lock pyproject.toml
	$(UV) pip sync --quiet --python $(BIN)/python requirements-dev.lock
	$(UV) pip install --quiet --python $(BIN)/python --no-deps -e .
	@rm -f $(VENV)/.installed
	@touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# Serve the API (SQLite file by default; DATABASE_URL selects PostgreSQL).
run: $(VENV)/.installed
	$(BIN)/peal migrate
	$(BIN)/peal serve --port $(PORT)

migrate: $(VENV)/.installed
	$(BIN)/peal migrate

worker: $(VENV)/.installed
	$(BIN)/peal worker

seed: $(VENV)/.installed
	$(BIN)/peal migrate
	$(BIN)/peal seed

# The suite on SQLite; again on PostgreSQL + Redis when PEAL_TEST_DATABASE_URL and
# PEAL_TEST_REDIS_URL are set (CI sets both). Each run ends with the bounded fuzz pass.
test: $(VENV)/.installed-dev
	$(MAKE) --no-print-directory test-sqlite
	$(MAKE) --no-print-directory fuzz-ci
	@if [ -n "$$PEAL_TEST_DATABASE_URL" ] && [ -n "$$PEAL_TEST_REDIS_URL" ]; then \
		$(MAKE) --no-print-directory test-postgres; \
		$(MAKE) --no-print-directory fuzz-ci FUZZ_DATABASE_URL="$$PEAL_TEST_DATABASE_URL"; \
	else \
		echo "PEAL_TEST_DATABASE_URL / PEAL_TEST_REDIS_URL not set: PostgreSQL + Redis run skipped"; \
	fi

# schemathesis against a live `peal serve` (free port, its own SQLite file or
# FUZZ_DATABASE_URL, rate limits off, signed in), every check; fails on any failure.
# `make fuzz` is the long run; FUZZ_ARGS passes more `st run` options (after `--`).
FUZZ_EXAMPLES ?= 100
FUZZ_DB = $(if $(FUZZ_DATABASE_URL),--database-url "$(FUZZ_DATABASE_URL)")
fuzz: $(VENV)/.installed-dev
	$(BIN)/python scripts/fuzz.py --max-examples $(FUZZ_EXAMPLES) $(FUZZ_DB) $(FUZZ_ARGS)

# The bounded, seeded pass CI runs after each test run: every operation, a few examples each.
fuzz-ci: $(VENV)/.installed-dev
	$(BIN)/python scripts/fuzz.py --max-examples 5 --seed 1 $(FUZZ_DB) $(FUZZ_ARGS)

# pytest-xdist workers (`make test-sqlite PYTEST_WORKERS=0` runs in one process). Each worker has
# its own SQLite files and its own PostgreSQL database (`<db>_gw0`, ... created next to
# PEAL_TEST_DATABASE_URL's); see tests/conftest.py.
PYTEST_WORKERS ?= 2
PYTEST_N = $(if $(filter-out 0,$(PYTEST_WORKERS)),-n $(PYTEST_WORKERS),-p no:xdist)

test-sqlite: $(VENV)/.installed-dev
	PEAL_TEST_TARGET=sqlite $(BIN)/pytest $(PYTEST_N) $(PYTEST_ARGS)

test-postgres: $(VENV)/.installed-dev
	PEAL_TEST_TARGET=postgres $(BIN)/pytest $(PYTEST_N) $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(VENV)/.installed-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(VENV)/.installed-dev
	$(BIN)/python bench/login_vs_health.py

# The production image (deploy/Dockerfile; BASE_IMAGE picks the base, IMAGE names it), and its
# smoke test against this machine's PostgreSQL and Redis (deploy/smoke.sh).
image:
	deploy/build.sh

smoke:
	deploy/smoke.sh

# Re-pin the lock files after changing dependencies in pyproject.toml.
lock: $(UV)
	$(UV) pip compile --quiet --universal --python-version 3.11 --no-header --no-annotate pyproject.toml -o requirements.lock
	$(UV) pip compile --quiet --universal --python-version 3.11 --no-header --no-annotate --extra dev pyproject.toml -o requirements-dev.lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache var peal.db*
