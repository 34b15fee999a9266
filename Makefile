# Two commands do all the set-up: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
HOST ?= 127.0.0.1
DEV_ENV := APP_ENV=development HOST=$(HOST) PORT=$(PORT)

.PHONY: run test lint-deploy image-smoke migrate clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements-dev.lock setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

migrate: $(VENV)/.installed ## apply migrations to DATABASE_URL (default: instance/time_tracker.db)
	$(DEV_ENV) $(BIN)/python -m service.migrate

run: migrate ## serve on http://$(HOST):$(PORT) with gunicorn
	$(DEV_ENV) WEB_CONCURRENCY=$${WEB_CONCURRENCY:-2} $(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

test: $(VENV)/.installed lint-deploy ## run every test (PostgreSQL half skips locally without a server)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

K8S_MANIFESTS := $(filter-out %/kustomization.yaml,$(wildcard deploy/kubernetes/*.yaml))

lint-deploy: $(VENV)/.installed ## lint the Dockerfile, shell scripts and manifests (offline)
	$(BIN)/hadolint --failure-threshold warning Dockerfile
	$(BIN)/shellcheck docker-entrypoint.sh scripts/image-smoke
	$(BIN)/yamllint --strict deploy docker-compose.yml .yamllint.yaml
	$(BIN)/kubernetes-validate --strict --quiet $(K8S_MANIFESTS)

image-smoke: ## build the image with buildah and boot it against the local PostgreSQL
	scripts/image-smoke

clean:
	rm -rf $(VENV) .pytest_cache
