# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
DEMO_CALLS ?= 3000

.PHONY: run test setup lint format browser-deps browser-test bench bench-compare bench-profile bench-dashboard clean

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

setup: $(STAMP)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py load_prices
	$(PY) manage.py seed_demo_data --calls $(DEMO_CALLS) --if-empty

run: setup
	@$(PY) manage.py ensure_staff
	@echo "Serving the dashboard at http://$(HOST):$(PORT)/ (Ctrl-C to stop)"
	$(PY) manage.py serve --host $(HOST) --port $(PORT)

test: $(STAMP)
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Debian's Chromium and its driver; the browser is never downloaded by a test tool.
browser-deps: $(STAMP)
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver)
	$(PY) -m pip install --quiet -r requirements-browser.txt

browser-test: browser-deps
	$(PY) -m pytest -m browser tests/browser

# Gateway overhead against a direct call to the fake upstream (DESIGN: bench/).
# Uses DATABASE_URL / REDIS_URL when set (Postgres + Redis), SQLite otherwise.
bench: $(STAMP)
	$(PY) bench/overhead.py
	$(PY) bench/validation.py

# The headline cells beside the Portkey gateway and the LiteLLM proxy (each
# installed into .bench/ on first use: npm, PyPI), in alternating slices.
bench-compare: $(STAMP)
	$(PY) bench/overhead.py --quick --portkey --litellm --rounds 2

# Where the gateway's CPU goes during a c=50 cell (py-spy; raw stacks in bench/results/).
bench-profile: $(STAMP)
	$(PY) bench/profile.py --requests 20000 --top 30

# Dashboard pages at 100 k and 1 M calls; needs DATABASE_URL=postgres://… (a scratch DB).
bench-dashboard: $(STAMP)
	$(PY) bench/dashboard.py --sizes 100000,1000000 --repeat 40

clean:
	rm -rf $(VENV) staticfiles test-artifacts .pytest_cache
