# aitrader: `make run` serves the product on the embedded default; `make test` runs the suite.
# Both need only Python 3.11 and make: the virtualenv and packages are set up on first use.

PYTHON_BIN ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: aot run test test-e2e lint bandit bench clean vendor prod-install serve-services

# First use only: pip lists each package as it goes (no --quiet), so a newcomer sees the
# install is working; torch (CPU build, ~750 MB) is most of the time.
INSTALL_NOTE = @echo "==> Installing $(1) into $(VENV) (first use only; torch is the big one)"

$(VENV)/bin/python:
	@echo "==> Creating the virtualenv $(VENV) with $(PYTHON_BIN)"
	$(PYTHON_BIN) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.base-installed: requirements/base.txt | $(VENV)/bin/python
	$(call INSTALL_NOTE,requirements/base.txt)
	$(PIP) install --progress-bar off -r requirements/base.txt
	touch $@

$(VENV)/.dev-installed: requirements/base.txt requirements/dev.txt | $(VENV)/bin/python
	$(call INSTALL_NOTE,requirements/dev.txt)
	$(PIP) install --progress-bar off -r requirements/dev.txt
	touch $@ $(VENV)/.base-installed

# The backtest fill loop compiled ahead of time (trading/core/backtest/aot.py), so a backtest
# process never loads numba. The step compiles only when the build is missing or older than
# its sources (it compares their digest, a fraction of a second otherwise). Without a C
# compiler it says so and backtests compile the loop with numba's JIT instead (~0.5 s slower).
aot: $(VENV)/.base-installed
	$(PY) -m trading.core.backtest.aot

run: $(VENV)/.base-installed aot
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py seed_demo
	$(PY) manage.py serve --host $(HOST) --port $(PORT)

# Services mode on this host (the environment says where PostgreSQL and Redis are; see
# README "Running with services"): the runtime set plus gunicorn, then every role in the
# foreground, stopped together with Ctrl-C.
$(VENV)/.prod-installed: requirements/base.txt requirements/prod.txt | $(VENV)/bin/python
	$(call INSTALL_NOTE,requirements/prod.txt)
	$(PIP) install --progress-bar off -r requirements/prod.txt
	touch $@ $(VENV)/.base-installed

prod-install: $(VENV)/.prod-installed

serve-services: $(VENV)/.prod-installed
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	trap 'kill 0' INT TERM EXIT; \
	$(VENV)/bin/gunicorn aitrader.wsgi --bind $(HOST):$(PORT) --workers 4 & \
	$(VENV)/bin/daphne -b $(HOST) -p $$(( $(PORT) + 1 )) aitrader.asgi:application & \
	$(VENV)/bin/celery -A aitrader worker -l info -n worker@%h & \
	$(VENV)/bin/celery -A aitrader worker -l info -Q marketdata -n marketdata@%h & \
	$(VENV)/bin/celery -A aitrader beat -l info & \
	wait

# Tests marked `services` need a real Redis; they run whenever REDIS_URL is set (.ci/run sets
# it), and are left out, with a note, on a machine that has only Python.
TEST_MARKERS = not e2e$(if $(REDIS_URL),, and not services)

test: $(VENV)/.dev-installed aot
	@$(if $(REDIS_URL),,echo "REDIS_URL is unset: the tests that need a real Redis are left out (CI runs them).")
	$(PY) -m pytest -m "$(TEST_MARKERS)" $(PYTEST_ARGS)

test-e2e: $(VENV)/.dev-installed
	$(PY) -m pytest -m e2e $(PYTEST_ARGS)

# Style, the import layers (contracts in pyproject.toml, explained in ARCHITECTURE.md), security.
lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(MAKE) bandit

# Security lint: 0 high-severity findings (config in pyproject.toml); .ci/run runs it too.
bandit: $(VENV)/.dev-installed
	$(VENV)/bin/bandit -q -c pyproject.toml -r aitrader tenants trading dashboard notifications mlmodels -lll

bench: $(VENV)/.dev-installed aot
	$(PY) bench/backtest.py
	$(PY) bench/engine.py
	$(PY) bench/ml.py
	$(PY) bench/api.py
	$(PY) bench/export.py
	$(PY) bench/ws.py

# Third-party browser code: re-copy the pinned builds from node_modules (needs node; the
# copies are committed, so `make run` never does). `npm ci` installs exactly the lockfile;
# to upgrade, change package.json, `npm install`, `make vendor`, commit static/vendor/.
LWC_DIST := node_modules/lightweight-charts/dist/lightweight-charts.standalone.production.js
vendor:
	npm ci --no-audit --no-fund
	mkdir -p static/vendor/lightweight-charts
	cp $(LWC_DIST) node_modules/lightweight-charts/LICENSE static/vendor/lightweight-charts/

clean:
	rm -rf $(VENV) var/*.sqlite3* var/staticfiles trading/core/backtest/_fill_loop_aot*
