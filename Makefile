# Rivane developer entry points. `make help` lists them.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PY := .venv/bin/python
STAMP := .venv/.installed

# Start the embedded PostgreSQL and Redis (scripts/services.py) unless the caller
# already points DATABASE_URL at a database (as CI does). The output is captured
# first so that a failing start stops the recipe: `eval "$(cmd)"` would hide it.
WITH_SERVICES = if [ -z "$${DATABASE_URL:-}" ]; then \
	  svc_env="$$($(PY) scripts/services.py start)"; eval "$$svc_env"; \
	fi;

.PHONY: help .venv test run bench lint services-stop

help:
	@echo "make test [PYTEST_ARGS=...]  run the test suite (embedded services unless DATABASE_URL is set)"
	@echo "make run                     migrate, seed and serve on 127.0.0.1:\$${PORT:-8000} with Celery"
	@echo "make bench [BENCH_ARGS=...]  run manage.py bench"
	@echo "make lint                    ruff check and format check, import contracts"
	@echo "make services-stop           stop the embedded PostgreSQL and Redis"

# The stamp makes the install re-run only when pyproject.toml changes.
.venv: $(STAMP)
$(STAMP): pyproject.toml
	python3 -m venv .venv
	.venv/bin/pip install -e '.[dev]'
	touch $@

# Tests never need a real secret; production settings refuse to start without one.
test: .venv
	@$(WITH_SERVICES) SECRET_KEY="$${SECRET_KEY:-test-only-secret-key}" $(PY) -m pytest $(PYTEST_ARGS)

run: .venv
	bash scripts/run.sh

bench: .venv
	@$(WITH_SERVICES) $(PY) manage.py bench $(BENCH_ARGS)

lint: .venv
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/lint-imports

# Needs no venv: stopping is by PID files, so it works even after .venv is gone.
services-stop:
	@python3 scripts/services.py stop
