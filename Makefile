# Harbourmaster: `make run` for a working demo hub, `make test` for the test suite.
# Both create .venv on first use; requirements are reinstalled only when they change.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

VENV := .venv
VENV_PYTHON := $(VENV)/bin/python
RUNTIME_STAMP := $(VENV)/.installed-requirements
DEV_STAMP := $(VENV)/.installed-requirements-dev
PIP := $(VENV_PYTHON) -m pip --disable-pip-version-check --no-input --quiet

HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
# The browser tests (tests/browser) drive the system's Chromium; Playwright cannot download one.
export CHROMIUM ?= /usr/bin/chromium

.PHONY: help run test browser lint check format

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

run: $(RUNTIME_STAMP) ## Migrate, seed the demo and serve the hub on http://127.0.0.1:8000/
	$(VENV_PYTHON) manage.py migrate --noinput
	$(VENV_PYTHON) manage.py demo_seed --base-url http://$(HOST):$(PORT)
	@echo
	@echo "Harbourmaster is starting on http://$(HOST):$(PORT)/"
	@echo "Sign in at http://$(HOST):$(PORT)/admin/ with the staff email and password printed above."
	@echo "Stop it with Ctrl-C."
	@echo
	$(VENV_PYTHON) manage.py runserver $(HOST):$(PORT)

test: $(DEV_STAMP) browser ## Run the test suite (PostgreSQL/Redis when DATABASE_URL/REDIS_URL are set)
	@status=0; $(VENV_PYTHON) -m pytest $(PYTEST_ARGS) || status=$$?; \
	if [[ $$status -eq 5 ]]; then echo "make test: pytest collected no tests; that is a failure." >&2; fi; \
	exit $$status

browser: ## Install Chromium for the browser tests with apt-get, if it is missing
	@if [[ ! -x "$(CHROMIUM)" ]]; then \
		echo "Installing Chromium for the browser tests (apt-get install chromium)"; \
		sudo=""; if [[ "$$(id -u)" -ne 0 ]]; then sudo="sudo"; fi; \
		$$sudo apt-get update -qq; \
		DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq chromium; \
	fi
	@[[ -x "$(CHROMIUM)" ]] || { echo "$(CHROMIUM) is still missing: the browser tests need it." >&2; exit 1; }

lint: $(DEV_STAMP) ## ruff check and ruff format --check
	@status=0; \
	$(VENV_PYTHON) -m ruff check . || status=1; \
	$(VENV_PYTHON) -m ruff format --check . || status=1; \
	exit $$status

format: $(DEV_STAMP) ## Apply ruff's fixes and formatting
	$(VENV_PYTHON) -m ruff check --fix .
	$(VENV_PYTHON) -m ruff format .

# The deploy check runs with production settings and a throwaway key. With no
# DATABASE_URL it uses an in-memory SQLite: some checks open a connection.
check: $(RUNTIME_STAMP) ## No missing migrations; Django's deploy checks pass with production settings
	$(VENV_PYTHON) manage.py makemigrations --check --dry-run
	HARBOURMASTER_ENV=production \
	SECRET_KEY="$$($(VENV_PYTHON) -c 'import secrets; print(secrets.token_urlsafe(48))')" \
	ALLOWED_HOSTS=hub.example.org \
	SMS_BACKEND=disabled \
	EMAIL_HOST=smtp.example.org \
	DATABASE_URL="$${DATABASE_URL:-sqlite://:memory:}" \
	$(VENV_PYTHON) manage.py check --deploy --fail-level WARNING

# --- The virtualenv ----------------------------------------------------------------------

$(VENV_PYTHON):
	@python="$$(PYTHON='$(PYTHON)' scripts/find-python)"; \
	echo "Creating $(VENV) with $$python ($$($$python --version))"; \
	"$$python" -m venv $(VENV)

# A stamp newer than the requirements files means they are installed as listed.
$(RUNTIME_STAMP): requirements.txt | $(VENV_PYTHON)
	@PYTHON=$(VENV_PYTHON) scripts/find-python >/dev/null || { echo "Remove $(VENV) and retry." >&2; exit 1; }
	@echo "Installing requirements.txt into $(VENV)"
	$(PIP) install -r requirements.txt
	@touch $@

$(DEV_STAMP): requirements-dev.txt requirements.txt | $(VENV_PYTHON)
	@PYTHON=$(VENV_PYTHON) scripts/find-python >/dev/null || { echo "Remove $(VENV) and retry." >&2; exit 1; }
	@echo "Installing requirements-dev.txt into $(VENV)"
	$(PIP) install -r requirements-dev.txt
	@touch $@ $(RUNTIME_STAMP)
